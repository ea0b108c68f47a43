"""Checkpoints that are trusted only once read back, and the workdir they live in.

Training never loses work:

  * The index file (`checkpoints/checkpoint`) is only a hint: every `ckpt-N` is read back in full
    (the tensor bundle checks its CRCs) before it is trusted, the newest one that restores wins
    and the log says which, and the index is rewritten to list the intact checkpoints before the
    CheckpointManager reads it (with an unreadable index the manager would start from step 0 and
    overwrite ckpt-1000, 1100, ...). Damaged ones are skipped with a log line. Folders `*_temp*`
    left by a kill during a save are removed. A workdir with checkpoints of which none restores
    is an InputError unless `restart_from_scratch` discards them explicitly; a healthy workdir
    always resumes.
  * User mistakes about the workdir (a file, read-only, full disk, a checkpoint of another
    network) are one-line InputErrors raised before anything is written.
"""

import contextlib
import errno
import os
import re
import shutil

import numpy as np
import tensorflow as tf

from tfinpaint import fileio
from tfinpaint.errors import InputError, first_line
from tfinpaint.training import strategy as strategy_lib

_CKPT_FILE = re.compile(r"^ckpt-(\d+)\.index$")
_INDEX = "checkpoint"  # the CheckpointManager's index file.


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
def writing(what):
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
      raise InputError(f"cannot write {what}: {first_line(e.message)}") from None
    if "no space left" in text or "quota exceeded" in text:
      raise InputError(f"no space left on the device while writing {what}") from None
    raise


def checkpoint_dir(workdir, strategy):
  """Chief writes workdir/checkpoints; other workers a scratch dir (they must still save)."""
  path = os.path.join(workdir, "checkpoints")
  if strategy_lib.is_chief(strategy):
    return path
  resolver = strategy.cluster_resolver
  return os.path.join(path, f".worker_{resolver.task_type}_{resolver.task_id}")


def make_checkpoint(strategy, checkpoint):
  if "step" in checkpoint:
    raise ValueError("checkpoint dict may not use the key 'step': the loop keeps its counter there")
  with strategy.scope():
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
  return step, tf.train.Checkpoint(step=step, **checkpoint)


def variables_of(objects):
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


def has_checkpoints(workdir):
  """Whether workdir/checkpoints holds any ckpt-N (intact or not)."""
  return bool(_scan(os.path.join(workdir, "checkpoints")))


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
    return None, f"unreadable ({first_line(e)})"
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
    return f"{type(e).__name__}: {first_line(e)}"
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
      with writing(path):
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
  with writing(os.path.join(ckpt_dir, _INDEX)):
    fileio.write_text(os.path.join(ckpt_dir, _INDEX), "\n".join(lines) + "\n")


def _mismatch_message(workdir, reason, training):
  fix = "--config.train.restart_from_scratch=true" if training else "retrain"
  return (f"the checkpoints in {workdir} were written by a different network ({reason}): use "
          f"the experiment's network config or {fix}")


def resume(ckpt, variables, workdir, *, chief, partial, restart_from_scratch, training, log):
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
      with writing(index_path):
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
      mismatch = first_line(e, 200)
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
    fix = ("pass --config.train.restart_from_scratch=true to discard them and start again"
           if training else
           "retrain")
    message = f"no checkpoint in {ckpt_dir} restores ({'; '.join(problems)}): {fix}"
  if not restart_from_scratch:
    raise InputError(message)
  if chief:
    for sub in ("checkpoints", "summaries"):
      if os.path.isdir(os.path.join(workdir, sub)):
        with writing(os.path.join(workdir, sub)):
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
  step, ckpt = make_checkpoint(strategy, checkpoint)
  restored = resume(ckpt, variables_of(checkpoint.values()), workdir, chief=False, partial=True,
                     restart_from_scratch=False, training=False,
                     log=lambda line: print(line, flush=True))
  return int(step.numpy()) if restored else 0
