"""What `bin.inpaint` (and `bin.client`) do: inputs -> masks -> a method -> one published folder.

A run is planned as jobs (one method over one set of images), executed, and written:

  * inputs: image files / folders (--input), or the real held-out samples shipped in the package
    that match the model (tfinpaint/samples/<name>, named in the export's metadata); images are
    fitted to the model's size and channels with a note (tfinpaint.images.fit refuses changes
    that would make the image meaningless);
  * masks: named and seeded (center, left, random, pattern), mask files (white = fill), or
    computed by the model (illumination);
  * labels, for methods that take them: --label for every image, else a labels CSV
    (`file,label`), else a leading "<label>_" in the file name, else -1 (try every label);
  * the method: a signature of an exported model (tfinpaint.methods) or a baseline;
  * outputs, published atomically (tfinpaint.fileio.published): per image the result at its
    size (inpainted/<name>.png) and upscaled (large/<name>.png), its mask (masks/<name>.png),
    and for the run a titled grid, results.csv and the optimisation traces (paper 003 Figure 6,
    paper 000 Figure 3) as charts. Per-image files live in their own folders and their names
    are made unique, so no input's name can meet another's or a file of the run.

With no --input, --model_dir or --method, both shipped models run on their samples and the grid
shows them side by side: the project's default demo.
"""

import csv
import dataclasses
import io
import os
import re

import numpy as np

from tfinpaint import config
from tfinpaint import evaluation
from tfinpaint import fileio
from tfinpaint import images as images_lib
from tfinpaint import labels as labels_lib
from tfinpaint import masks as masks_lib
from tfinpaint import methods as methods_lib
from tfinpaint import plots
from tfinpaint import reports
from tfinpaint import served
from tfinpaint.errors import InputError, printable

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pbm", ".bmp", ".tif", ".tiff",
                    ".gif", ".webp")
MAX_CURVES = 16  # gradient-norm curves drawn; the chart's title says when there are more
LARGE = 128  # results smaller than this are also written upscaled (large/<name>.png)
# Per-image outputs: folder of each file kind (the run's own files sit beside these folders).
INPAINTED, LARGE_DIR, MASKS = "inpainted", "large", "masks"
NAME_BYTES = 100  # output names are cut to this many UTF-8 bytes


@dataclasses.dataclass(frozen=True)
class Settings(config.Config):
  """One bin.inpaint run: the flags of bin.inpaint (and bin.client) are made from these fields.

  The request options (--iterations, --step_size, ...) are not fields: they come from the
  methods' option tables and go to `run` as a dict.
  """
  input: str | None = config.field(
      None, help="image(s) to inpaint: a file, a comma list, or a folder (default: the real "
      "held-out samples shipped for the model)")
  model_dir: tuple[str, ...] = config.field(
      (), help="exported model folder(s) exported/<name> (the latest version) or a version "
      "folder (default: the shipped models)")
  method: str | None = config.field(
      None, help="classifier / tv_only / init_only / illumination (classifier-guided models), "
      "yeh / semantic / full (semantic models), telea / navier_stokes / patchmatch (classical; "
      "the baselines extra); default: the model's own")
  mask: str = config.field(
      "center", help="center = central square of 25% of the area, left = left half, random = "
      "each pixel missing with probability mask_ratio, pattern = irregular blobs, file = "
      "mask_file / mask_files", choices=masks_lib.NAMES + ("file",))
  mask_file: str | None = config.field(
      None, help="mask image for every input: white (non-zero) = region to fill, black = keep "
      "(the OpenCV / IOPaint convention); the image's size")
  mask_files: tuple[str, ...] = config.field(
      (), help="one mask image per input (comma list in input order, or a folder whose sorted "
      "files pair with the sorted inputs); white = fill")
  mask_ratio: float = config.field(masks_lib.RANDOM_RATIO, help="random mask: probability that "
                                   "a pixel is missing", low=0.0, low_open=True, high=0.999)
  seed: int = config.field(0, help="seed of the named masks and of the model's random starts "
                           "and jitter", low=0, high=2**31 - 1)
  label: int | None = config.field(
      None, help="methods that take labels: the label every fill should have; -1 = try every "
      "label, lowest energy wins (paper 003, 4.4.3); default: the images' known labels "
      "(shipped samples, labels_file, '<label>_' file names), else -1", low=labels_lib.LOW,
      high=labels_lib.HIGH)
  labels_file: str | None = config.field(None, help="CSV of file name,label for the inputs")
  illumination_threshold: float | None = config.field(
      None, help="illumination mode (paper 003, 4.4.2): every pixel darker than this value is "
      "the hole", low=0.0, low_open=True, high=1.0)
  num_images: int | None = config.field(None, help="images to use (default: all inputs)",
                                        low=1, high=10**6)
  batch_size: int = config.field(served.BATCH_SIZE, help="images per call of the model",
                                 low=1, high=4096)
  resize: bool = config.field(False, help="resize inputs to the model's size even when that "
                              "changes the aspect ratio or scales by more than 4x")
  output_dir: str = config.field(os.path.join("out", "inpaint"),
                                 help="where results go; replaced as a whole when the run "
                                 "succeeds, untouched when it fails")
  grid_scale: int | None = config.field(None, help="integer upscaling of grid cells (default: "
                                        "cells of >= 96 px)", low=1, high=16)


def with_experiment(settings, experiment):
  """The run's settings with the experiment's export as the model when none is named."""
  export_dir = experiment.export.export_dir
  if settings.model_dir or not export_dir:
    return settings
  return settings.replace(model_dir=(export_dir,))


@dataclasses.dataclass
class Job:
  """One method over one set of images."""
  title: str
  method: methods_lib.Method
  images: np.ndarray  # [N, H, W, C] in [-1, 1]
  names: list
  sources: list  # file path or "shipped sample"
  masks: np.ndarray | None  # [N, H, W, 1], 1 = known; None when the model computes it
  mask_name: str  # center | left | random | pattern | file | illumination
  labels: np.ndarray | None  # what the method is asked for (-1 = try all), if it takes labels
  true_labels: np.ndarray | None  # known ground-truth labels (shipped samples)
  notes: list = dataclasses.field(default_factory=list)
  reads: list = dataclasses.field(default_factory=list)  # files the job reads (inputs, masks)


# ----------------------------------------------------------------------------- models and inputs


def expand_paths(spec, what):
  """"a.png,b.png" or a folder -> existing image file paths (folders sorted by name)."""
  paths = []
  items = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
  for item in (str(p).strip() for p in items):
    if not item:
      continue
    item = os.path.expanduser(item)
    if os.path.isdir(item):
      found = sorted(os.path.join(item, f) for f in os.listdir(item)
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
      if not found:
        raise InputError(f"no image files in {what} folder {item}")
      paths += found
    elif os.path.isfile(item):
      paths.append(item)
    else:
      raise InputError(f"no such {what} file or folder: {item}")
  if not paths:
    raise InputError(f"--{what} names no file")
  return paths


def _safe_name(stem):
  """A file stem as an output name: letters, digits, '.', '-' and '_' kept, the rest '_'; no
  leading '.'; at most NAME_BYTES bytes of UTF-8."""
  name = re.sub(r"[^\w.-]+", "_", stem).lstrip(".") or "image"
  while len(name.encode("utf-8")) > NAME_BYTES:
    name = name[:-1]
  return name


def unique_names(paths):
  """Output names of the inputs, unique by construction (compared case-insensitively).

  The first input of a stem keeps it; a later one gets the first free "<stem>_<k>" that no input
  has as its own stem (a/x.png, b/x.jpg, c/x_2.png -> x, x_3, x_2).
  """
  return _unique([os.path.splitext(os.path.basename(p))[0] for p in paths])


def _unique(stems):
  stems = [_safe_name(s) for s in stems]
  taken, used, names = {s.lower() for s in stems}, set(), []
  for stem in stems:
    name, k = stem, 1
    while name.lower() in used or (k > 1 and name.lower() in taken):
      k += 1
      name = f"{stem}_{k}"
    used.add(name.lower())
    names.append(name)
  return names


def read_inputs(paths, shape, force=False):
  """Image files -> ([N, H, W, C] in [-1, 1], notes); fitted to `shape` (H, W, C) if given."""
  out, notes = [], []
  for path in paths:
    image = images_lib.read_image(path)
    if shape is not None:
      image, note = images_lib.fit(image, shape, force=force, what=f"image {path}")
      if note:
        notes.append(f"{os.path.basename(path)}: {note}")
    out.append(images_lib.to_signed(image))
  shapes = {x.shape for x in out}
  if len(shapes) > 1:
    raise InputError(f"input images differ in size or channels ({sorted(shapes)}); inpaint "
                     "them in separate runs or let a model fit them (--model_dir)")
  return np.stack(out).astype(np.float32), notes


def samples_for(model, shape, count=None):
  """The shipped samples that match `model` (its metadata names them), fitted to `shape`."""
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  name = (model.samples if model is not None else None) or "digits"
  pixels, labels = data.sample_images(name)
  notes = []
  if shape is not None:
    fitted = [images_lib.fit(images_lib.to_unit(x), shape) for x in pixels]
    pixels = images_lib.to_signed(np.stack([f[0] for f in fitted]))
    if fitted[0][1]:
      notes.append(f"shipped {name} samples {fitted[0][1]}")
  n = len(pixels) if count is None else min(count, len(pixels))
  names = [f"{name}_{i:02d}_label{int(l)}" for i, l in enumerate(labels[:n])]
  return pixels[:n].astype(np.float32), labels[:n], names, notes


def masks_for(settings, images, paths):
  """One [H, W, 1] mask per image (1 = known), the mask's name and the mask files read."""
  n, h, w = images.shape[:3]
  if settings.mask_file and settings.mask_files:
    raise InputError("pass either --mask_file or --mask_files, not both")
  if settings.mask_file or settings.mask_files or settings.mask == "file":
    if settings.mask_file:
      files = expand_paths(settings.mask_file, "mask_file")
      if len(files) != 1:
        raise InputError("--mask_file takes one file; use --mask_files for one per image")
      files = files * n
    elif settings.mask_files:
      files = expand_paths(list(settings.mask_files), "mask_files")
      if len(files) != n:
        raise InputError(f"--mask_files gives {len(files)} masks for {n} input images")
    else:
      raise InputError("--mask=file needs --mask_file or --mask_files (white = fill)")
    out = []
    for path, mask_path in zip(paths, files):
      out.append(masks_lib.read_mask_file(mask_path, h, w, image_path=path))
    return np.stack(out), "file", sorted(set(files))
  return masks_lib.make(settings.mask, n, h, w, seed=settings.seed, ratio=settings.mask_ratio), \
      settings.mask, []


def _models_and_method(settings, given=None):
  """[(model or None, Method)] the run uses: the default demo, or what the flags name.

  given: models to use instead of loading --model_dir (bin.client's served model).
  """
  method = settings.method
  if settings.illumination_threshold is not None:
    if method not in (None, "illumination"):
      raise InputError(f"--illumination_threshold runs the illumination method, not {method}")
    method = "illumination"
  if given:
    models = list(given)
  elif settings.model_dir:
    models = [served.load(d) for d in settings.model_dir]
  elif settings.input is None and method is None:
    models = [served.load(p) for p in (served.find_shipped(n) for n in served.SHIPPED) if p]
    if not models:
      raise InputError("no shipped model found (exported/digits_lenet); pass --model_dir")
    return [(m, methods_lib.get(m.default_method, [m], settings.batch_size)) for m in models]
  elif method is None or method in methods_lib.BASELINES:
    models = []
  else:  # a learned method by name: the shipped model that provides it
    models = [served.load(p) for p in (served.find_shipped(n) for n in served.SHIPPED) if p]
    models = [m for m in models if method in m.methods][:1]
  if method is None:
    if models:
      method = models[0].default_method
    else:
      available = methods_lib.installed_baselines()
      if not available:
        raise InputError('no method available: install the baselines extra '
                         '(pip install -e ".[cpu,baselines]") or pass --model_dir')
      method = "patchmatch" if "patchmatch" in available else available[0]
  chosen = methods_lib.get(method, models, settings.batch_size)
  return [(chosen.model, chosen)]


def plan(settings, models=None):
  """The jobs of a run: everything decided and read, nothing computed yet."""
  jobs = []
  pairs = _models_and_method(settings, models)
  for model, method in pairs:
    shape = model.image_shape if model is not None else None
    notes = []
    for name in ("label", "labels_file"):
      if getattr(settings, name) is not None and "label" not in method.inputs:
        raise InputError(f"--{name}: method {method.name} takes no label")
    file_labels = label_note = None
    if settings.input is None:
      x, true_labels, names, notes = samples_for(model, shape, settings.num_images)
      paths, sources, reads = [None] * len(x), ["shipped sample"] * len(x), []
      file_labels = true_labels
      label_note = "true labels of the shipped samples"
    else:
      paths = expand_paths(settings.input, "input")[:settings.num_images or None]
      x, notes = read_inputs(paths, shape, settings.resize)
      names, sources, true_labels = unique_names(paths), [printable(p) for p in paths], None
      reads = list(paths) + ([settings.labels_file] if settings.labels_file else [])
      if "label" in method.inputs and settings.label is None:
        file_labels, label_note = labels_lib.from_files(paths, settings.labels_file)
    labels = None
    if method.name == "illumination" and (settings.mask != "center" or settings.mask_file or
                                          settings.mask_files):
      raise InputError("the illumination method makes its own mask from the threshold; drop "
                       "--mask, --mask_file and --mask_files")
    if "label" in method.inputs:
      if settings.label is not None:
        labels, label_note = np.full(len(x), settings.label, np.int32), f"--label={settings.label}"
      elif file_labels is not None:
        labels = np.asarray(file_labels, np.int32)
      else:
        labels, label_note = np.full(len(x), -1, np.int32), "no labels known: trying every label"
      notes.append(label_note + (" (-1 = try every label)" if settings.label == -1 else ""))
    if method.name == "illumination":
      masks, mask_name, mask_files = None, "illumination", []
    else:
      masks, mask_name, mask_files = masks_for(settings, x, paths)
    title = method.name if model is None else f"{model.name}: {method.name}"
    jobs.append(Job(title, method, x, names, sources, masks, mask_name, labels, true_labels,
                    notes, reads + mask_files))
  return jobs


# ----------------------------------------------------------------------------- running, writing


def execute(job, options=None, threshold=None):
  """Runs the job's method; returns {output: array}, "inpainted" in [-1, 1]."""
  out = job.method(job.images, job.masks, job.labels, options or None, threshold)
  if not np.isfinite(out["inpainted"]).all():
    raise InputError(f"{job.method.name} produced NaN/Inf; check the inputs and options")
  if job.masks is None:
    job.masks = np.asarray(out["mask"], np.float32)
  return out


def _csv(rows):
  buf = io.StringIO()
  fields = list(dict.fromkeys(k for r in rows for k in r))
  writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  return buf.getvalue()


def _rows(job, out):
  scored = job.mask_name != "illumination" and min(job.images.shape[1:3]) >= 11
  scores = evaluation.image_scores(out["inpainted"], job.images, job.masks) if scored else None
  rows = []
  for i, name in enumerate(job.names):
    row = {"name": name, "input": job.sources[i], "method": job.method.name}
    if job.method.learned:
      row["model"] = job.method.model.name
    if job.true_labels is not None:
      row["true_label"] = int(job.true_labels[i])
    if job.labels is not None:
      row["asked_label"] = int(job.labels[i])
    if "label" in out:
      row["label"] = int(out["label"][i])
    for key in ("energy", "loss"):
      if key in out:
        row[key] = f"{float(out[key][i]):.6g}"
    if "iterations" in out:
      row["iterations"] = int(out["iterations"][i])
    if scores is not None:
      row.update({k: f"{float(v[i]):.4f}" for k, v in scores.items()})
    rows.append(row)
  return rows


def _charts(job, out):
  """{file name: chart} for the job's optimisation traces."""
  charts = {}
  if "grad_norm_trace" in out and out["grad_norm_trace"].shape[1] > 0:
    traces = out["grad_norm_trace"]
    shown = min(len(traces), MAX_CURVES)
    labels = [f"{job.names[i]}" + (f" -> {int(out['label'][i])}" if "label" in out else "")
              for i in range(shown)]
    what = f"all {shown}" if shown == len(traces) else f"the first {shown} of {len(traces)}"
    charts["grad_norm.png"] = plots.line_chart(
        traces[:shown], labels=labels, log_y=True, size=(720, 440),
        title=f"{job.method.name}: gradient norm per iteration, {what} images "
              "(paper 003, Figure 6)", xlabel="iteration", ylabel="||grad E||")
  # Terms that were not traced (a preset's unused terms without --trace_all) hold zeros.
  terms = sorted(k[5:] for k in out if k.startswith("loss_") and np.any(out[k] != 0))
  if terms and out[f"loss_{terms[0]}"].shape[1] > 1:
    mean = [out[f"loss_{t}"].mean(axis=0) for t in terms]
    positive = all((m[np.isfinite(m)] > 0).all() for m in mean)
    charts["losses.png"] = plots.line_chart(
        mean, labels=terms, log_y=positive, size=(720, 440),
        title=f"{job.method.name}: weighted loss terms, mean of {len(job.names)} images "
              "(paper 000, Figure 3)", xlabel="iteration", ylabel="lambda * L")
  return charts


def write(stage, jobs, outs, grid_scale=None):
  """Writes every job's files into `stage` (one subfolder per job when there are several).

  Returns (written file names relative to stage, all table rows).
  """
  written, all_rows, panels = [], [], []
  subs = [""] if len(jobs) == 1 else _unique([job.title for job in jobs])
  for job, out, sub in zip(jobs, outs, subs):
    folder = os.path.join(stage, sub)
    unit = images_lib.to_unit(out["inpainted"])
    h, w = unit.shape[1:3]
    scale = max(1, int(np.ceil(LARGE / max(h, w))))
    for i, name in enumerate(job.names):
      images_lib.write_png(os.path.join(folder, INPAINTED, f"{name}.png"), unit[i])
      if scale > 1:
        big = unit[i].repeat(scale, axis=0).repeat(scale, axis=1)
        images_lib.write_png(os.path.join(folder, LARGE_DIR, f"{name}.png"), big)
      masks_lib.write_mask_file(os.path.join(folder, MASKS, f"{name}.png"), job.masks[i])
    rows = _rows(job, out)
    all_rows += rows
    for file_name, chart in _charts(job, out).items():
      images_lib.write_png(os.path.join(folder, file_name), chart)
      written.append(os.path.join(sub, file_name))
    cells = {reports.MASKED: evaluation.masked_input(job.images, job.masks),
             job.method.name: out["inpainted"], "original": job.images}
    panels.append(reports.comparison_grid(
        cells, scale=grid_scale or reports.auto_scale(max(h, w)), title=job.title))
  grid = plots.side_by_side(panels)
  images_lib.write_png(os.path.join(stage, "grid.png"), grid)
  fileio.write_text(os.path.join(stage, "results.csv"), _csv(all_rows))
  return ["grid.png", "results.csv"] + written, all_rows


def run(settings, options=None, log=print, models=None):
  """A whole bin.inpaint run (bin.client: `models` = the served model); `options` are sent with
  every request of a learned method, with the run's seed. Returns (output_dir, written files,
  rows)."""
  jobs = plan(settings, models)
  reads = [p for job in jobs for p in job.reads]
  fileio.check_output_dir(settings.output_dir, inputs=reads)  # before minutes of work
  outs = []
  for job in jobs:
    log(f"inpainting {len(job.names)} image(s) with {job.title}, mask {job.mask_name}")
    for note in job.notes:
      log(f"  note: {note}")
    sent = dict(options or {})
    if job.method.learned and "seed" in job.method.options:
      sent["seed"] = settings.seed
    outs.append(execute(job, sent, settings.illumination_threshold))
  with fileio.published(settings.output_dir, describe="bin.inpaint results",
                        inputs=reads) as stage:
    written, rows = write(stage, jobs, outs, settings.grid_scale)
  return settings.output_dir, written, rows
