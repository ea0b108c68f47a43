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

import dataclasses
import os
import time

import numpy as np

from tfinpaint import config
from tfinpaint import fileio
from tfinpaint import masks as masks_lib
from tfinpaint import metrics
from tfinpaint import reports
from tfinpaint import served
from tfinpaint.errors import InputError



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
  shown = reports.example_indices(labels, num_examples)
  ref_features = None
  if judge is not None and reference is not None and len(reference) >= 2:
    ref_features = judge.features(reference)
  clean = float(np.mean(judge.predict(images) == labels)) if judge is not None else None
  scores, examples, example_labels = [], {}, {}
  asked = labels if give_labels else np.full_like(labels, -1)
  for mask_name in mask_names:
    mask = masks_lib.make(mask_name, n, h, w, seed=seed, ratio=ratio)
    masked = masked_input(images, mask)
    examples[mask_name] = {reports.MASKED: masked[shown]}
    example_labels[mask_name] = {}
    results = {reports.MASKED: (masked, 0.0, None)}
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
        judged = f"  judge {reports.fmt(row['judge_accuracy'], 2)}" if judge is not None else ""
        log(f"{mask_name:>8s}  {name:<16s} PSNR {reports.fmt(row['psnr'], 2):>6s}  "
            f"SSIM {reports.fmt(row['ssim'], 3):>5s}{judged}  ({n} images, {seconds:.1f} s)")
    examples[mask_name]["original"] = images[shown]
  return reports.Report(scores=scores, methods=list(methods), mask_names=list(mask_names),
                examples=examples, example_labels=example_labels, labels=labels,
                class_names=tuple(class_names), judge_clean_accuracy=clean)


def _kid(features, reference, seed):
  from tfinpaint import judge as judge_lib  # pylint: disable=g-import-not-at-top
  return judge_lib.kid(features, reference, seed=seed)


def _score(method, mask_name, truth, result, hole, seconds, chosen):
  scores = image_scores(result, truth, 1.0 - hole)
  return reports.Scores(method=method, mask=mask_name, psnr=scores["psnr"], ssim=scores["ssim"],
                psnr_hole=scores["psnr_hole"], ssim_hole=metrics.ssim(result, truth, hole),
                seconds=seconds, chosen_label=chosen)


# ----------------------------------------------------------------------------- a whole run


@dataclasses.dataclass(frozen=True)
class EvaluateConfig(config.Config):
  """The evaluate section of an experiment: what bin.evaluate compares, on which images."""
  model_dirs: tuple[str, ...] = config.field(
      (), help="exported models whose methods are compared (default: the experiment's "
      "export_dir, else the shipped digits model)")
  split: str = config.field("test", help="the split to score: test (report), or validation "
                            "(every 10th training example: tune there, never on test)",
                            choices=("test", "validation"))
  methods: tuple[str, ...] = config.field(
      (), help="methods to compare (default: the installed baselines and every method of the "
      "models)")
  masks: tuple[str, ...] = config.field(("center", "left", "random"),
                                        help="named masks (Table 1)")
  num_images: int = config.field(100, help="images drawn stratified by class", low=1,
                                 high=10**6)
  seed: int = config.field(0, help="seed of the image sample, the masks and the inpainters",
                           low=0, high=2**31 - 1)
  mask_ratio: float = config.field(masks_lib.RANDOM_RATIO, help="random mask: probability that "
                                   "a pixel is missing", low=0.0, low_open=True, high=0.999)
  true_labels: bool = config.field(True, help="give label-aware methods the true labels "
                                   "(false: -1, try every label)")
  judge: str | None = config.field(None, help="folder of the independent judge (default: "
                                   "<model_dir>/judge when present)")
  batch_size: int = config.field(served.BATCH_SIZE, help="images per call of a model", low=1,
                                 high=4096)
  output_dir: str = config.field(os.path.join("out", "evaluate"),
                                 help="where the tables and grids go (replaced as a whole)")
  grid_images: int = config.field(10, help="images per example grid (every class first)",
                                  low=1, high=10**6)
  grid_scale: int | None = config.field(None, help="integer upscaling of grid cells (default: "
                                        "cells of >= 96 px)", low=1, high=16)
  reference_images: int = config.field(1000, help="real images (not evaluated) the kernel "
                                       "distance compares the fills with", low=2, high=10**6)

  def __post_init__(self):
    super().__post_init__()
    bad = [m for m in self.masks if m not in masks_lib.NAMES]
    if bad or not self.masks:
      raise ValueError(f"masks must name masks from {', '.join(masks_lib.NAMES)}, got "
                       f"{','.join(self.masks) or 'nothing'}")


def model_dirs_of(experiment):
  """The exports an experiment evaluates: evaluate.model_dirs, else its export_dir, else the
  shipped digits model (when methods name none)."""
  s = experiment.evaluate
  if s.model_dirs:
    return tuple(s.model_dirs)
  own = experiment.export.export_dir
  if own:
    return (own,)
  if s.methods:
    return ()
  return tuple(p for p in (served.find_shipped(served.SHIPPED[0]),) if p)


def run(experiment, options=None, log=print):
  """A whole bin.evaluate run of an experiment's evaluate section on its data; `options` are
  sent with every request of the learned methods. Returns (output_dir, written paths, report)."""
  from tfinpaint import judge as judge_lib, methods as methods_lib  # pylint: disable=g-import-not-at-top
  s, data_config = experiment.evaluate, experiment.data
  options = dict(options or {})
  fileio.check_output_dir(s.output_dir, flag="--config.evaluate.output_dir")  # before the work
  models = [served.load(d) for d in model_dirs_of(experiment)]
  shapes = {m.image_shape for m in models}
  if len(shapes) > 1:
    raise InputError(f"the models take different image shapes: {sorted(shapes)}")
  dataset = data_config.dataset or next((m.data for m in models if m.data), None)
  if not dataset:
    raise InputError("set --config.data.dataset (no model names the data it was trained on)")
  h, w, c = shapes.pop() if shapes else (28, 28, 1)
  if h != w:
    raise InputError(f"models for non-square images ({h}x{w}) are not supported here")
  names = list(s.methods) or methods_lib.installed_baselines() + [
      n for m in models for n in m.methods if n != "illumination"]
  chosen = {n: methods_lib.get(n, models, s.batch_size) for n in dict.fromkeys(names)}
  data_config = data_config.replace(dataset=dataset, image_size=h, channels=c)
  test_ds, info = data_config.load(s.split)
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
      f"{', '.join(s.masks)}; labels given: {'true labels' if s.true_labels else 'none (-1)'}"
      f"; judge: {judge_dir or 'none'}")
  report = evaluate(chosen, all_images[picked], all_labels[picked], s.masks, seed=s.seed,
                    ratio=s.mask_ratio, judge=judge, reference=reference,
                    give_labels=s.true_labels, options=options, num_examples=s.grid_images,
                    class_names=info.class_names, log=log)
  report.notes += [
      f"data: {dataset}, {s.split} split: {len(picked)} images drawn stratified by class "
      f"(seed {s.seed}); kernel distance against {0 if reference is None else len(reference)} "
      f"other {s.split} images",
      f"mask seed {s.seed}, random-mask ratio {s.mask_ratio}",
      "label-aware methods were given " + ("each image's true label" if s.true_labels else
                                           "no label (-1: every label tried, lowest energy wins)"),
      "options sent to the learned methods: " + (", ".join(f"{k}={v}" for k, v in
                                                           sorted(options.items()))
                                                 or "none (each model's defaults)")]
  report.notes += [f"model: {m.version_dir} ({m.kind})" for m in models]
  if judge is not None:
    report.notes.append(f"judge: {judge_dir} ({judge.info.get('test_accuracy', '?')} test "
                        "accuracy when trained)")
  title = f"Inpainting quality: {dataset}"
  with fileio.published(s.output_dir, describe="bin.evaluate results",
                         flag="--config.evaluate.output_dir") as stage:
    written = reports.write_report(stage, report, title=title,
                           grid_scale=s.grid_scale or reports.auto_scale(h))
  return s.output_dir, written, report
