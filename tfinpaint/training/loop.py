"""The one training-loop core: strategy, tf.function steps, checkpoints + resume, summaries.

Both training programs (classifier.py, gan.py) only write a per-replica `train_step(batch)` that
returns a dict of scalar tensors; everything a long run needs around it lives here once:

  * a tf.distribute strategy chosen by name (one device, all local devices, or multi-worker);
  * the batched dataset distributed over the replicas and the step run under `strategy.run`
    inside a tf.function, with the metrics averaged over replicas;
  * a step counter saved with the models and optimizers in a CheckpointManager under
    `workdir/checkpoints`, so a run restarted with the same workdir continues where the last
    checkpoint left it;
  * TensorBoard scalars in `workdir/summaries` and a progress line with rate and ETA;
  * hooks called every n steps (sample grids and the like).

Training never loses work (issue 12):

  * Exact resume. The input position is part of what a restart restores: `run` asks for the
    batches from the restored step on (`dataset(start_step)`), so a run killed at any step and
    restarted ends bitwise equal to the uninterrupted run on CPU. The trainers make batch `s` a
    pure function of (seed, s) over the training split held in memory (`materialize`,
    `shuffled_positions`), so that costs nothing; a plain dataset is replayed up to the step.
  * Checkpoint integrity. The index file (`checkpoints/checkpoint`) is only a hint: every
    `ckpt-N` is read back in full (the tensor bundle checks its CRCs) before it is trusted, the
    newest one that restores wins and the log says which, and the index is rewritten to list the
    intact checkpoints before the CheckpointManager reads it (with an unreadable index the manager
    would start from step 0 and overwrite ckpt-1000, 1100, ...). Damaged ones are skipped with a
    log line. Folders `*_temp*` left by a kill during a save are removed. A workdir with
    checkpoints of which none restores is an InputError unless `restart_from_scratch` discards
    them explicitly; a healthy workdir always resumes.
  * Divergence stops the run: the steps of one call stop at the first non-finite metric, the
    run ends with an InputError naming the step and the checkpoint kept, and every checkpoint is
    checked for non-finite values before it is written, so nothing non-finite is ever saved.
  * User mistakes about the workdir (a file, read-only, full disk, a checkpoint of another
    network) are one-line InputErrors raised before anything is written.

Several steps run inside one tf.function call (up to the next step at which something has to
happen on the Python side: a log line, a checkpoint, a hook or the end), which removes the
per-call overhead that dominates for small models. Every step is still exactly one optimizer
update on one batch, so results do not depend on this.

Keras 3 optimizers under a multi-replica MirroredStrategy fail on their first
`apply_gradients` unless built in the scope, so callers create models and optimizers inside
`strategy.scope()` and call `optimizer.build(model.trainable_variables)` there.
No jit_compile: it is not reliable for these models on CPU and the exported graphs avoid it too.
"""

import contextlib
import datetime
import errno
import math
import os
import re
import shutil
import time

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from tfinpaint import fileio
from tfinpaint.errors import InputError

STRATEGIES = ("default", "mirrored", "multi_worker")
_MAX_STEPS_PER_CALL = 100  # bounds the time between two looks at the clock.
_STRATEGIES = {}  # name -> the process's strategy of that kind (see make_strategy).
_CKPT_FILE = re.compile(r"^ckpt-(\d+)\.index$")
_INDEX = "checkpoint"  # the CheckpointManager's index file.
# Training splits up to this size are held in memory (see `materialize`); bigger ones stream and
# a resumed run replays the pipeline up to its step. Large enough for every shipped config
# (Fashion-MNIST 188 MB, Stanford Cars at 64x64x3 400 MB, as float32).
MATERIALIZE_LIMIT_BYTES = 1 << 30
_PURITY_PROBE = 256  # elements of a second pass compared with the first (see `materialize`).


def _device_names(kind=None):
  """Full names of the logical devices (of `kind`, e.g. "GPU"), in TensorFlow's order."""
  return [d.name for d in tf.config.list_logical_devices(kind)]


def _split_cpu(count):
  """Splits the physical CPU into `count` logical devices; False once the runtime is running.

  Reads the configuration only (listing logical devices would start the runtime), and never
  makes fewer logical CPUs than are configured.
  """
  cpus = tf.config.list_physical_devices("CPU")
  if len(tf.config.get_logical_device_configuration(cpus[0]) or [None]) >= count:
    return True
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
    return False
  return True


def resolve_devices(devices):
  """Full TensorFlow names of the requested devices ("GPU:0", "/gpu:1", "CPU:1", full names).

  Logical CPUs that do not exist yet (CPU:1 on a machine with one physical CPU) are made by
  splitting the CPU, which is possible until the TensorFlow runtime starts (the first op), so a
  run asks for them before anything else (bin.train does). Unknown devices are an InputError
  that lists the ones there are. An empty list means the default: every GPU, else every logical
  CPU.
  """
  devices = [str(d).strip() for d in devices if str(d).strip()]
  if not devices:
    return _device_names("GPU") or _device_names("CPU")
  wanted = []
  for d in devices:
    m = re.fullmatch(r"(?:.*/)?(?:device:)?([A-Za-z_]+):(\d+)", d)
    if not m:
      raise InputError(f"--devices: {d!r} is not a device name such as GPU:0 or CPU:1")
    wanted.append((d, m[1].upper(), int(m[2])))
  if len({(kind, index) for _, kind, index in wanted}) != len(wanted):
    raise InputError(f"--devices names a device twice: {','.join(devices)}")
  cpus = [index for _, kind, index in wanted if kind == "CPU"]
  if cpus:
    _split_cpu(max(cpus) + 1)  # before any listing; False once the runtime runs (lookup fails)
  available = _device_names()
  names = []
  for given, kind, index in wanted:
    match = [n for n in available if n.upper().endswith(f"DEVICE:{kind}:{index}")]
    if not match:
      raise InputError(f"--devices: no device {given} here; the devices are "
                       f"{', '.join(n.split('device:')[-1] for n in available)}")
    names.append(match[0])
  return names


def make_strategy(name, devices=()):
  """Returns the tf.distribute.Strategy called `name`.

  Args:
    name: "default" (the current/default strategy: one device), "mirrored" (MirroredStrategy over
      `devices`, by default all visible local GPUs, else all logical CPUs) or "multi_worker"
      (MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG environment variable, a
      single local worker when unset).
    devices: device names for "mirrored", e.g. ("GPU:0", "GPU:1") or ("CPU:0", "CPU:1") (see
      `resolve_devices`; missing logical CPUs are created while that is still possible). Empty:
      the default above. Only "mirrored" takes devices: "default" is one device and
      "multi_worker" uses every local GPU (else the CPU) of each worker.

  A process gets one instance per (name, devices), however often it asks: two MirroredStrategy
  objects in one process hand out the same collective instance keys and their all-reduces then
  clash ("Shape mismatch in the collective instance 100", tensorflow/tensorflow#62790), e.g. when
  a program or a test session trains two models one after the other. The default device list
  and the same devices named explicitly are the same strategy.
  """
  if name not in STRATEGIES:
    raise InputError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
  devices = tuple(devices or ())
  if devices and name != "mirrored":
    raise InputError(f"--devices applies to --strategy=mirrored only, not {name} (multi_worker "
                     "uses every local GPU of a worker, else its CPU: restrict it with "
                     "CUDA_VISIBLE_DEVICES)")
  if name == "default":
    return tf.distribute.get_strategy()
  key = (name, tuple(resolve_devices(devices))) if name == "mirrored" else (name,)
  if key not in _STRATEGIES:
    if name == "mirrored":
      _STRATEGIES[key] = tf.distribute.MirroredStrategy(list(key[1]))
    else:
      _STRATEGIES[key] = tf.distribute.MultiWorkerMirroredStrategy()
  return _STRATEGIES[key]


def configure_gpus(*, memory_growth=False, mixed_precision=False, log=print):
  """GPU-only options, applied before anything else runs on a device (bin.train does it first).

  memory_growth: tf.config.experimental.set_memory_growth on every GPU (TensorFlow then takes
    GPU memory as needed instead of all of it at start). Without a GPU: nothing, and a log line.
  mixed_precision: Keras' "mixed_float16" global policy (float16 compute, float32 variables);
    the trainers then wrap their optimizers in keras.optimizers.LossScaleOptimizer
    (`maybe_loss_scale`) and compute their losses in float32. Without a GPU it is refused: float16
    on a CPU is emulated and much slower than float32, never what a user wants.

  Returns:
    True when mixed precision is on.
  """
  gpus = tf.config.list_physical_devices("GPU")
  if memory_growth:
    if not gpus:
      log("memory_growth: no GPU, nothing to do")
    for gpu in gpus:
      try:
        tf.config.experimental.set_memory_growth(gpu, True)
      except RuntimeError as e:  # the runtime already runs (a library caller's mistake)
        raise InputError(f"--memory_growth must be set before TensorFlow uses the GPU: "
                         f"{_first_line(e)}") from None
    if gpus:
      log(f"memory_growth: on for {len(gpus)} GPU(s)")
  if not mixed_precision:
    return False
  if not gpus:
    raise InputError("--mixed_precision needs a GPU (float16 on the CPU is emulated and slower "
                     "than float32); drop the flag to train in float32")
  import keras  # pylint: disable=g-import-not-at-top
  keras.mixed_precision.set_global_policy("mixed_float16")
  log("mixed_precision: mixed_float16 (float16 compute, float32 variables, loss scaling)")
  return True


def mixed_precision_on():
  """Whether the global Keras policy computes in float16 (set by configure_gpus)."""
  import keras  # pylint: disable=g-import-not-at-top
  return keras.mixed_precision.global_policy().compute_dtype == "float16"


def maybe_loss_scale(optimizer):
  """`optimizer` wrapped in keras.optimizers.LossScaleOptimizer under mixed precision.

  Train steps call `optimizer.scale_loss(loss)` before taking gradients, which is the identity for
  a plain Keras 3 optimizer and multiplies by the dynamic loss scale for a wrapped one (whose
  apply_gradients divides it out again and skips steps with non-finite gradients).
  """
  if not mixed_precision_on():
    return optimizer
  import keras  # pylint: disable=g-import-not-at-top
  return keras.optimizers.LossScaleOptimizer(optimizer)


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries (always true on one machine)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (
      resolver.task_type == "worker" and resolver.task_id == 0
      and "chief" not in resolver.cluster_spec().as_dict())


# -------------------------------------------------------------------------------------------------
# The workdir: refused before anything is written, OS errors the user can fix as InputError.
# -------------------------------------------------------------------------------------------------


def check_workdir(workdir):
  """Refuses a workdir that cannot be used, creating nothing (trainers call it first).

  A path that is an existing file, or lies under one, and a folder this process may not write
  (permissions, read-only file system: access(2) reports both) are the user's to fix.
  """
  if not workdir:
    raise InputError("workdir must not be empty")
  path = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
  if os.path.exists(path) and not os.path.isdir(path):
    raise InputError(f"workdir {workdir} exists and is not a folder")
  probe = path
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise InputError(f"workdir {workdir} cannot be created: {probe} is a file")
  writable = [probe] + [os.path.join(path, sub) for sub in ("checkpoints", "summaries")
                        if os.path.isdir(os.path.join(path, sub))]
  for folder in writable:
    if not os.access(folder, os.W_OK | os.X_OK):
      raise InputError(f"cannot write workdir {workdir}: {folder} is read-only for this user")


@contextlib.contextmanager
def _writing(what):
  """OSErrors a user can act on (permissions, read-only or full disk) -> one-line InputError."""
  try:
    yield
  except OSError as e:
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
      raise InputError(f"cannot write {what}: {e.strerror or e}") from None
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
      raise InputError(f"no space left on the device while writing {what}") from None
    raise
  except tf.errors.OpError as e:  # TF's own file system layer (checkpoints, summaries).
    text = e.message.lower()
    if isinstance(e, tf.errors.PermissionDeniedError) or "read-only file system" in text or (
        "permission denied" in text):
      raise InputError(f"cannot write {what}: {_first_line(e.message)}") from None
    if "no space left" in text or "quota exceeded" in text:
      raise InputError(f"no space left on the device while writing {what}") from None
    raise


def _first_line(text, limit=160):
  line = str(text).strip().splitlines()[0] if str(text).strip() else type(text).__name__
  return line if len(line) <= limit else line[:limit - 3] + "..."


def _checkpoint_dir(workdir, strategy):
  """Chief writes workdir/checkpoints; other workers a scratch dir (they must still save)."""
  path = os.path.join(workdir, "checkpoints")
  if is_chief(strategy):
    return path
  resolver = strategy.cluster_resolver
  return os.path.join(path, f".worker_{resolver.task_type}_{resolver.task_id}")


def _make_checkpoint(strategy, checkpoint):
  if "step" in checkpoint:
    raise ValueError("checkpoint dict may not use the key 'step': the loop keeps its counter there")
  with strategy.scope():
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
  return step, tf.train.Checkpoint(step=step, **checkpoint)


def _variables(objects):
  """The variables of checkpointed objects (Keras models and optimizers, tf.Variables, RNGs).

  Used to undo a restore that failed half way (a checkpoint of another network) and to check
  that a checkpoint about to be written holds only finite values.
  """
  found, seen = [], set()
  for obj in objects:
    if isinstance(obj, tf.random.Generator):
      items = [obj.state]
    elif isinstance(obj, tf.Variable) or (hasattr(obj, "assign") and hasattr(obj, "dtype")
                                          and not hasattr(obj, "variables")):
      items = [obj]
    else:
      items = list(getattr(obj, "variables", None) or [])
    for v in items:
      if id(v) not in seen:
        seen.add(id(v))
        found.append(v)
  return found


# -------------------------------------------------------------------------------------------------
# Finding the newest checkpoint that restores.
# -------------------------------------------------------------------------------------------------


def _scan(ckpt_dir):
  """[(number, prefix)] of every ckpt-N.index in ckpt_dir, newest first."""
  try:
    names = os.listdir(ckpt_dir)
  except OSError:
    return []
  found = [(int(m[1]), os.path.join(ckpt_dir, f"ckpt-{m[1]}"))
           for m in (_CKPT_FILE.match(n) for n in names) if m]
  return sorted(found, reverse=True)


def _read_index(ckpt_dir):
  """(checkpoint name the index file points at or None, what is wrong with it or None)."""
  path = os.path.join(ckpt_dir, _INDEX)
  if not os.path.exists(path):
    return None, "missing"
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    return None, f"unreadable ({_first_line(e)})"
  if not text.strip():
    return None, "empty"
  match = re.search(r'^\s*model_checkpoint_path:\s*"([^"]+)"\s*$', text, re.M)
  if not match:
    return None, "unreadable (not a checkpoint index)"
  name = os.path.basename(match[1])
  if not tf.io.gfile.exists(os.path.join(ckpt_dir, name + ".index")):
    return name, f"dangling (it names {name}, which does not exist)"
  return name, None


def _verify(prefix):
  """None when the checkpoint can be trusted, else what is wrong with it.

  Every tensor is read back (the tensor bundle checks its CRCs) and must be finite: checkpoints
  saved by runs older than the divergence check may hold NaN, and resuming from one would only
  diverge again.
  """
  try:
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    for key in reader.get_variable_to_shape_map():
      value = reader.get_tensor(key)
      if dtypes[key].is_floating and not np.isfinite(value).all():
        return f"non-finite values in {key.split('/.ATTRIBUTES')[0]}"
  except Exception as e:  # pylint: disable=broad-except
    # Truncated .data raises IndexError, a bad .index an OpError, a flipped bit DataLossError:
    # whatever the damage, this checkpoint is not used.
    return f"{type(e).__name__}: {_first_line(e)}"
  return None


_STALE = re.compile(r"^(ckpt-\d+_temp.*|checkpoint\.tmp.*|\.tmp-.*)$")


def _remove_stale_temps(ckpt_dir, log):
  """Removes what a kill during a save left behind.

  ckpt-N_temp/ (a checkpoint being written), checkpoint.tmp* (the manager's index being
  replaced) and .tmp-* (our index rewrite): nothing reads them, and they would pile up.
  """
  try:
    names = os.listdir(ckpt_dir)
  except OSError:
    return
  for name in sorted(names):
    if _STALE.match(name):
      path = os.path.join(ckpt_dir, name)
      with _writing(path):
        if os.path.isdir(path):
          shutil.rmtree(path)
        else:
          os.remove(path)
      log(f"removed {path}, left by a run killed while writing a checkpoint")


def _write_index(ckpt_dir, restored, prefixes):
  """Rewrites the index so that the CheckpointManager knows the intact checkpoints.

  With their file times as save times, the manager keeps rotating them out as it would have with
  a healthy index (without times it would keep them forever).
  """
  lines = [f'model_checkpoint_path: "{os.path.basename(restored)}"']
  lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in prefixes]
  lines += [f"all_model_checkpoint_timestamps: {os.path.getmtime(p + '.index'):.6f}"
            for p in prefixes]
  lines.append("last_preserved_timestamp: 0")
  with _writing(os.path.join(ckpt_dir, _INDEX)):
    fileio.write_text(os.path.join(ckpt_dir, _INDEX), "\n".join(lines) + "\n")


def _mismatch_message(workdir, reason, training):
  fix = "--restart_from_scratch" if training else "retrain"
  return (f"the checkpoints in {workdir} were written by a different network ({reason}): use "
          f"the same --width/--model or {fix}")


def _resume(ckpt, variables, workdir, *, chief, partial, restart_from_scratch, training, log):
  """Restores the newest intact checkpoint of workdir/checkpoints into `ckpt`.

  Args:
    ckpt: the tf.train.Checkpoint of the step counter and the caller's objects.
    variables: the variables behind `ckpt` (put back when a restore fails half way).
    workdir: the run's folder.
    chief: only the chief removes temp folders, rewrites the index and discards checkpoints.
    partial: restore some of the saved objects only (export: no optimizer).
    restart_from_scratch: discard checkpoints of which none restores instead of refusing.
    training: whether the hint may mention --restart_from_scratch.
    log: print-like function for the log lines.

  Returns:
    the restored checkpoint prefix, or None for a fresh start.
  """
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt_dir):
    return None
  if chief:
    _remove_stale_temps(ckpt_dir, log)
  index_name, index_problem = _read_index(ckpt_dir)
  candidates = _scan(ckpt_dir)
  index_path = os.path.join(ckpt_dir, _INDEX)
  if not candidates and index_name is None:  # No checkpoint at all: nothing to lose.
    if index_problem != "missing" and chief:
      # Removed, or the CheckpointManager would fail on it.
      with _writing(index_path):
        os.remove(index_path)
      log(f"removed the {index_problem} checkpoint index {index_path}: no checkpoint files")
    return None
  if candidates and (index_problem or index_name != os.path.basename(candidates[0][1])):
    log(f"checkpoint index {index_path} is {index_problem or f'behind (it names {index_name})'}; "
        f"checking the {len(candidates)} ckpt-N files instead")

  damaged, mismatch, restored = [], None, None
  for number, prefix in candidates:
    name = os.path.basename(prefix)
    damage = _verify(prefix)
    if damage:
      log(f"skipping {name}: damaged ({damage}); falling back to the previous checkpoint")
      damaged.append(name)
      continue
    saved = [v.numpy() for v in variables]
    try:
      status = ckpt.restore(prefix)
      if partial:
        status.expect_partial()
      status.assert_existing_objects_matched()
    except (ValueError, AssertionError, KeyError, TypeError, tf.errors.OpError) as e:
      for v, value in zip(variables, saved):  # Leave the caller's objects as they were.
        v.assign(value)
      mismatch = _first_line(e, 200)
      break
    restored = (number, prefix)
    break

  if restored:
    number, prefix = restored
    if chief and (index_problem or index_name != os.path.basename(prefix)):
      keep = [p for n, p in sorted(candidates)
              if n <= number and os.path.basename(p) not in damaged]
      _write_index(ckpt_dir, prefix, keep)
    if restart_from_scratch:
      log(f"restart_from_scratch ignored: {os.path.basename(prefix)} restores (a healthy "
          "workdir always resumes)")
    return prefix

  if mismatch:
    message = _mismatch_message(workdir, mismatch, training)
  else:
    problems = [f"{name} is damaged" for name in damaged] or [f"the index is {index_problem}"]
    fix = ("pass --restart_from_scratch to discard them and start again" if training else
           "retrain")
    message = f"no checkpoint in {ckpt_dir} restores ({'; '.join(problems)}): {fix}"
  if not restart_from_scratch:
    raise InputError(message)
  if chief:
    for sub in ("checkpoints", "summaries"):
      if os.path.isdir(os.path.join(workdir, sub)):
        with _writing(os.path.join(workdir, sub)):
          shutil.rmtree(os.path.join(workdir, sub))
    log(f"restart_from_scratch: discarded the checkpoints and summaries in {workdir} "
        f"({message.split(' (', 1)[0]})")
  return None


def restore(workdir, checkpoint, strategy=None):
  """Restores the newest intact checkpoint written by `run` into the given objects.

  For programs that only need trained weights (export, evaluation): pass the same dict keys that
  training used (classifier.train uses {"model", "optimizer"}; an optimizer may be left out).
  Damaged checkpoints are skipped as in `run`; checkpoints of which none restores, or written by
  another network, are an InputError.

  Returns:
    the restored step (0 when workdir holds no checkpoint).
  """
  strategy = strategy or tf.distribute.get_strategy()
  step, ckpt = _make_checkpoint(strategy, checkpoint)
  restored = _resume(ckpt, _variables(checkpoint.values()), workdir, chief=False, partial=True,
                     restart_from_scratch=False, training=False,
                     log=lambda line: print(line, flush=True))
  return int(step.numpy()) if restored else 0


# -------------------------------------------------------------------------------------------------
# Exact resume: the training split in memory and batches that are a pure function of the step.
# -------------------------------------------------------------------------------------------------


def materialize(ds, *, limit_bytes=None, what="the training split"):
  """The elements of an unbatched, finite dataset as stacked numpy arrays, or None.

  Holding the split in memory is what makes batch `s` a pure function of (seed, s), so a resumed
  run starts its input at step s at no cost. That is only right when iterating `ds` again gives
  the same elements: a pipeline that re-randomises on every pass (data.load's `flip`, a
  reshuffling dataset) would be frozen at its first pass, so a second pass is compared with the
  first on its first elements and such a dataset streams instead. A split larger than
  `limit_bytes` (default MATERIALIZE_LIMIT_BYTES) streams too.

  Returns:
    (arrays or None, number of examples or None when unknown, a log line saying which).
  """
  limit = MATERIALIZE_LIMIT_BYTES if limit_bytes is None else limit_bytes
  stream = "streaming it (a resumed run replays it)"
  cardinality = int(ds.cardinality())
  if cardinality == tf.data.INFINITE_CARDINALITY:
    return None, None, f"input: {what} is endless: {stream}"
  known = cardinality if cardinality >= 0 else None
  specs = tf.nest.flatten(ds.element_spec)
  if known is not None and all(s.shape.is_fully_defined() and s.dtype != tf.string
                               for s in specs):
    size = known * sum(int(np.prod(s.shape)) * s.dtype.size for s in specs)
    if size > limit:
      return None, known, (f"input: {what} ({known} examples) is larger than "
                           f"{limit / 2**20:.0f} MiB: {stream}")

  def head():
    return next(ds.take(_PURITY_PROBE).batch(_PURITY_PROBE).as_numpy_iterator(), None)

  first = head()
  if first is None:
    return None, 0, f"input: {what} is empty"
  if not all(np.array_equal(a, b) for a, b in zip(tf.nest.flatten(first),
                                                    tf.nest.flatten(head()))):
    return None, known, (f"input: {what} changes from one pass to the next (random "
                         f"augmentation such as flips): {stream}")
  chunks, total, count = [], 0, 0
  for chunk in ds.batch(1024).as_numpy_iterator():
    chunks.append(chunk)
    total += sum(a.nbytes for a in tf.nest.flatten(chunk))
    count += len(tf.nest.flatten(chunk)[0])
    if total > limit:
      return None, known, f"input: {what} is larger than {limit / 2**20:.0f} MiB: {stream}"
  arrays = tf.nest.map_structure(lambda *a: np.concatenate(a), *chunks)
  return arrays, count, (f"input: {what} in memory ({count} examples); each batch is a function "
                         "of (seed, step)")


def shuffled_positions(start, size, seed):
  """(counter, epoch, index) for counter = start, start + 1, ...: an endless run of epochs.

  Element `counter` of the run is element `index` of the split, where each epoch visits the
  `size` elements in an order fixed by (seed, epoch) (tf.random.experimental.index_shuffle, no
  state). A run that resumes at element `start` therefore continues exactly where the
  uninterrupted run would be.
  """
  size = int(size)
  if size < 1:
    raise ValueError(f"shuffled_positions needs size >= 1, got {size}")
  seed = tf.cast(seed, tf.int64)

  def locate(counter):
    epoch = counter // size
    index = tf.random.experimental.index_shuffle(counter % size, tf.stack([seed, epoch]),
                                                 size - 1)
    return counter, epoch, index

  return tf.data.Dataset.range(int(start), np.iinfo(np.int64).max).map(locate)


# -------------------------------------------------------------------------------------------------
# Summaries and the progress line.
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
  return InputError(f"training diverged at step {step} ({what}); {kept}; lower --learning_rate")


# -------------------------------------------------------------------------------------------------
# The loop.
# -------------------------------------------------------------------------------------------------


def run(*, workdir, strategy, checkpoint, train_step, dataset, num_steps, log_every=100,
        checkpoint_every=1000, hooks=(), restart_from_scratch=False):
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
    raise InputError("num_steps must be >= 0 and log_every, checkpoint_every >= 1")
  hooks = tuple((int(every), fn) for every, fn in hooks)
  if any(every < 1 for every, _ in hooks):
    raise InputError("hook periods must be >= 1")
  check_workdir(workdir)
  log = lambda line: print(line, flush=True)  # pylint: disable=unnecessary-lambda-assignment

  step, ckpt = _make_checkpoint(strategy, checkpoint)
  variables = [step] + _variables(checkpoint.values())
  chief = is_chief(strategy)
  # Every worker restores what the chief wrote (workdir is on a shared file system).
  restored = _resume(ckpt, variables, workdir, chief=chief, partial=False,
                     restart_from_scratch=restart_from_scratch, training=True, log=log)
  if not restored:
    # A fresh root: a restore that failed (another network, then restart_from_scratch) leaves
    # deferred restorations on the old one, e.g. of save_counter from files now discarded.
    step, ckpt = _make_checkpoint(strategy, checkpoint)
  start = int(step.numpy())
  if restored:
    log(f"restored {os.path.basename(restored)} (step {start}) from "
        f"{os.path.dirname(restored)}")
  if start >= num_steps:
    log(f"step {start}/{num_steps}: nothing to do")
    return {"step": start}

  ckpt_dir = _checkpoint_dir(workdir, strategy)
  with _writing(workdir):
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

  float_variables = [v for v in _variables(checkpoint.values())
                     if tf.as_dtype(v.dtype).is_floating]

  @tf.function
  def variables_finite():
    if not float_variables:
      return tf.constant(True)
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v)))
                          for v in float_variables])

  with _writing(os.path.join(workdir, "summaries")):
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
        with _writing(os.path.join(workdir, "summaries")):
          write_scalars(writer, current, {**metrics, "steps_per_sec": rate})
      for every, fn in hooks:
        if current % every == 0:
          fn(current, dict(metrics))
      if current % checkpoint_every == 0 or done:
        if not bool(variables_finite()):
          raise _diverged(current, "non-finite weights", manager.latest_checkpoint)
        with _writing(ckpt_dir):
          manager.save(checkpoint_number=current)
  finally:
    writer.close()
  metrics["step"] = current
  if not chief:
    shutil.rmtree(ckpt_dir, ignore_errors=True)
  return metrics
