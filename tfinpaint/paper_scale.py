"""The configs/cars_* experiments at their real size on this machine: step times, memory, and the
paper's runs extrapolated from them. bin.benchmark --paper_scale's library.

Stanford Cars is not needed (nor available offline): each training experiment's network is
built from its own config exactly as bin.train builds it (64x64x3, full width, 196 classes) and
trained by its own trainer with its own settings (learning rate, batch, ...), through a step
clock hook, on random data of the real shape, which costs the same per step as real images.
The inpainter of the experiment that exports one (cars_dcgan: the semantic method, with the
GoogLeNet of cars_googlenet) is assembled from those networks by its method, as bin.export
does, and timed per iteration at batch 1; it is also exported (tfinpaint.export), reloaded
(tfinpaint.served) and its serving_default called once.

The paper's runs, extrapolated from the per-step / per-iteration times:
  * DCGAN (paper 000): 13,000 steps at the config's batch;
  * GoogLeNet: 60 epochs over the 8,144 Stanford Cars training images at the config's batch;
  * Table 1 (configs/cars_inpaint.py): the config's images x the exported iteration budget, one
    image at a time, per method and mask; `table1_seconds` multiplies by its semantic methods
    x masks.
"""

import dataclasses
import math
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from tfinpaint import experiment as experiment_lib
from tfinpaint import export as export_lib
from tfinpaint import measure
from tfinpaint import served
from tfinpaint.data import DatasetInfo
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.training import strategy as strategy_lib

TRAINING = ("cars_dcgan", "cars_googlenet")
EVALUATION = "cars_inpaint"
CARS_CLASSES = 196
CARS_TRAIN_IMAGES = 8144
PAPER_STEPS = {"cars_dcgan": 13000, "cars_googlenet": None}  # None: 60 epochs at the batch
PAPER_EPOCHS = 60
_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


@dataclasses.dataclass(frozen=True)
class RandomData:
  """Stands in for an experiment's DataConfig: random images of its shape, labels 0..K-1."""
  image_shape: tuple
  num_classes: int
  examples: int
  train_split: str = "train"

  def load(self, split, *, flip=False, seed=0):
    del flip
    rng = np.random.default_rng(seed + (split == "test"))
    pixels = rng.uniform(-1, 1, (self.examples,) + tuple(self.image_shape)).astype(np.float32)
    labels = (np.arange(self.examples) % self.num_classes).astype(np.int32)
    info = DatasetInfo(self.num_classes, tuple(f"class_{k}" for k in range(self.num_classes)),
                       self.examples)
    return tf.data.Dataset.from_tensor_slices((pixels, labels)), info


def _train(e, num_classes, steps, batch_size, workdir, log):
  """(Trained, facts) of `steps` real training steps of experiment `e`'s network."""
  import keras  # pylint: disable=g-import-not-at-top
  settings = e.train.replace(workdir=workdir, num_steps=steps, log_every=10**6,
                             checkpoint_every=10**6, batch_size=batch_size or e.train.batch_size)
  shape = e.data.image_shape
  strategy = strategy_lib.make_strategy(e.runtime.replace(strategy="default", devices=()))
  keras.utils.set_random_seed(settings.seed)
  with strategy.scope():
    networks = e.network.build(shape, num_classes)
  params = sum(int(np.prod(v.shape)) for m in networks.values() for v in m.trainable_variables)
  log(f"paper scale: {e.name}: {e.network.KIND} {'x'.join(map(str, shape))}, {num_classes} "
      f"classes, {params / 1e6:.2f} M trainable parameters, batch {settings.batch_size}, "
      f"learning rate {settings.learning_rate:g}: {steps} steps")
  times = [time.perf_counter()]
  data = RandomData(shape, num_classes, 2 * settings.batch_size)
  metrics = settings.run(networks, data, strategy,
                         hooks=[(1, lambda step, m: times.append(time.perf_counter()))],
                         log=lambda line: None)
  seconds = float(np.median(np.diff(times[1:])))  # without the first step (tracing)
  names = data.load("train")[1].class_names
  trained = base.Trained(networks, dataclasses.replace(e, train=settings), num_classes, names,
                         steps)
  paper_steps = PAPER_STEPS[e.name] or PAPER_EPOCHS * math.ceil(CARS_TRAIN_IMAGES /
                                                                settings.batch_size)
  facts = dict(model=e.network.KIND, image_shape=list(shape), batch_size=settings.batch_size,
               learning_rate=settings.learning_rate, optimizer_learning_rate=metrics.get(
                   "learning_rate"), params=params, step_seconds=seconds,
               paper_steps=paper_steps, paper_seconds=paper_steps * seconds,
               paper_hours=paper_steps * seconds / 3600, config_steps=e.train.num_steps,
               peak_rss_mib=measure.peak_rss_mb())
  log(f"paper scale: {e.name}: {seconds:.3f} s/step -> {paper_steps} steps "
      f"{paper_steps * seconds / 3600:.1f} h; peak RSS {measure.peak_rss_mb():.0f} MiB")
  return trained, facts


def _iteration_seconds(inpainter, iterations):
  """Seconds per inpainting iteration at batch 1: t(1 + n) - t(1) over n (fixed costs cancel)."""
  fn = inpainter.function("serving_default")
  image, mask = measure.sample_batch(1, inpainter.image_shape)
  image = (image + 1.0) / 2.0

  def call(k):
    return fn(image=tf.constant(image), mask=tf.constant(mask), iterations=tf.constant(k))

  first, _ = measure.timed(lambda: call(1))  # traces
  # The fastest of two calls each: other processes on the machine only ever add time.
  once, _ = measure.timed(lambda: call(1), repeats=2)
  longer, _ = measure.timed(lambda: call(1 + iterations), repeats=2)
  return max(longer - once, 0.0) / iterations, first, (image, mask)


def _export_and_call(inpainter, request, export_dir):
  """Exports, reloads (served.load) and calls serving_default once with iterations=1."""
  start = time.perf_counter()
  version_dir = export_lib.export(inpainter, export_dir, overwrite=True)
  exported = time.perf_counter()
  image, mask = request
  out = served.load(version_dir).run("serving_default", {"image": image, "mask": mask},
                                     {"iterations": 1})
  inpainted = np.asarray(out["inpainted"])
  return dict(version_dir=version_dir, export_seconds=exported - start,
              load_and_call_seconds=time.perf_counter() - exported,
              inpainted_shape=list(inpainted.shape), finite=bool(np.isfinite(inpainted).all()))


def run(configs_dir=None, *, train_steps=3, inpaint_iterations=3, num_classes=CARS_CLASSES,
        export_dir=None, batch_size=None, log=print):
  """Measures the cars experiments at paper size on this machine.

  Args:
    configs_dir: folder of cars_dcgan.py, cars_googlenet.py, cars_inpaint.py (default: the
      repository's configs/).
    train_steps: training steps per network (>= 2: the first one traces and is not timed).
    inpaint_iterations: extra iterations timed for the per-iteration cost (>= 1).
    num_classes: classes of the GoogLeNet (196 for Stanford Cars).
    export_dir: where the inpainter is exported and reloaded from (default: a temporary folder).
    batch_size: training batch instead of the experiments' (the networks keep their real size;
      the extrapolations then assume that batch). For quick checks; None = the experiments'.
    log: print-like function for progress lines.

  Returns:
    {"cars_dcgan": {...}, "cars_googlenet": {...}, "cars_inpaint": {...}}: per training
    experiment its batch, learning rate (the experiment's and the optimizer's), parameters,
    step_seconds and the extrapolation; cars_inpaint iteration_seconds (batch 1),
    first_call_seconds, iterations, images, paper_seconds, table1_runs, table1_seconds and
    "export" (version_dir, export_seconds, load_and_call_seconds, inpainted_shape, finite).
  """
  if train_steps < 2 or inpaint_iterations < 1:
    raise InputError("paper_scale needs train_steps >= 2 and inpaint_iterations >= 1")
  configs_dir = configs_dir or _CONFIGS
  experiments = {name: experiment_lib.load(os.path.join(configs_dir, f"{name}.py"))
                 for name in TRAINING + (EVALUATION,)}
  main = next(experiments[n] for n in TRAINING if experiments[n].request is not None)
  cls = base.for_config(main.request)
  results, trained = {}, {}
  workroot = tempfile.mkdtemp(prefix="tfinpaint_paper_scale_")
  try:
    roles = {main.train.workdir: cls.ROLES[0],
             **{workdir: role for role, workdir in main.export.networks.items()}}
    for name in TRAINING:
      e = experiments[name]
      start = time.perf_counter()
      t, facts = _train(e, num_classes, train_steps, batch_size, os.path.join(workroot, name),
                        log)
      trained[roles[e.train.workdir]] = t
      results[name] = dict(facts, wall_seconds=time.perf_counter() - start)

    evaluation = experiments[EVALUATION].evaluate
    start = time.perf_counter()
    inpainter = cls.assemble(trained, main.request, log=lambda line: None)
    seconds, first, request = _iteration_seconds(inpainter, inpaint_iterations)
    iterations, images = inpainter.config.iterations, evaluation.num_images
    methods = [m for m in evaluation.methods if m in cls.METHODS]
    paper = images * iterations * seconds
    results[EVALUATION] = dict(
        image_shape=list(inpainter.image_shape), batch_size=1,
        num_starts=getattr(inpainter.config, "num_starts", 1), iteration_seconds=seconds,
        first_call_seconds=first, iterations=iterations, images=images, paper_seconds=paper,
        paper_hours=paper / 3600, table1_runs=len(methods) * len(evaluation.masks),
        table1_seconds=paper * len(methods) * len(evaluation.masks))
    log(f"paper scale: {EVALUATION}: {seconds:.3f} s/iteration at batch 1 -> {images} images "
        f"x {iterations} iterations {paper / 3600:.1f} h per method and mask")
    exported = _export_and_call(inpainter, request,
                                export_dir or os.path.join(workroot, "export"))
    results[EVALUATION].update(export=exported, wall_seconds=time.perf_counter() - start,
                               peak_rss_mib=measure.peak_rss_mb())
    log(f"paper scale: exported in {exported['export_seconds']:.1f} s; reloaded and called in "
        f"{exported['load_and_call_seconds']:.1f} s")
  finally:
    shutil.rmtree(workroot, ignore_errors=True)
  return results


def markdown(results):
  """The README's paper-scale table from run()'s results."""
  d, g, i = (results[k] for k in TRAINING + (EVALUATION,))
  x = i["export"]
  lines = [
      "| configs/ | what was timed | per step / iteration | peak RSS | the paper's run on this machine |",
      "|---|---|---:|---:|---|",
      f"| cars_dcgan | DCGAN training step, batch {d['batch_size']}, lr {d['learning_rate']:g}, "
      f"{d['params'] / 1e6:.1f} M params | {d['step_seconds']:.2f} s | {d['peak_rss_mib']:.0f} "
      f"MiB | {d['paper_steps']:,} steps: {d['paper_hours']:.1f} h |",
      f"| cars_googlenet | GoogLeNet training step, batch {g['batch_size']}, lr "
      f"{g['learning_rate']:g}, {g['params'] / 1e6:.1f} M params | {g['step_seconds']:.2f} s | "
      f"{g['peak_rss_mib']:.0f} MiB | 60 epochs ({g['paper_steps']:,} steps): "
      f"{g['paper_hours']:.1f} h |",
      f"| cars_inpaint | one iteration of the exported default, 1 image x {i['num_starts']} "
      f"starts | {i['iteration_seconds']:.2f} s | {i['peak_rss_mib']:.0f} MiB | {i['images']} "
      f"images x {i['iterations']:,} iterations: {i['paper_hours']:.1f} h per method and mask "
      f"({i['table1_runs']} for Table 1: {i['table1_seconds'] / 3600:.0f} h) |"]
  return "\n".join(lines) + (f"\n\nThe paper-scale inpainter exported in "
                             f"{x['export_seconds']:.1f} s, reloaded and ran one iteration in "
                             f"{x['load_and_call_seconds']:.1f} s (output {x['inpainted_shape']}, "
                             f"finite: {x['finite']}).\n")
