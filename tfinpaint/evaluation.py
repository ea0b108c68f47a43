"""Table 1 of paper 000 for any set of methods: images x named masks x methods -> PSNR/SSIM.

Why a library module: the comparison is the papers' main quantitative result
and must be computed the same way whether it runs from bin.evaluate, a test
or a notebook. A *method* here is any callable
`fn(images, masks, labels, mask_name) -> dict(inpainted=[N,H,W,C] [-1, 1], label=[N] optional)`
(tfinpaint.methods wraps baselines and exported inpainters that way), so this
module knows nothing of how a method works. It only

  * makes the same seeded masks for every method (`masks.make`),
  * runs the methods batch by batch,
  * scores whole image (as in the paper) and hole only (`metrics`),
  * optionally measures label accuracy with a classifier (paper 003: does the
    fill make the image the true class again?) against the masked input,
  * formats a markdown table (rows "PSNR - center", columns = methods) and CSV.

It reads no flags and writes only where it is told.
"""

import csv
import dataclasses
import io
import math
import os
import time

import numpy as np

from tfinpaint import images as images_lib
from tfinpaint import masks as masks_lib
from tfinpaint import metrics
from tfinpaint import plots
from tfinpaint.errors import InputError

MASKED = "masked"  # pseudo-method: the input with the hole greyed out


def masked_input(images, masks):
  """The corrupted image y as shown to users: missing pixels set to mid-grey (0 in [-1, 1])."""
  return np.asarray(images, np.float32) * np.asarray(masks, np.float32)


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
  correct: np.ndarray | None = None  # classifier says the true label (bool [N])
  chosen_label: np.ndarray | None = None  # label the method picked (classifier method)

  def summary(self):
    """One row: means over images (+inf kept as inf, NaN ignored)."""
    n = len(self.psnr)
    row = dict(mask=self.mask, method=self.method, images=n,
               psnr=_mean(self.psnr), ssim=_mean(self.ssim),
               psnr_hole=_mean(self.psnr_hole), ssim_hole=_mean(self.ssim_hole),
               label_accuracy=(float(np.mean(self.correct)) if self.correct is not None
                               else float("nan")),
               seconds_per_image=self.seconds / max(n, 1))
    return row


@dataclasses.dataclass
class Report:
  """Everything an evaluation produced, ready to be written or printed."""
  scores: list  # [Scores]
  methods: list  # column order
  mask_names: list
  examples: dict  # mask -> {"masked"|method|"original": [k, H, W, C] in [-1, 1]}
  labels: np.ndarray
  notes: list = dataclasses.field(default_factory=list)

  def rows(self):
    return [s.summary() for s in self.scores]

  def get(self, mask, method):
    for s in self.scores:
      if s.mask == mask and s.method == method:
        return s
    return None


def evaluate(methods, images, labels, mask_names, *, seed=0, ratio=0.8, batch_size=50,
             classifier=None, num_examples=8, log=None):
  """Runs every method on every named mask and scores the results.

  Args:
    methods: dict name -> fn(images, masks, labels, mask_name) -> dict with
      "inpainted" (and optionally "label"), see tfinpaint.methods. Called on
      chunks of at most `batch_size` images.
    images: [N, H, W, C] in [-1, 1] (ground truth).
    labels: int [N] true labels (used by label-aware methods and accuracy).
    mask_names: names for `masks.make`, e.g. ("center", "left", "random").
    seed, ratio: mask seed and the `random` mask's missing probability.
    batch_size: images per method call.
    classifier: optional fn(images [-1, 1]) -> logits [N, K]; when given,
      label accuracy is measured for every method and for the masked input.
    num_examples: images kept per mask for the example grid.
    log: optional fn(str) for one progress line per (mask, method).

  Returns:
    a Report.
  """
  images = np.asarray(images, np.float32)
  labels = np.asarray(labels, np.int32).reshape(-1)
  if images.ndim != 4 or images.shape[0] == 0:
    raise InputError(f"evaluation needs a non-empty [N, H, W, C] batch, got {images.shape}")
  if labels.shape[0] != images.shape[0]:
    raise InputError(f"got {labels.shape[0]} labels for {images.shape[0]} images")
  if not methods:
    raise InputError("no method to evaluate")
  n, h, w = images.shape[:3]
  k = min(num_examples, n)
  scores, examples = [], {}
  for mask_name in mask_names:
    mask = masks_lib.make(mask_name, n, h, w, seed=seed, ratio=ratio)
    hole = 1.0 - mask
    masked = masked_input(images, mask)
    examples[mask_name] = {MASKED: masked[:k]}
    correct = None if classifier is None else _predict(classifier, masked, batch_size) == labels
    scores.append(_score(MASKED, mask_name, images, masked, hole, 0.0, correct, None))
    for name, fn in methods.items():
      start = time.perf_counter()
      outs, chosen = [], []
      for i in range(0, n, batch_size):
        out = fn(images[i:i + batch_size], mask[i:i + batch_size], labels[i:i + batch_size],
                 mask_name)
        filled = np.asarray(out["inpainted"], np.float32)
        if filled.shape != images[i:i + batch_size].shape:
          raise InputError(f"method {name} returned shape {filled.shape}, "
                           f"expected {images[i:i + batch_size].shape}")
        outs.append(filled)
        if "label" in out:
          chosen.append(np.asarray(out["label"]).reshape(-1))
      seconds = time.perf_counter() - start
      result = np.concatenate(outs)
      if not np.isfinite(result).all():
        raise InputError(f"method {name} produced NaN/inf on mask {mask_name}")
      correct = None
      if classifier is not None:
        correct = _predict(classifier, result, batch_size) == labels
      s = _score(name, mask_name, images, result, hole, seconds, correct,
                 np.concatenate(chosen) if chosen else None)
      scores.append(s)
      examples[mask_name][name] = result[:k]
      if log:
        row = s.summary()
        log(f"{mask_name:>8s}  {name:<16s} PSNR {_fmt(row['psnr'], 2):>6s}  "
            f"SSIM {_fmt(row['ssim'], 3):>5s}  ({n} images, {seconds:.1f} s)")
    examples[mask_name]["original"] = images[:k]
  return Report(scores=scores, methods=list(methods), mask_names=list(mask_names),
                examples=examples, labels=labels)


def take(dataset, num_images):
  """First `num_images` (image, label) pairs of an unbatched dataset as numpy arrays."""
  images, labels = [], []
  for image, label in dataset.take(num_images).batch(min(num_images, 256)):
    images.append(np.asarray(image, np.float32))
    labels.append(np.asarray(label, np.int32))
  if not images:
    raise InputError("the dataset split is empty")
  return np.concatenate(images), np.concatenate(labels)


def _predict(classifier, x, batch_size):
  preds = [np.argmax(np.asarray(classifier(x[i:i + batch_size])), axis=-1)
           for i in range(0, len(x), batch_size)]
  return np.concatenate(preds).astype(np.int32)


def _score(method, mask_name, truth, result, hole, seconds, correct, chosen):
  return Scores(method=method, mask=mask_name,
                psnr=metrics.psnr(result, truth), ssim=metrics.ssim(result, truth),
                psnr_hole=metrics.psnr(result, truth, hole),
                ssim_hole=metrics.ssim(result, truth, hole),
                seconds=seconds, correct=correct, chosen_label=chosen)


def _mean(values):
  values = np.asarray(values, np.float64)
  values = values[~np.isnan(values)]
  if values.size == 0:
    return float("nan")
  return float(np.mean(values))  # any +inf -> inf, as tf.image.psnr of identical images


def _fmt(value, digits):
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "-"
  if math.isinf(value):
    return "inf" if value > 0 else "-inf"
  return f"{value:.{digits}f}"


# ----------------------------------------------------------------------------- formatting


def markdown_table(report, *, hole=False):
  """Paper 000 Table 1 layout: rows "PSNR - center", "SSIM - center", ...; columns = methods.

  hole=True gives the same table scored over the missing pixels only.
  """
  methods = report.methods
  head = "| | " + " | ".join(methods) + " |"
  sep = "|---|" + "---:|" * len(methods)
  lines = [head, sep]
  suffix = " (hole)" if hole else ""
  for mask_name in report.mask_names:
    for metric, digits in (("psnr", 2), ("ssim", 3)):
      key = metric + ("_hole" if hole else "")
      cells = []
      for m in methods:
        s = report.get(mask_name, m)
        cells.append(_fmt(s.summary()[key], digits) if s else "-")
      lines.append(f"| {metric.upper()}{suffix} - {mask_name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def accuracy_table(report):
  """Label accuracy of the classifier on the masked input and on every method's result."""
  columns = [MASKED] + report.methods
  if not any(s.correct is not None for s in report.scores):
    return ""
  lines = ["| | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
  for mask_name in report.mask_names:
    cells = []
    for m in columns:
      s = report.get(mask_name, m)
      cells.append(_fmt(s.summary()["label_accuracy"], 3) if s and s.correct is not None
                   else "-")
    lines.append(f"| label accuracy - {mask_name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def markdown_report(report, title="Inpainting quality"):
  """The full markdown text: whole-image table, hole-only table, label accuracy, notes."""
  n = len(report.labels)
  parts = [f"# {title}", "",
           f"{n} images; PSNR in dB and SSIM on [0, 1] images; mean over images.", "",
           "## Whole image (as Table 1 of paper 000)", "", markdown_table(report), "",
           "## Hole only (missing pixels)", "", markdown_table(report, hole=True), ""]
  acc = accuracy_table(report)
  if acc:
    parts += ["## Label accuracy (classifier on the result; paper 003)", "", acc, ""]
  if report.notes:
    parts += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
  return "\n".join(parts)


CSV_FIELDS = ("mask", "method", "images", "psnr", "ssim", "psnr_hole", "ssim_hole",
              "label_accuracy", "seconds_per_image")


def csv_text(report):
  """One row per (mask, method) with the means; NaN cells are empty."""
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
  writer.writeheader()
  for row in report.rows():
    writer.writerow({k: _csv_value(row[k]) for k in CSV_FIELDS})
  return buf.getvalue()


def per_image_csv_text(report):
  """One row per (mask, method, image index) for deeper analysis."""
  buf = io.StringIO()
  fields = ("mask", "method", "index", "label", "psnr", "ssim", "psnr_hole", "ssim_hole",
            "correct", "chosen_label")
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  for s in report.scores:
    for i in range(len(s.psnr)):
      writer.writerow(dict(
          mask=s.mask, method=s.method, index=i, label=int(report.labels[i]),
          psnr=_csv_value(s.psnr[i]), ssim=_csv_value(s.ssim[i]),
          psnr_hole=_csv_value(s.psnr_hole[i]), ssim_hole=_csv_value(s.ssim_hole[i]),
          correct="" if s.correct is None else int(s.correct[i]),
          chosen_label="" if s.chosen_label is None else int(s.chosen_label[i])))
  return buf.getvalue()


def _csv_value(v):
  if isinstance(v, (float, np.floating)):
    if math.isnan(v):
      return ""
    if math.isinf(v):
      return "inf" if v > 0 else "-inf"
    return f"{float(v):.6g}"
  return v


def comparison_grid(columns, scale=1):
  """{title: [N, H, W, C] in [-1, 1]}, in column order -> titled grid, [0, 1] HWC.

  The one layout of every side-by-side figure (bin.inpaint, bin.evaluate):
  masked | method(s) | original.
  """
  return plots.labeled_grid([images_lib.to_unit(c) for c in columns.values()], list(columns),
                            scale=scale)


def example_grid(report, mask_name, scale=1):
  """[masked | method 1 | ... | original] for the kept examples of one mask, [0, 1] HWC."""
  ex = report.examples[mask_name]
  names = [MASKED] + list(report.methods) + ["original"]
  return comparison_grid({n: ex[n] for n in names}, scale=scale)


def write_report(directory, report, *, title="Inpainting quality", grid_scale=1):
  """Writes results.md, results.csv, per_image.csv and grid_<mask>.png into `directory`.

  Returns the list of written paths. Every file is written atomically.
  """
  paths = []

  def text(name, content):
    path = os.path.join(directory, name)
    images_lib.write_text(path, content)
    paths.append(path)

  text("results.md", markdown_report(report, title))
  text("results.csv", csv_text(report))
  text("per_image.csv", per_image_csv_text(report))
  for mask_name in report.mask_names:
    path = os.path.join(directory, f"grid_{mask_name}.png")
    images_lib.write_png(path, example_grid(report, mask_name, scale=grid_scale))
    paths.append(path)
  return paths


def auto_scale(image_size, target=96):
  """Integer upscaling so grid cells are at least `target` pixels wide (28 -> 4)."""
  return max(1, int(math.ceil(target / max(int(image_size), 1))))
