"""The one training-loop core: tf.function steps, resume, summaries, progress and hooks.

Every trainer (classifier.py, gan.py, or a method's own) writes a per-replica
`train_step(batch)` returning a dict of scalar tensors, and `run` does the rest once:

  * the batched dataset distributed over the replicas of the strategy (training/strategy.py)
    and the step run under `strategy.run` inside a tf.function, metrics averaged over replicas;
  * a step counter saved with the models and optimizers under `workdir/checkpoints`, restored
    from the newest checkpoint that reads back intact (training/checkpoints.py), so a run
    restarted with the same workdir continues where it stopped; the input resumes at the
    restored step (`dataset(start_step)`, training/inputs.py), so it ends bitwise equal to the
    uninterrupted run on CPU;
  * TensorBoard scalars in `workdir/summaries` and a progress line with rate and ETA;
  * hooks `(every_n_steps, fn(step, metrics))`: sample grids, a caller's step clock.

Divergence stops the run: the steps of one call stop at the first non-finite metric, the run
ends with an InputError naming the step and the checkpoint kept, and every checkpoint is checked
for non-finite values before it is written, so nothing non-finite is ever saved.

Several steps run inside one tf.function call (up to the next step at which something has to
happen on the Python side: a log line, a checkpoint, a hook or the end), which removes the
per-call overhead that dominates for small models. Every step is still exactly one optimizer
update on one batch, so results do not depend on this. No jit_compile: it is not reliable for
these models on CPU and the exported graphs avoid it too.
"""

import dataclasses
import datetime
import math
import os
import shutil
import time

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from tfinpaint import config
from tfinpaint.errors import InputError
from tfinpaint.training import checkpoints
from tfinpaint.training import strategy as strategy_lib

_MAX_STEPS_PER_CALL = 100  # bounds the time between two looks at the clock.


def echo(line):
  """The default log of the trainers: a progress line, flushed (logs are read while running)."""
  print(line, flush=True)


@dataclasses.dataclass(frozen=True)
class LoopConfig(config.Config):
  """What every trainer's config has: where, how long, how often to report and save."""
  workdir: str | None = config.field(None, help="training folder: checkpoints/, summaries/ "
                                     "(TensorBoard) and config.json (this experiment, resolved)")
  num_steps: int = config.field(1000, help="optimizer steps in all (counting those before a "
                                "restart)", low=0, high=10**9)
  batch_size: int = config.field(64, help="global batch size (all replicas)", low=1,
                                 high=10**6)
  seed: int = config.field(0, help="seed of the initial weights, the data order and the "
                           "augmentation", low=0, high=2**31 - 1)
  log_every: int = config.field(100, help="steps between progress lines and summaries", low=1,
                                high=10**9)
  checkpoint_every: int = config.field(1000, help="steps between checkpoints", low=1,
                                       high=10**9)
  restart_from_scratch: bool = config.field(
      False, help="discard checkpoints of which none restores and start again (a healthy "
      "workdir always resumes)")

  NETWORKS = ()  # the models a trainer trains, by name (what the network config must build)

  def run(self, networks, data, strategy, hooks=(), log=echo):
    """Trains `networks` on `data` (a DataConfig) under `strategy`; the trainer's metrics."""
    raise NotImplementedError

  def score(self, networks, data):  # pylint: disable=unused-argument
    """Facts about trained networks for their model card (e.g. test accuracy); default none."""
    return {}


# -------------------------------------------------------------------------------------------------
def _scalar_metadata():
  # What tensorboard.summary.scalar writes, built from core TF protos so that training does not
  # need the tensorboard package (tensorflow-cpu does not pull it in).
  return summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


def write_scalars(writer, step, scalars):
  """Writes a dict of python floats as TensorBoard scalars at `step` and flushes."""
  with writer.as_default():
    for name, value in scalars.items():
      tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=_scalar_metadata())
  writer.flush()


def _format_duration(seconds):
  if not math.isfinite(seconds):
    return "?"
  return str(datetime.timedelta(seconds=int(round(seconds))))


def _format_metrics(metrics):
  return "  ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def _next_stop(step, num_steps, periods):
  """First step > `step` at which Python has to act (a multiple of a period, or the end)."""
  stop = min(num_steps, step + _MAX_STEPS_PER_CALL)
  for every in periods:
    stop = min(stop, (step // every + 1) * every)
  return stop


def _all_finite(metrics):
  if not metrics:
    return tf.constant(True)
  return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32)))
                        for v in metrics.values()])


def _diverged(step, what, kept):
  kept = f"kept {os.path.basename(kept)}" if kept else "no checkpoint was kept"
  return InputError(f"training diverged at step {step} ({what}); {kept}; lower --config.train.learning_rate")


# -------------------------------------------------------------------------------------------------
# The loop.
# -------------------------------------------------------------------------------------------------


def run(*, workdir, strategy, checkpoint, train_step, dataset, num_steps, log_every,
        checkpoint_every, hooks=(), restart_from_scratch=False, log=echo):
  """Runs `train_step` until the step counter reaches `num_steps`, resuming from workdir.

  Args:
    workdir: directory for `checkpoints/` and `summaries/` (created if missing, and only once the
      run is known to start: a refused run creates nothing).
    strategy: the tf.distribute.Strategy under whose scope the checkpointed objects were built.
    checkpoint: dict name -> trackable (Keras models, optimizers, tf.Variables) saved and
      restored together with the step counter (key "step" is reserved).
    train_step: PER-REPLICA function batch -> dict of scalar tensors. It runs under
      `strategy.run`; losses used for gradients should be summed per example and divided by the
      GLOBAL batch size. Returned metrics should be per-replica means: run() averages them over
      the replicas (MEAN). A non-finite metric stops the run (InputError, see module doc).
    dataset: the batched (global batch), repeated input, either a function
      `start_step -> tf.data.Dataset` whose first element is the batch of step start_step + 1
      (what the trainers pass: O(1) resume), or a tf.data.Dataset, of which a resumed run skips
      the first start_step batches (replay: exact when the pipeline is deterministic).
      run() distributes it.
    num_steps: total number of steps of the run, counting steps done before a restart.
    log_every: steps between progress lines and TensorBoard scalars.
    checkpoint_every: steps between checkpoints (one is also written at the end).
    hooks: sequence of (every_n_steps, fn(step: int, metrics: dict[str, float])), called after
      the steps that are multiples of every_n_steps.
    restart_from_scratch: when workdir holds checkpoints of which none restores (all damaged,
      or written by another network), discard them (and the summaries of that run) and start at
      step 0 instead of refusing. A workdir whose checkpoint restores always resumes.

  Returns:
    dict of the last step's metrics as floats, plus "step" (int): the step counter at the end
    (only "step" when the checkpoint was already at or past num_steps).
  """
  num_steps = int(num_steps)
  if num_steps < 0 or log_every < 1 or checkpoint_every < 1:
    raise ValueError("num_steps must be >= 0 and log_every, checkpoint_every >= 1")
  hooks = tuple((int(every), fn) for every, fn in hooks)
  if any(every < 1 for every, _ in hooks):
    raise ValueError("hook periods must be >= 1")
  checkpoints.check_workdir(workdir)

  step, ckpt = checkpoints.make_checkpoint(strategy, checkpoint)
  variables = [step] + checkpoints.variables_of(checkpoint.values())
  chief = strategy_lib.is_chief(strategy)
  # Every worker restores what the chief wrote (workdir is on a shared file system).
  restored = checkpoints.resume(ckpt, variables, workdir, chief=chief, partial=False,
                     restart_from_scratch=restart_from_scratch, training=True, log=log)
  if not restored:
    # A fresh root: a restore that failed (another network, then restart_from_scratch) leaves
    # deferred restorations on the old one, e.g. of save_counter from files now discarded.
    step, ckpt = checkpoints.make_checkpoint(strategy, checkpoint)
  start = int(step.numpy())
  if restored:
    log(f"restored {os.path.basename(restored)} (step {start}) from "
        f"{os.path.dirname(restored)}")
  if start >= num_steps:
    log(f"step {start}/{num_steps}: nothing to do")
    return {"step": start}

  ckpt_dir = checkpoints.checkpoint_dir(workdir, strategy)
  with checkpoints.writing(workdir):
    if not chief:  # what a killed run of this worker left in its scratch dir is of no use
      shutil.rmtree(ckpt_dir, ignore_errors=True)
    os.makedirs(ckpt_dir, exist_ok=True)
  manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=3)

  source = dataset(start) if callable(dataset) else dataset.skip(start)
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  iterator = iter(strategy.experimental_distribute_dataset(source.with_options(options)))

  # A tf.function of its own: traced once, then called twice in run_steps's graph (before and
  # inside the loop) instead of tracing the model step twice.
  @tf.function
  def one_step(it):
    per_replica = strategy.run(train_step, args=(next(it),))
    if not isinstance(per_replica, dict):
      raise TypeError("train_step must return a dict of scalar tensors")
    metrics = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
               for k, v in per_replica.items()}
    step.assign_add(1)
    return metrics

  @tf.function
  def run_steps(it, count):
    # Stops early at the first non-finite metric, so that Python knows the step it happened at.
    metrics = one_step(it)
    done = tf.constant(1, tf.int64)
    while done < count and _all_finite(metrics):
      metrics = one_step(it)
      done += 1
    return metrics

  float_variables = [v for v in checkpoints.variables_of(checkpoint.values())
                     if tf.as_dtype(v.dtype).is_floating]

  @tf.function
  def variables_finite():
    if not float_variables:
      return tf.constant(True)
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))
                          for v in float_variables])

  with checkpoints.writing(os.path.join(workdir, "summaries")):
    writer = tf.summary.create_file_writer(
        os.path.join(workdir, "summaries") if chief else os.path.join(ckpt_dir, ".summaries"))
  periods = [log_every, checkpoint_every] + [every for every, _ in hooks]
  current = start
  last_time, last_step = time.perf_counter(), start
  try:
    while current < num_steps:
      stop = _next_stop(current, num_steps, periods)
      try:
        tensors = run_steps(iterator, tf.constant(stop - current, tf.int64))
      except tf.errors.OutOfRangeError:
        raise InputError(f"the dataset ended before step {stop}; pass a repeated dataset") from None
      current = int(step.numpy())
      metrics = {k: float(v) for k, v in tensors.items()}
      bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
      if bad:
        log(f"step {current}/{num_steps}  {_format_metrics(metrics)}")
        what = ", ".join(f"{k} {v}" for k, v in bad.items())
        raise _diverged(current, what, manager.latest_checkpoint)
      done = current == num_steps
      if current % log_every == 0 or done:
        now = time.perf_counter()
        rate = (current - last_step) / max(now - last_time, 1e-9)
        last_time, last_step = now, current
        eta = (num_steps - current) / rate if rate > 0 else float("inf")
        log(f"step {current}/{num_steps}  {rate:.1f} steps/s  eta {_format_duration(eta)}  "
            f"{_format_metrics(metrics)}")
        with checkpoints.writing(os.path.join(workdir, "summaries")):
          write_scalars(writer, current, {**metrics, "steps_per_sec": rate})
      for every, fn in hooks:
        if current % every == 0:
          fn(current, dict(metrics))
      if current % checkpoint_every == 0 or done:
        if not bool(variables_finite()):
          raise _diverged(current, "non-finite weights", manager.latest_checkpoint)
        with checkpoints.writing(ckpt_dir):
          manager.save(checkpoint_number=current)
  finally:
    writer.close()
  metrics["step"] = current
  if not chief:
    shutil.rmtree(ckpt_dir, ignore_errors=True)
  return metrics
