"""Small deterministic shape images for tests: ten classes a tiny model can learn.

Class k is one simple shape (disc, ring, checker, ...) drawn at a jittered
position and size with a faint per-example texture; the class is plain from
the pixels, so tests can check that a classifier or an inpainter recovers
it. Train and test examples come from disjoint seeds and never coincide.
"""

import functools

import numpy as np
import tensorflow as tf

from tfinpaint.data.common import DatasetInfo

CLASS_NAMES = ("disc", "ring", "checker", "corner", "hbar", "vbar", "plus", "cross",
               "triangle", "dots")
PER_CLASS = {"train": 50, "test": 10}


def shape_mask(label, u, v, r):
  """Boolean mask of shape `label` on centred coordinates u (x, right), v (y, down)."""
  a, b = np.abs(u), np.abs(v)
  t = 0.3 * r  # Stroke width.
  d = np.hypot(u, v)
  square = np.maximum(a, b) < r
  return [
      d < r,
      (d < r) & (d > r - t),
      square & (u * v > 0),
      square & ((u < -r + t) | (v > r - t)),
      (a < r) & (b < t / 1.5),
      (b < r) & (a < t / 1.5),
      ((a < r) & (b < t / 2)) | ((b < r) & (a < t / 2)),
      ((np.abs(u - v) < t * 0.7) | (np.abs(u + v) < t * 0.7)) & square,
      (v < r) & (v > -r) & (a < (v + r) / 2),
      np.hypot(a - r * 0.6, b) < r * 0.35,
  ][label]


def render(label, size, rng):
  """One [size, size, 1] float32 image in [0, 1]."""
  grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
  v, u = np.meshgrid(grid, grid, indexing="ij")
  cx, cy = rng.uniform(-0.1, 0.1, size=2)
  r = rng.uniform(0.55, 0.75)
  ink = rng.uniform(0.7, 1.0)
  image = np.where(shape_mask(label, u - cx, v - cy, r), ink, 0.0)
  image = image + rng.uniform(0.0, 0.05, size=(size, size))  # Texture: no two alike.
  return np.clip(image, 0.0, 1.0).astype(np.float32)[..., None]


@functools.lru_cache(maxsize=8)
def arrays(split, image_size):
  """(pixels [N, S, S, 1], labels [N]); cached because tests load these repeatedly."""
  n = PER_CLASS[split] * len(CLASS_NAMES)
  offset = 0 if split == "train" else PER_CLASS["train"] * len(CLASS_NAMES)
  labels = np.arange(n, dtype=np.int32) % len(CLASS_NAMES)
  pixels = np.stack([render(int(labels[i]), image_size, np.random.default_rng(offset + i))
                     for i in range(n)])
  pixels.flags.writeable = labels.flags.writeable = False
  return pixels, labels


def load(split, image_size):
  """Returns (raw dataset of (float [0, 1] [S, S, 1], int32 label), DatasetInfo)."""
  pixels, labels = arrays(split, image_size)
  ds = tf.data.Dataset.from_tensor_slices((pixels, labels))
  return ds, DatasetInfo(len(CLASS_NAMES), CLASS_NAMES, len(labels))
