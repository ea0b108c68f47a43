"""An evaluation's results and how they are written: per-image scores, tables, CSV, grids.

`Scores` (one method on one mask) and `Report` (a whole evaluation) are what
tfinpaint.evaluation computes; this module turns them into the markdown tables of the papers
(whole image and hole, judge accuracy, KID, chosen labels, per class), CSV files, example grids,
and writes them into a folder (`write_report`). It computes nothing about images itself.
"""

import csv
import dataclasses
import io
import math
import os

import numpy as np

from tfinpaint import fileio
from tfinpaint import images as images_lib
from tfinpaint import plots

MASKED = "masked"  # pseudo-method: the input with the hole greyed out
KID_SCALE = 1000.0  # KID is printed x 1000, as usual


def mean(values):
  """Mean of the finite-or-infinite values, NaN ignored (NaN when none is left)."""
  values = np.asarray(values, np.float64)
  values = values[~np.isnan(values)]
  if values.size == 0:
    return float("nan")
  return float(np.mean(values))  # any +inf -> inf, as tf.image.psnr of identical images


def fmt(value, digits):
  """A table cell: `digits` decimals, "-" for a missing value, inf and -inf spelled out."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "-"
  if math.isinf(value):
    return "inf" if value > 0 else "-inf"
  return f"{value:.{digits}f}"


def example_indices(labels, count):
  """One image per class first (every class shown), then the next ones, up to `count`."""
  order = []
  for c in np.unique(labels):
    order.append(int(np.flatnonzero(labels == c)[0]))
  rest = [i for i in range(len(labels)) if i not in set(order)]
  return np.asarray((order + rest)[:max(count, 1)], np.int64)


@dataclasses.dataclass
class Scores:
  """Per-image scores of one method on one mask."""
  method: str
  mask: str
  psnr: np.ndarray
  ssim: np.ndarray
  psnr_hole: np.ndarray
  ssim_hole: np.ndarray
  seconds: float
  judged: np.ndarray | None = None  # the judge's label of each result
  chosen_label: np.ndarray | None = None  # label the method picked (classifier method)
  kid: tuple | None = None  # (mean, std) of MMD^2 to real test images, judge features

  def summary(self, labels=None):
    """One row of means over images (+inf kept as inf, NaN ignored)."""
    n = len(self.psnr)
    row = dict(mask=self.mask, method=self.method, images=n,
               psnr=mean(self.psnr), ssim=mean(self.ssim),
               psnr_hole=mean(self.psnr_hole), ssim_hole=mean(self.ssim_hole),
               judge_accuracy=float("nan"), kid=float("nan"), chosen_label_accuracy=float("nan"),
               seconds_per_image=self.seconds / max(n, 1))
    if self.judged is not None and labels is not None:
      row["judge_accuracy"] = float(np.mean(self.judged == labels))
    if self.kid is not None:
      row["kid"] = self.kid[0] * KID_SCALE
    if self.chosen_label is not None and labels is not None:
      row["chosen_label_accuracy"] = float(np.mean(self.chosen_label == labels))
    return row


@dataclasses.dataclass
class Report:
  """Everything an evaluation produced, ready to be written or printed."""
  scores: list  # [Scores]
  methods: list  # column order
  mask_names: list
  examples: dict  # mask -> {"masked"|method|"original": [k, H, W, C] in [-1, 1]}
  example_labels: dict  # mask -> {method: [k] chosen labels}, for all-labels runs
  labels: np.ndarray
  class_names: tuple = ()
  judge_clean_accuracy: float | None = None
  notes: list = dataclasses.field(default_factory=list)

  def rows(self):
    return [s.summary(self.labels) for s in self.scores]

  def get(self, mask, method):
    for s in self.scores:
      if s.mask == mask and s.method == method:
        return s
    return None


# ----------------------------------------------------------------------------- formatting


def _columns(report):
  return [MASKED] + report.methods


def _table(report, rows):
  """rows: [(row title, fn(Scores summary) -> cell text)] over the columns of the report."""
  cols = _columns(report)
  lines = ["| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
  for title, mask_name, cell in rows:
    cells = []
    for m in cols:
      s = report.get(mask_name, m)
      cells.append(cell(s.summary(report.labels)) if s else "-")
    lines.append(f"| {title} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def markdown_table(report, *, hole=False):
  """Paper 000 Table 1 layout: rows "PSNR - center", "SSIM - center", ...; columns = methods.

  hole=True gives the same table scored over the missing pixels only.
  """
  suffix = "_hole" if hole else ""
  rows = []
  for mask_name in report.mask_names:
    for metric, digits in (("psnr", 2), ("ssim", 3)):
      rows.append((f"{metric.upper()}{' (hole)' if hole else ''} - {mask_name}", mask_name,
                   lambda r, k=metric + suffix, d=digits: fmt(r[k], d)))
  return _table(report, rows)


def judge_table(report):
  """Judge accuracy and kernel distance to real images, per mask; "" without a judge."""
  if not any(s.judged is not None for s in report.scores):
    return ""
  rows = [(f"judge accuracy - {m}", m, lambda r: fmt(r["judge_accuracy"], 3))
          for m in report.mask_names]
  if any(s.kid is not None for s in report.scores):
    rows += [(f"KID x1000 - {m}", m, lambda r: fmt(r["kid"], 2)) for m in report.mask_names]
  if any(s.chosen_label is not None for s in report.scores) and report.example_labels and any(
      report.example_labels.values()):
    rows += [(f"chosen label right - {m}", m, lambda r: fmt(r["chosen_label_accuracy"], 3))
             for m in report.mask_names]
  return _table(report, rows)


def per_class_rows(report):
  """One row per (mask, method, class): mean PSNR, PSNR (hole) and judge accuracy."""
  out = []
  for s in report.scores:
    for c in np.unique(report.labels):
      sel = report.labels == c
      name = report.class_names[c] if c < len(report.class_names) else str(c)
      out.append(dict(mask=s.mask, method=s.method, label=int(c), class_name=name,
                      images=int(sel.sum()), psnr=mean(s.psnr[sel]),
                      psnr_hole=mean(s.psnr_hole[sel]),
                      judge_accuracy=(float(np.mean(s.judged[sel] == c)) if s.judged is not None
                                      else float("nan"))))
  return out


def per_class_table(report, mask_name):
  """Rows = classes, columns = methods, cells "PSNR / judge accuracy" for one mask."""
  rows = [r for r in per_class_rows(report) if r["mask"] == mask_name]
  cols = _columns(report)
  classes = sorted({(r["label"], r["class_name"], r["images"]) for r in rows})
  lines = ["| class (images) | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
  for label, name, count in classes:
    cells = []
    for m in cols:
      r = next((r for r in rows if r["label"] == label and r["method"] == m), None)
      acc = "" if r is None or math.isnan(r["judge_accuracy"]) else \
          f" / {r['judge_accuracy']:.2f}"
      cells.append("-" if r is None else f"{fmt(r['psnr'], 1)}{acc}")
    lines.append(f"| {name} ({count}) | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def markdown_report(report, title="Inpainting quality"):
  """The full markdown text: whole image, hole only, judge, per class, notes."""
  n = len(report.labels)
  parts = [f"# {title}", "",
           f"{n} test images; PSNR in dB and SSIM on [0, 1] images; mean over images.", "",
           "## Whole image (as Table 1 of paper 000)", "", markdown_table(report), "",
           "## Hole only (missing pixels)", "", markdown_table(report, hole=True), ""]
  judged = judge_table(report)
  if judged:
    parts += ["## Independent judge", "",
              f"An MLP classifier that no inpainter uses reads each result; on the original "
              f"images it is right {report.judge_clean_accuracy:.3f} of the time. KID: kernel "
              "distance of the results to real test images in the judge's feature space "
              "(x1000; lower is closer).", "", judged, ""]
  for mask_name in report.mask_names:
    cell = "PSNR / judge accuracy" if judged else "PSNR"
    parts += [f"## Per class, {mask_name} mask ({cell})", "", per_class_table(report, mask_name),
              ""]
  if report.notes:
    parts += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
  return "\n".join(parts)


CSV_FIELDS = ("mask", "method", "images", "psnr", "ssim", "psnr_hole", "ssim_hole",
              "judge_accuracy", "kid", "chosen_label_accuracy", "seconds_per_image")


def _csv(rows, fields):
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow({k: _csv_value(row[k]) for k in fields})
  return buf.getvalue()


def csv_text(report):
  """One row per (mask, method) with the means; NaN cells are empty."""
  return _csv(report.rows(), CSV_FIELDS)


def per_image_csv_text(report):
  """One row per (mask, method, image index) for deeper analysis."""
  rows = []
  for s in report.scores:
    for i in range(len(s.psnr)):
      rows.append(dict(
          mask=s.mask, method=s.method, index=i, label=int(report.labels[i]),
          psnr=s.psnr[i], ssim=s.ssim[i], psnr_hole=s.psnr_hole[i], ssim_hole=s.ssim_hole[i],
          judged="" if s.judged is None else int(s.judged[i]),
          chosen_label="" if s.chosen_label is None else int(s.chosen_label[i])))
  return _csv(rows, ("mask", "method", "index", "label", "psnr", "ssim", "psnr_hole",
                     "ssim_hole", "judged", "chosen_label"))


def _csv_value(v):
  if isinstance(v, (float, np.floating)):
    if math.isnan(v):
      return ""
    if math.isinf(v):
      return "inf" if v > 0 else "-inf"
    return f"{float(v):.6g}"
  return v


def comparison_grid(columns, scale=1, title=None, row_titles=None):
  """{column title: [N, H, W, C] in [-1, 1]}, in column order -> titled grid, [0, 1] HWC.

  The one layout of every side-by-side figure (bin.inpaint, bin.evaluate): masked | method(s) |
  original, optionally with a title above and a caption per row.
  """
  return plots.labeled_grid([images_lib.to_unit(c) for c in columns.values()], list(columns),
                            scale=scale, title=title, row_titles=row_titles)


def example_grid(report, mask_name, scale=1):
  """[masked | method 1 | ... | original] for the kept examples of one mask, [0, 1] HWC."""
  ex = report.examples[mask_name]
  names = [MASKED] + list(report.methods) + ["original"]
  k = len(ex[MASKED])
  labels = report.labels[example_indices(report.labels, k)]
  chosen = report.example_labels.get(mask_name, {})
  row_titles = []
  names_of = report.class_names
  for i in range(k):
    text = (f"{labels[i]} {names_of[labels[i]]}" if len(names_of) > labels[i] and
            names_of[labels[i]] != str(labels[i]) else f"label {labels[i]}")
    for name, picked in chosen.items():
      text += f", {name} chose {picked[i]}"
    row_titles.append(text)
  return comparison_grid({n: ex[n] for n in names}, scale=scale, row_titles=row_titles)


def write_report(directory, report, *, title="Inpainting quality", grid_scale=1):
  """Writes results.md, results.csv, per_image.csv, per_class.csv and grid_<mask>.png.

  Returns the list of written paths. Every file is written atomically.
  """
  paths = []

  def text(name, content):
    path = os.path.join(directory, name)
    fileio.write_text(path, content)
    paths.append(path)

  text("results.md", markdown_report(report, title))
  text("results.csv", csv_text(report))
  text("per_image.csv", per_image_csv_text(report))
  text("per_class.csv", _csv(per_class_rows(report), ("mask", "method", "label", "class_name",
                                                      "images", "psnr", "psnr_hole",
                                                      "judge_accuracy")))
  for mask_name in report.mask_names:
    path = os.path.join(directory, f"grid_{mask_name}.png")
    images_lib.write_png(path, example_grid(report, mask_name, scale=grid_scale))
    paths.append(path)
  return paths


def auto_scale(image_size, target=96):
  """Integer upscaling so grid cells are at least `target` pixels wide (28 -> 4)."""
  return max(1, int(math.ceil(target / max(int(image_size), 1))))
