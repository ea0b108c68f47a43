"""The papers' quality tables for any set of methods, judged by a network the fills never saw.

Why a library module: the comparison is the papers' main quantitative result and must be
computed the same way whether it runs from bin.evaluate, a test or a notebook. A *method* is
any callable `method(images, masks, labels, options) -> {"inpainted": [N,H,W,C] in [-1, 1],
"label": [N] optional}` (tfinpaint.methods wraps baselines and exported models that way), so this
module knows nothing of how a method works. It

  * draws the evaluated images stratified by class with a seed (`stratified`): the same number
    of each class, so a sheet stored in class order is not evaluated on its first classes only;
  * makes the same seeded masks for every method (`masks.make`);
  * scores whole image (as Table 1 of paper 000) and hole only (`metrics`);
  * asks an independent judge (tfinpaint.judge: an MLP, not the CNN any fill was optimised
    against) whether each fill reads as the true class, and how far the fills are from real
    images of the test split in the judge's feature space (kernel distance, KID);
  * breaks the figures down per class, and formats markdown tables and CSV.

It reads no flags and writes only where it is told.
"""

import csv
import dataclasses
import io
import math
import os
import time

import numpy as np

from tfinpaint import fileio
from tfinpaint import images as images_lib
from tfinpaint import masks as masks_lib
from tfinpaint import metrics
from tfinpaint import plots
from tfinpaint.errors import InputError

MASKED = "masked"  # pseudo-method: the input with the hole greyed out
KID_SCALE = 1000.0  # KID is printed x 1000, as usual


def masked_input(images, masks):
  """The corrupted image y as shown to users: missing pixels set to mid-grey (0 in [-1, 1])."""
  return np.asarray(images, np.float32) * np.asarray(masks, np.float32)


def stratified(labels, num_images, seed=0):
  """Indices of `num_images` items drawn evenly over the classes, seeded, in class order.

  Every class gets floor(num_images / K) items (K = classes present), the first
  num_images mod K classes (in a seeded order) one more; within a class the items are a seeded
  random choice. A class with too few items gives all it has.
  """
  labels = np.asarray(labels).reshape(-1)
  classes = np.unique(labels)
  rng = np.random.default_rng(seed)
  base, extra = divmod(int(num_images), len(classes))
  bonus = set(rng.permutation(classes)[:extra].tolist())
  picked = []
  for c in classes:
    members = np.flatnonzero(labels == c)
    want = min(len(members), base + (1 if c in bonus else 0))
    picked += sorted(rng.choice(members, want, replace=False).tolist())
  return np.asarray(picked, np.int64)


def arrays(dataset, limit=None):
  """(images, labels) numpy arrays of an unbatched (image, label) dataset."""
  images, labels = [], []
  ds = dataset if limit is None else dataset.take(limit)
  for image, label in ds.batch(512):
    images.append(np.asarray(image, np.float32))
    labels.append(np.asarray(label, np.int32))
  if not images:
    raise InputError("the dataset split is empty")
  return np.concatenate(images), np.concatenate(labels)


def image_scores(result, truth, masks):
  """Per-image PSNR, SSIM (whole image) and PSNR over the hole, {name: [N]}."""
  hole = 1.0 - np.asarray(masks, np.float32)
  return dict(psnr=metrics.psnr(result, truth), ssim=metrics.ssim(result, truth),
              psnr_hole=metrics.psnr(result, truth, hole))


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
               psnr=_mean(self.psnr), ssim=_mean(self.ssim),
               psnr_hole=_mean(self.psnr_hole), ssim_hole=_mean(self.ssim_hole),
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


def _example_indices(labels, count):
  """One image per class first (every class shown), then the next ones, up to `count`."""
  order = []
  for c in np.unique(labels):
    order.append(int(np.flatnonzero(labels == c)[0]))
  rest = [i for i in range(len(labels)) if i not in set(order)]
  return np.asarray((order + rest)[:max(count, 1)], np.int64)


def evaluate(methods, images, labels, mask_names, *, seed=0, ratio=0.8, judge=None,
             reference=None, give_labels=True, options=None, num_examples=10, class_names=(),
             log=None):
  """Runs every method on every named mask and scores the results.

  Args:
    methods: {name: method} (see the module docstring).
    images: [N, H, W, C] in [-1, 1] (ground truth); labels: int [N] true labels.
    mask_names: names for `masks.make`, e.g. ("center", "left", "random").
    seed, ratio: mask seed and the `random` mask's missing probability.
    judge: optional tfinpaint.judge.Judge; reference: real test images [M, H, W, C] (not among
      `images`) for the kernel distance.
    give_labels: methods that take labels get the true labels (else -1: try every label).
    options: {option: value} passed to every learned method that has the option.
    num_examples: images kept per mask for the example grid (every class first).
    class_names: names of the labels, for the per-class tables.
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
  shown = _example_indices(labels, num_examples)
  ref_features = None
  if judge is not None and reference is not None and len(reference) >= 2:
    ref_features = judge.features(reference)
  clean = float(np.mean(judge.predict(images) == labels)) if judge is not None else None
  scores, examples, example_labels = [], {}, {}
  asked = labels if give_labels else np.full_like(labels, -1)
  for mask_name in mask_names:
    mask = masks_lib.make(mask_name, n, h, w, seed=seed, ratio=ratio)
    masked = masked_input(images, mask)
    examples[mask_name] = {MASKED: masked[shown]}
    example_labels[mask_name] = {}
    results = {MASKED: (masked, 0.0, None)}
    for name, method in methods.items():
      allowed = {k: v for k, v in (options or {}).items() if k in getattr(method, "options", {})}
      start = time.perf_counter()
      out = method(images, mask, asked if "label" in getattr(method, "inputs", ()) else None,
                   allowed or None)
      seconds = time.perf_counter() - start
      result = np.asarray(out["inpainted"], np.float32)
      if result.shape != images.shape:
        raise InputError(f"method {name} returned shape {result.shape}, expected {images.shape}")
      if not np.isfinite(result).all():
        raise InputError(f"method {name} produced NaN/Inf on mask {mask_name}")
      chosen = np.asarray(out["label"]).reshape(-1) if "label" in out else None
      results[name] = (result, seconds, chosen)
      examples[mask_name][name] = result[shown]
      if chosen is not None and not give_labels:
        example_labels[mask_name][name] = chosen[shown]
    for name, (result, seconds, chosen) in results.items():
      s = _score(name, mask_name, images, result, 1.0 - mask, seconds, chosen)
      if judge is not None:
        s.judged = judge.predict(result)
        if ref_features is not None:
          s.kid = _kid(judge.features(result), ref_features, seed)
      scores.append(s)
      if log:
        row = s.summary(labels)
        judged = f"  judge {_fmt(row['judge_accuracy'], 2)}" if judge is not None else ""
        log(f"{mask_name:>8s}  {name:<16s} PSNR {_fmt(row['psnr'], 2):>6s}  "
            f"SSIM {_fmt(row['ssim'], 3):>5s}{judged}  ({n} images, {seconds:.1f} s)")
    examples[mask_name]["original"] = images[shown]
  return Report(scores=scores, methods=list(methods), mask_names=list(mask_names),
                examples=examples, example_labels=example_labels, labels=labels,
                class_names=tuple(class_names), judge_clean_accuracy=clean)


def _kid(features, reference, seed):
  from tfinpaint import judge as judge_lib  # pylint: disable=g-import-not-at-top
  return judge_lib.kid(features, reference, seed=seed)


def _score(method, mask_name, truth, result, hole, seconds, chosen):
  scores = image_scores(result, truth, 1.0 - hole)
  return Scores(method=method, mask=mask_name, psnr=scores["psnr"], ssim=scores["ssim"],
                psnr_hole=scores["psnr_hole"], ssim_hole=metrics.ssim(result, truth, hole),
                seconds=seconds, chosen_label=chosen)


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
                   lambda r, k=metric + suffix, d=digits: _fmt(r[k], d)))
  return _table(report, rows)


def judge_table(report):
  """Judge accuracy and kernel distance to real images, per mask; "" without a judge."""
  if not any(s.judged is not None for s in report.scores):
    return ""
  rows = [(f"judge accuracy - {m}", m, lambda r: _fmt(r["judge_accuracy"], 3))
          for m in report.mask_names]
  if any(s.kid is not None for s in report.scores):
    rows += [(f"KID x1000 - {m}", m, lambda r: _fmt(r["kid"], 2)) for m in report.mask_names]
  if any(s.chosen_label is not None for s in report.scores) and report.example_labels and any(
      report.example_labels.values()):
    rows += [(f"chosen label right - {m}", m, lambda r: _fmt(r["chosen_label_accuracy"], 3))
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
                      images=int(sel.sum()), psnr=_mean(s.psnr[sel]),
                      psnr_hole=_mean(s.psnr_hole[sel]),
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
      cells.append("-" if r is None else f"{_fmt(r['psnr'], 1)}{acc}")
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
  labels = report.labels[_example_indices(report.labels, k)]
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


# ----------------------------------------------------------------------------- a whole run


@dataclasses.dataclass
class Settings:
  """One bin.evaluate run (flags -> this, in bin/flags.py)."""
  model_dirs: tuple = ()
  dataset: str | None = None  # default: the dataset the (first) model records
  split: str = "test"  # or "validation": the training carve to tune on
  manual_dir: str | None = None
  data_dir: str | None = None
  skip_bad_files: bool = False
  methods: tuple = ()  # default: installed baselines + every method of the models
  masks: tuple = ("center", "left", "random")
  num_images: int = 100
  seed: int = 0
  mask_ratio: float = 0.8
  give_labels: bool = True
  judge: str | None = None  # default: <model_dir>/judge when present
  options: dict = dataclasses.field(default_factory=dict)
  batch_size: int = 64
  output_dir: str = os.path.join("out", "evaluate")
  grid_images: int = 10
  grid_scale: int | None = None
  reference_images: int = 1000  # real test images (not evaluated) for the kernel distance


def run(settings, log=print):
  """A whole bin.evaluate run; returns (output_dir, written paths, report)."""
  from tfinpaint import data, judge as judge_lib, methods as methods_lib, served  # pylint: disable=g-import-not-at-top
  s = settings
  bad = [m for m in s.masks if m not in masks_lib.NAMES]
  if bad or not s.masks:
    raise InputError(f"--masks must name masks from {', '.join(masks_lib.NAMES)}, got "
                     f"{','.join(s.masks) or 'nothing'}")
  models = [served.load(d) for d in s.model_dirs]
  shapes = {m.image_shape for m in models}
  if len(shapes) > 1:
    raise InputError(f"the models take different image shapes: {sorted(shapes)}")
  dataset = s.dataset or next((m.data for m in models if m.data), None)
  if not dataset:
    raise InputError("--dataset is required (no model names the data it was trained on)")
  h, w, c = shapes.pop() if shapes else (28, 28, 1)
  if h != w:
    raise InputError(f"models for non-square images ({h}x{w}) are not supported here")
  names = list(s.methods) or methods_lib.installed_baselines() + [
      n for m in models for n in m.methods if n != "illumination"]
  chosen = {n: methods_lib.get(n, models, s.batch_size) for n in dict.fromkeys(names)}
  if s.split not in ("test", "validation"):
    raise InputError(f"the evaluation split must be test or validation, got {s.split!r}")
  test_ds, info = data.load(dataset, s.split, h, c, manual_dir=s.manual_dir,
                            data_dir=s.data_dir, skip_bad=s.skip_bad_files)
  all_images, all_labels = arrays(test_ds)
  picked = stratified(all_labels, min(s.num_images, len(all_labels)), s.seed)
  rest = np.setdiff1d(np.arange(len(all_labels)), picked)
  reference = all_images[stratified(all_labels[rest], min(s.reference_images, len(rest)),
                                    s.seed + 1)] if len(rest) else None
  judge_dir = s.judge or next((os.path.join(m.base_dir, "judge") for m in models
                               if os.path.isdir(os.path.join(m.base_dir, "judge"))), None)
  judge = judge_lib.load(judge_dir) if judge_dir else None
  per_class = np.bincount(all_labels[picked], minlength=info.num_classes)
  log(f"evaluating {', '.join(chosen)} on {len(picked)} {s.split} images of {dataset} "
      f"({per_class.min()}-{per_class.max()} per class, seed {s.seed}), masks "
      f"{', '.join(s.masks)}; labels given: {'true labels' if s.give_labels else 'none (-1)'}"
      f"; judge: {judge_dir or 'none'}")
  report = evaluate(chosen, all_images[picked], all_labels[picked], s.masks, seed=s.seed,
                    ratio=s.mask_ratio, judge=judge, reference=reference,
                    give_labels=s.give_labels, options=s.options, num_examples=s.grid_images,
                    class_names=info.class_names, log=log)
  report.notes += [
      f"data: {dataset}, {s.split} split: {len(picked)} images drawn stratified by class "
      f"(seed {s.seed}); kernel distance against {0 if reference is None else len(reference)} "
      f"other {s.split} images",
      f"mask seed {s.seed}, random-mask ratio {s.mask_ratio}",
      "label-aware methods were given " + ("each image's true label" if s.give_labels else
                                           "no label (-1: every label tried, lowest energy wins)"),
      "options sent to the learned methods: " + (", ".join(f"{k}={v}" for k, v in
                                                           sorted(s.options.items()))
                                                 or "none (each model's defaults)")]
  report.notes += [f"model: {m.version_dir} ({m.kind})" for m in models]
  if judge is not None:
    report.notes.append(f"judge: {judge_dir} ({judge.info.get('test_accuracy', '?')} test "
                        "accuracy when trained)")
  title = f"Inpainting quality: {dataset}"
  with fileio.published(s.output_dir, describe="bin.evaluate results") as stage:
    written = write_report(stage, report, title=title,
                           grid_scale=s.grid_scale or auto_scale(h))
  return s.output_dir, written, report
