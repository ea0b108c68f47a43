"""The one training-loop core: strategy, tf.function steps, checkpoints + resume, summaries.

Both training programs (classifier.py, gan.py) only write a per-replica `train_step(batch)` that
returns a dict of scalar tensors; everything a long run needs around it lives here once:

  * a tf.distribute strategy chosen by name (one device, all local devices, or multi-worker);
  * the batched dataset distributed over the replicas and the step run under `strategy.run`
    inside a tf.function, with the metrics averaged over replicas;
  * a step counter saved with the models and optimizers in a CheckpointManager under
    `workdir/checkpoints`, so a run restarted with the same workdir continues where the last
    checkpoint left it (the input pipeline restarts from its beginning, as is usual: tf.data
    iterator state with big shuffle buffers is not worth checkpointing);
  * TensorBoard scalars in `workdir/summaries` and a progress line with rate and ETA;
  * hooks called every n steps (sample grids and the like).

Several steps run inside one tf.function call (up to the next step at which something has to
happen on the Python side: a log line, a checkpoint, a hook or the end), which removes the
per-call overhead that dominates for small models. Every step is still exactly one optimizer
update on one batch, so results do not depend on this.

Keras 3 optimizers under a multi-replica MirroredStrategy fail on their first
`apply_gradients` unless built in the scope, so callers create models and optimizers inside
`strategy.scope()` and call `optimizer.build(model.trainable_variables)` there.
No jit_compile: it is not reliable for these models on CPU and the exported graphs avoid it too.
"""

import datetime
import math
import os
import shutil
import time

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from tfinpaint.errors import InputError

STRATEGIES = ("default", "mirrored", "multi_worker")
_MAX_STEPS_PER_CALL = 100  # bounds the time between two looks at the clock.
_STRATEGIES = {}  # name -> the process's strategy of that kind (see make_strategy).


def make_strategy(name):
  """Returns the tf.distribute.Strategy called `name`.

  Args:
    name: "default" (the current/default strategy: one device), "mirrored" (MirroredStrategy over
      all visible local devices, GPUs or logical CPUs) or "multi_worker"
      (MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG environment variable, a
      single local worker when unset).

  A process gets one instance per name, however often it asks: two MirroredStrategy objects in
  one process hand out the same collective instance keys and their all-reduces then clash
  ("Shape mismatch in the collective instance 100", tensorflow/tensorflow#62790), e.g. when a
  program or a test session trains two models one after the other.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name not in _STRATEGIES:
    if name == "mirrored":
      gpus = tf.config.list_logical_devices("GPU")
      devices = gpus or tf.config.list_logical_devices("CPU")
      _STRATEGIES[name] = tf.distribute.MirroredStrategy([d.name for d in devices])
    elif name == "multi_worker":
      _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
    else:
      raise InputError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
  return _STRATEGIES[name]


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries (always true on one machine)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0
      and "chief" not in resolver.cluster_spec().as_dict())


def _checkpoint_dir(workdir, strategy):
  """Chief writes workdir/checkpoints; other workers a scratch dir (they must still save)."""
  path = os.path.join(workdir, "checkpoints")
  if is_chief(strategy):
    return path
  resolver = strategy.cluster_resolver
  return os.path.join(path, f".worker_{resolver.task_type}_{resolver.task_id}")


def _make_checkpoint(strategy, checkpoint):
  if "step" in checkpoint:
    raise InputError("checkpoint dict may not use the key 'step': the loop keeps its counter there")
  with strategy.scope():
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
  return step, tf.train.Checkpoint(step=step, **checkpoint)


def restore(workdir, checkpoint, strategy=None):
  """Restores the latest checkpoint written by `run` into the given objects.

  For programs that only need trained weights (export, evaluation): pass the same dict keys that
  training used (classifier.train uses {"model", "optimizer"}; an optimizer may be left out).

  Returns:
    the restored step (0 when workdir holds no checkpoint).
  """
  strategy = strategy or tf.distribute.get_strategy()
  step, ckpt = _make_checkpoint(strategy, checkpoint)
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest is None:
    return 0
  ckpt.restore(latest).expect_partial()
  return int(step.numpy())


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


def run(*, workdir, strategy, checkpoint, train_step, dataset, num_steps, log_every=100,
        checkpoint_every=1000, hooks=()):
  """Runs `train_step` until the step counter reaches `num_steps`, resuming from workdir.

  Args:
    workdir: directory for `checkpoints/` and `summaries/` (created if missing).
    strategy: the tf.distribute.Strategy under whose scope the checkpointed objects were built.
    checkpoint: dict name -> trackable (Keras models, optimizers, tf.Variables) saved and
      restored together with the step counter (key "step" is reserved).
    train_step: PER-REPLICA function batch -> dict of scalar tensors. It runs under
      `strategy.run`; losses used for gradients should be summed per example and divided by the
      GLOBAL batch size. Returned metrics should be per-replica means: run() averages them over
      the replicas (MEAN).
    dataset: batched (global batch), repeated tf.data.Dataset; run() distributes it.
    num_steps: total number of steps of the run, counting steps done before a restart.
    log_every: steps between progress lines and TensorBoard scalars.
    checkpoint_every: steps between checkpoints (one is also written at the end).
    hooks: sequence of (every_n_steps, fn(step: int, metrics: dict[str, float])), called after
      the steps that are multiples of every_n_steps.

  Returns:
    dict of the last step's metrics as floats, plus "step" (int): the step counter at the end
    (only "step" when the checkpoint was already at or past num_steps).
  """
  num_steps = int(num_steps)
  if num_steps < 0 or log_every < 1 or checkpoint_every < 1:
    raise InputError("num_steps must be >= 0 and log_every, checkpoint_every >= 1")
  hooks = tuple((int(every), fn) for every, fn in hooks)
  if any(every < 1 for every, _ in hooks):
    raise InputError("hook periods must be >= 1")

  step, ckpt = _make_checkpoint(strategy, checkpoint)
  ckpt_dir = _checkpoint_dir(workdir, strategy)
  manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=3)
  # Every worker restores what the chief wrote (workdir is on a shared file system).
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest:
    ckpt.restore(latest).assert_existing_objects_matched()
    print(f"restored {latest} at step {int(step.numpy())}", flush=True)
  start = int(step.numpy())
  if start >= num_steps:
    print(f"step {start}/{num_steps}: nothing to do", flush=True)
    return {"step": start}

  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  iterator = iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))

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
    metrics = one_step(it)
    for _ in tf.range(count - 1):
      metrics = one_step(it)
    return metrics

  chief = is_chief(strategy)
  writer = tf.summary.create_file_writer(
      os.path.join(workdir, "summaries") if chief else os.path.join(ckpt_dir, ".summaries"))
  periods = [log_every, checkpoint_every] + [every for every, _ in hooks]
  current = start
  last_time, last_step = time.perf_counter(), start
  while current < num_steps:
    stop = _next_stop(current, num_steps, periods)
    try:
      tensors = run_steps(iterator, tf.constant(stop - current, tf.int64))
    except tf.errors.OutOfRangeError:
      raise InputError(f"the dataset ended before step {stop}; pass a repeated dataset") from None
    current = stop
    done = current == num_steps
    metrics = {k: float(v) for k, v in tensors.items()}
    if current % log_every == 0 or done:
      now = time.perf_counter()
      rate = (current - last_step) / max(now - last_time, 1e-9)
      last_time, last_step = now, current
      eta = (num_steps - current) / rate if rate > 0 else float("inf")
      print(f"step {current}/{num_steps}  {rate:.1f} steps/s  eta {_format_duration(eta)}  "
            f"{_format_metrics(metrics)}", flush=True)
      write_scalars(writer, current, {**metrics, "steps_per_sec": rate})
    for every, fn in hooks:
      if current % every == 0:
        fn(current, dict(metrics))
    if current % checkpoint_every == 0 or done:
      manager.save(checkpoint_number=current)
  metrics["step"] = current
  writer.close()
  if not chief:
    shutil.rmtree(ckpt_dir, ignore_errors=True)
  return metrics
