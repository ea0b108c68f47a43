"""Exact resume: the training split in memory and batches that are a pure function of the step.

The trainers make batch `s` a pure function of (seed, s) over the training split held in memory
(`materialize`, `shuffled_positions`), so a run killed at any step and restarted ends bitwise
equal to the uninterrupted run on CPU, at no cost; a split that does not fit (or re-randomises
on every pass) streams, and a resumed run replays it.
"""

import numpy as np
import tensorflow as tf

# Training splits up to this size are held in memory (see `materialize`); bigger ones stream and
# a resumed run replays the pipeline up to its step. Large enough for every shipped config
# (Fashion-MNIST 188 MB, Stanford Cars at 64x64x3 400 MB, as float32).
MATERIALIZE_LIMIT_BYTES = 1 << 30
_PURITY_PROBE = 256  # elements of a second pass compared with the first (see `materialize`).


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
