"""Tiled image sheets such as OpenCV's digits.png (5000 handwritten digits, 20x20 cells).

The sheet is a real, small, locally installed digit set, so digit experiments
need no download. Cells are read in row-major order, `per_class` consecutive
cells per class. With frame=mnist (the default) each cell is framed the way
MNIST was built: the digit's bounding box is scaled to fit a 20x20 box
(aspect kept) and placed in a 28x28 field with its centre of mass in the
middle, so a classifier or GAN trained here sees MNIST-like digits. Every
10th cell of each class (index 0, 10, 20, ...) is the test split.
"""

import os
import urllib.parse

import numpy as np
import tensorflow as tf
from PIL import Image

from tfinpaint.data.common import DatasetInfo
from tfinpaint.images import read_image
from tfinpaint.errors import InputError

DEFAULTS = {"cell": 20, "per_class": 500, "frame": "mnist"}
TEST_EVERY = 10
FRAME, BOX = 28, 20  # MNIST: 20x20 box inside a 28x28 field.
INK = 0.1  # Pixels above this count for the bounding box (drops faint specks).


def parse(arg):
  """'PATH?cell=20&per_class=500&frame=mnist' -> (path, options dict)."""
  path, sep, query = arg.rpartition("?")
  if not sep or "=" not in query:
    return arg, dict(DEFAULTS)
  options = dict(DEFAULTS)
  for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
    if key not in DEFAULTS:
      raise InputError(f"unknown sheet option {key!r}: expected {', '.join(DEFAULTS)}")
    if key == "frame":
      if value not in ("mnist", "none"):
        raise InputError(f"sheet frame must be 'mnist' or 'none', got {value!r}")
      options[key] = value
    else:
      try:
        options[key] = int(value)
      except ValueError:
        raise InputError(f"sheet option {key} must be an integer, got {value!r}") from None
      if options[key] < 1:
        raise InputError(f"sheet option {key} must be positive, got {value!r}")
  return path, options


def cells(sheet, cell):
  """[H, W, C] sheet -> [N, cell, cell, C] cells in row-major order."""
  h, w, c = sheet.shape
  if h % cell or w % cell:
    raise InputError(f"sheet of {w}x{h} pixels is not a whole number of {cell}x{cell} cells")
  grid = sheet.reshape(h // cell, cell, w // cell, cell, c).transpose(0, 2, 1, 3, 4)
  return grid.reshape(-1, cell, cell, c)


def mnist_frame(digit):
  """[h, w] float [0, 1] digit -> [28, 28] the way MNIST framed NIST digits."""
  ink = digit > INK
  if not ink.any():
    return np.zeros((FRAME, FRAME), np.float32)
  rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
  digit = digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
  h, w = digit.shape
  scale = BOX / max(h, w)
  nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
  boxed = Image.fromarray(digit.astype(np.float32), "F").resize((nw, nh), Image.BILINEAR)
  boxed = np.clip(np.asarray(boxed, np.float32), 0.0, 1.0)
  mass = boxed.sum()
  cy = (boxed.sum(axis=1) * np.arange(nh)).sum() / mass
  cx = (boxed.sum(axis=0) * np.arange(nw)).sum() / mass
  centre = (FRAME - 1) / 2.0
  top = int(np.clip(round(centre - cy), 0, FRAME - nh))
  left = int(np.clip(round(centre - cx), 0, FRAME - nw))
  out = np.zeros((FRAME, FRAME), np.float32)
  out[top:top + nh, left:left + nw] = boxed
  return out


def load(arg, split):
  """Returns (raw dataset of (float [0, 1] [H, W, C], int32 label), DatasetInfo)."""
  path, options = parse(arg)
  if not os.path.isfile(path):
    raise InputError(f"sheet image not found: {path}")
  mnist = options["frame"] == "mnist"
  sheet = read_image(path, channels=1 if mnist else None)
  all_cells = cells(sheet, options["cell"])
  per_class = options["per_class"]
  if len(all_cells) % per_class:
    raise InputError(f"{len(all_cells)} cells of {options['cell']}px in {path} are not a "
                     f"whole number of classes of per_class={per_class}")
  num_classes = len(all_cells) // per_class
  index = np.arange(len(all_cells))
  chosen = index[((index % per_class) % TEST_EVERY == 0) == (split == "test")]
  if not len(chosen):
    raise InputError(f"split {split!r} of {path} is empty")
  labels = (chosen // per_class).astype(np.int32)
  ds = tf.data.Dataset.from_tensor_slices((all_cells[chosen], labels))
  if mnist:  # Framed lazily (in parallel), so load() returns at once.

    def frame(cell, label):
      framed = tf.numpy_function(lambda c: mnist_frame(c[..., 0])[..., None], [cell],
                                 tf.float32, stateful=False)
      return tf.ensure_shape(framed, (FRAME, FRAME, 1)), label

    ds = ds.map(frame, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  names = tuple(str(i) for i in range(num_classes))
  return ds, DatasetInfo(num_classes, names, len(chosen))
