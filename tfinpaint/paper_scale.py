"""The configs/cars_* networks at their real size on this machine: step times, memory, extrapolations.

Stanford Cars is not needed (nor available offline): the networks are built exactly as bin.train
builds them from the flagfiles (training.runner.build: 64x64x3, full width, 196 classes) and
trained by the real trainers (gan.train, classifier.train, through loop.run) on random data of
the real shape, which costs the same per step as real images. Then the semantic inpainter of
configs/cars_dcgan.flags' export is built from those networks (the DCGAN and the GoogLeNet's
endpoints) and timed per iteration at batch 1; optionally it is exported (tfinpaint.export),
reloaded with tf.saved_model.load and its serving_default called once.

The paper's runs are extrapolated from the per-step / per-iteration times:
  * DCGAN (paper 000): 13,000 steps at the config's batch;
  * GoogLeNet: 60 epochs over the 8,144 Stanford Cars training images at the config's batch;
  * Table 1 (configs/cars_inpaint.flags): 100 images x the config's iteration budget, one image
    at a time (batch 1), per method and mask; `table1_seconds` multiplies by the config's
    semantic methods x masks.

`paper_scale()` is bin.benchmark --paper_scale's library.
"""

import contextlib
import math
import os
import shutil
import tempfile
import time

import numpy as np

from tfinpaint.benchmark import peak_rss_mb as peak_rss_mib, sample_batch, timed
from tfinpaint.errors import InputError

CONFIGS = ("cars_dcgan", "cars_googlenet", "cars_inpaint")
CARS_CLASSES = 196
CARS_TRAIN_IMAGES = 8144
PAPER_DCGAN_STEPS = 13000
PAPER_GOOGLENET_EPOCHS = 60
PAPER_INPAINT_IMAGES = 100
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SEMANTIC_METHODS = ("yeh", "semantic", "full")


@contextlib.contextmanager
def _step_clock(times):
  """Appends perf_counter() after every training step of loop.run while active.

  A hook called every step makes loop.run end each tf.function call after one step; the steps
  themselves are unchanged (one update each), and the per-call overhead is milliseconds next to
  the seconds a paper-size step takes.
  """
  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  real_run = loop.run

  def timed_run(**kwargs):
    hooks = list(kwargs.get("hooks", ())) + [(1, lambda step, metrics: times.append(
        time.perf_counter()))]
    times.append(time.perf_counter())
    return real_run(**dict(kwargs, hooks=hooks))

  loop.run = timed_run
  try:
    yield
  finally:
    loop.run = real_run


def _step_seconds(times):
  """Median seconds per step, without the first step (tracing)."""
  diffs = np.diff(times[1:])
  if not len(diffs):
    raise ValueError("need at least 2 timed steps")
  return float(np.median(diffs))


def _fake_split(n, shape, num_classes, seed):
  """n random images in [-1, 1] of `shape` with labels in [0, num_classes) (unbatched)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  images = rng.uniform(-1, 1, (n,) + tuple(shape)).astype(np.float32)
  labels = (np.arange(n) % num_classes).astype(np.int32)
  return tf.data.Dataset.from_tensor_slices((images, labels))


def markdown(results):
  """The README's paper-scale table from paper_scale()'s results."""
  d, g, i = (results[k] for k in CONFIGS)
  lines = [
      "| configs/ | what was timed | per step / iteration | peak RSS | the paper's run on this machine |",
      "|---|---|---:|---:|---|",
      f"| cars_dcgan | DCGAN training step, batch {d['batch_size']}, {d['params'] / 1e6:.1f} M "
      f"params | {d['step_seconds']:.2f} s | {d['peak_rss_mib']:.0f} MiB | {d['paper_steps']:,} "
      f"steps: {d['paper_hours']:.1f} h |",
      f"| cars_googlenet | GoogLeNet training step, batch {g['batch_size']}, "
      f"{g['params'] / 1e6:.1f} M params | {g['step_seconds']:.2f} s | {g['peak_rss_mib']:.0f} MiB "
      f"| 60 epochs ({g['paper_steps']:,} steps): {g['paper_hours']:.1f} h |",
      f"| cars_inpaint | one iteration of `full`, 1 image x {i['num_starts']} starts "
      f"| {i['iteration_seconds']:.2f} s | {i['peak_rss_mib']:.0f} MiB | {i['images']} images x "
      f"{i['iterations']:,} iterations: {i['paper_hours']:.1f} h per method and mask "
      f"({i['table1_runs']} for Table 1: {i['table1_seconds'] / 3600:.0f} h) |"]
  return "\n".join(lines) + "\n"


def _int(flags, name, default):
  return int(flags.get(name, default))


def _float(flags, name, default):
  return float(flags.get(name, default))


def _train(model, flags, shape, num_classes, steps, workdir, log):
  """(networks, seconds per step) of `steps` real training steps of `model` at the config's size."""
  import keras  # pylint: disable=g-import-not-at-top
  from tfinpaint.training import classifier, gan, loop, runner  # pylint: disable=g-import-not-at-top
  batch = _int(flags, "batch_size", 64)
  width = _float(flags, "width", 1.0)
  z_dim = _int(flags, "z_dim", 100)
  strategy = loop.make_strategy("default")
  keras.utils.set_random_seed(0)
  with strategy.scope():
    nets = runner.build(model, shape, num_classes, width=width, z_dim=z_dim,
                        dropout=_float(flags, "dropout", 0.3))
  params = sum(int(np.prod(v.shape)) for m in nets.values() for v in m.trainable_variables)
  train_ds = _fake_split(2 * batch, shape, num_classes, seed=1)
  common = dict(workdir=workdir, strategy=strategy, num_steps=steps, batch_size=batch,
                learning_rate=_float(flags, "learning_rate", 1e-3), log_every=10**6,
                checkpoint_every=10**6, seed=0)
  times = []
  log(f"paper scale: {model} {shape[0]}x{shape[1]}x{shape[2]}, {num_classes} classes, width "
      f"{width:g}, {params / 1e6:.2f} M trainable parameters, batch {batch}: {steps} steps")
  with _step_clock(times), contextlib.redirect_stdout(_Quiet()):
    if runner.spec(model).trainer == "gan":  # the trainer comes from the registry
      gan.train(nets["generator"], nets["discriminator"], train_ds, beta1=_float(flags, "beta1",
                                                                                  0.5),
                z_dim=z_dim, sample_every=0, **common)
    else:
      classifier.train(nets["model"], train_ds, train_ds.take(batch),
                       patch_training=bool(flags.get("patch_training", True)),
                       patch_repeats=_int(flags, "patch_repeats", 5),
                       aux_weight=_float(flags, "aux_weight", 0.3), **common)
  return nets, _step_seconds(times), params


class _Quiet:
  """stdout sink for the trainers' progress lines (the measurements are the output here)."""

  def write(self, text):
    return len(text)

  def flush(self):
    pass


def _inpainter(nets, dcgan_flags, shape, num_classes):
  from tfinpaint.inpainting import semantic  # pylint: disable=g-import-not-at-top
  from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
  networks = {"generator": nets["generator"], "discriminator": nets["discriminator"],
              "classifier": googlenet.endpoints(nets["model"])}
  config = semantic.SemanticConfig(
      shape, _int(dcgan_flags, "z_dim", 100),
      class_names=tuple(f"class_{k}" for k in range(num_classes)),
      preset=dcgan_flags.get("preset", "full"),
      iterations=_int(dcgan_flags, "iterations", 1500),
      max_iterations=_int(dcgan_flags, "max_iterations", 3000),
      learning_rate=_float(dcgan_flags, "z_learning_rate", 0.01),
      momentum=_float(dcgan_flags, "z_momentum", 0.9),
      num_starts=_int(dcgan_flags, "num_starts", 4))
  return semantic.SemanticInpainter(networks, config)


def _request(shape):
  """One image in [0, 1] with the centre hole of the benchmark's sample batch (mask 1 = known)."""
  image, mask = sample_batch(1, shape)
  return (image + 1.0) / 2.0, mask


def _iteration_seconds(inpainter, shape, iterations):
  """Seconds per inpainting iteration at batch 1: t(1 + n) - t(1) over n (fixed costs cancel)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = inpainter.function("serving_default")
  image, mask = _request(shape)

  def call(k):
    return fn(image=tf.constant(image), mask=tf.constant(mask), iterations=tf.constant(k))

  first, _ = timed(lambda: call(1))  # traces
  # The fastest of two calls each: other processes on the machine only ever add time.
  base, _ = timed(lambda: call(1), repeats=2)
  longer, _ = timed(lambda: call(1 + iterations), repeats=2)
  return max(longer - base, 0.0) / iterations, first


def _export_and_call(inpainter, shape, export_dir):
  """Exports, reloads (served.load: tf.saved_model.load and the metadata) and calls
  serving_default once with iterations=1, the other options at the SignatureDef's defaults."""
  from tfinpaint import export as export_lib  # pylint: disable=g-import-not-at-top
  from tfinpaint import served  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  version_dir = export_lib.export(inpainter, export_dir, overwrite=True)
  exported = time.perf_counter()
  image, mask = _request(shape)
  out = served.load(version_dir).run("serving_default", {"image": image, "mask": mask},
                                     {"iterations": 1})
  inpainted = np.asarray(out["inpainted"])
  done = time.perf_counter()
  return dict(version_dir=version_dir, export_seconds=exported - start,
              load_and_call_seconds=done - exported, inpainted_shape=list(inpainted.shape),
              finite=bool(np.isfinite(inpainted).all()))


def paper_scale(configs_dir=None, *, train_steps=3, inpaint_iterations=3,
                num_classes=CARS_CLASSES, export_dir=None, batch_size=None, log=print):
  """Measures the cars configs at paper size on this machine.

  Args:
    configs_dir: folder of cars_dcgan.flags, cars_googlenet.flags, cars_inpaint.flags (default:
      the repository's configs/).
    train_steps: training steps per network (>= 2: the first one traces and is not timed).
    inpaint_iterations: extra iterations timed for the per-iteration cost (>= 1).
    num_classes: classes of the GoogLeNet (196 for Stanford Cars).
    export_dir: when set, the semantic inpainter is also exported there, reloaded with
      tf.saved_model.load and its serving_default called once with iterations=1.
    batch_size: training batch instead of the configs' (the networks keep their real size; the
      extrapolations then assume that batch). For quick checks; None = the configs' batch.
    log: print-like function for progress lines.

  Returns:
    {"cars_dcgan": {...}, "cars_googlenet": {...}, "cars_inpaint": {...}}, each with
    "batch_size", "peak_rss_mib" (peak resident memory of this process once that part ran:
    getrusage's maximum, so it only grows) and the extrapolation "paper_seconds" /
    "paper_hours"; the training configs "step_seconds", "params" and "paper_steps"; cars_inpaint
    "iteration_seconds" (batch 1), "first_call_seconds" (tracing included), "iterations",
    "images", "paper_seconds" (images x iterations, one image at a time, one method and mask),
    "table1_seconds" (x the config's semantic methods x masks) and, with export_dir, "export"
    (version_dir, export_seconds, load_and_call_seconds, inpainted_shape, finite).
  """
  if train_steps < 2 or inpaint_iterations < 1:
    raise InputError("paper_scale needs train_steps >= 2 and inpaint_iterations >= 1")
  configs_dir = configs_dir or os.path.join(_REPO, "configs")
  from tfinpaint.training import runner  # pylint: disable=g-import-not-at-top
  flags = {name: runner.read_flags(os.path.join(configs_dir, f"{name}.flags"))
           for name in CONFIGS}
  results = {}
  nets = {}
  workroot = tempfile.mkdtemp(prefix="tfinpaint_paper_scale_")
  try:
    for name, model in (("cars_dcgan", "dcgan"), ("cars_googlenet", "googlenet")):
      f = flags[name] if batch_size is None else dict(flags[name], batch_size=batch_size)
      if f.get("model") != model:
        raise InputError(f"{name}.flags trains --model={f.get('model')}, expected {model}")
      size, channels = _int(f, "image_size", 64), _int(f, "channels", 3)
      shape = (size, size, channels)
      start = time.perf_counter()
      built, seconds, params = _train(model, f, shape, num_classes, train_steps,
                                      os.path.join(workroot, name), log)
      nets.update(built)
      batch = _int(f, "batch_size", 64)
      if model == "dcgan":
        paper_steps = PAPER_DCGAN_STEPS
      else:
        paper_steps = PAPER_GOOGLENET_EPOCHS * math.ceil(CARS_TRAIN_IMAGES / batch)
      results[name] = dict(model=model, image_shape=list(shape), batch_size=batch, params=params,
                           step_seconds=seconds, paper_steps=paper_steps,
                           paper_seconds=paper_steps * seconds,
                           paper_hours=paper_steps * seconds / 3600,
                           config_steps=_int(f, "num_steps", 0),
                           config_seconds=_int(f, "num_steps", 0) * seconds,
                           wall_seconds=time.perf_counter() - start, peak_rss_mib=peak_rss_mib())
      log(f"paper scale: {name}: {seconds:.3f} s/step at batch {batch} -> {paper_steps} steps "
          f"{paper_steps * seconds / 3600:.1f} h; peak RSS {peak_rss_mib():.0f} MiB")

    f, dcgan_flags = flags["cars_inpaint"], flags["cars_dcgan"]
    size, channels = _int(f, "image_size", 64), _int(f, "channels", 3)
    shape = (size, size, channels)
    start = time.perf_counter()
    inpainter = _inpainter(nets, dcgan_flags, shape, num_classes)
    seconds, first = _iteration_seconds(inpainter, shape, inpaint_iterations)
    iterations = _int(f, "iterations", inpainter.config.iterations)
    images = _int(f, "num_images", PAPER_INPAINT_IMAGES)
    methods = [m for m in str(f.get("methods", "full")).split(",") if m in _SEMANTIC_METHODS]
    masks = [m for m in str(f.get("masks", "center")).split(",") if m]
    paper = images * iterations * seconds
    results["cars_inpaint"] = dict(
        image_shape=list(shape), batch_size=1, num_starts=inpainter.config.num_starts,
        iteration_seconds=seconds, first_call_seconds=first, iterations=iterations,
        images=images, paper_seconds=paper, paper_hours=paper / 3600,
        table1_runs=len(methods) * len(masks),
        table1_seconds=paper * len(methods) * len(masks),
        peak_rss_mib=peak_rss_mib())
    log(f"paper scale: cars_inpaint: {seconds:.3f} s/iteration at batch 1 "
        f"({inpainter.config.num_starts} starts) -> {images} images x {iterations} iterations "
        f"{paper / 3600:.1f} h per method and mask")
    if export_dir:
      exported = _export_and_call(inpainter, shape, export_dir)
      results["cars_inpaint"]["export"] = exported
      results["cars_inpaint"]["wall_seconds"] = time.perf_counter() - start
      results["cars_inpaint"]["peak_rss_mib"] = peak_rss_mib()
      log(f"paper scale: exported to {exported['version_dir']} in "
          f"{exported['export_seconds']:.1f} s; reloaded and called in "
          f"{exported['load_and_call_seconds']:.1f} s")
    else:
      results["cars_inpaint"]["wall_seconds"] = time.perf_counter() - start
  finally:
    shutil.rmtree(workroot, ignore_errors=True)
  return results
