"""Which pixels are missing: named mask generators and mask-file I/O.

Every inpainting method, metric and CLI needs the same masks, so they are made
in one place. Masks follow the papers' convention: float32 [N, H, W, 1] with
1 = known pixel and 0 = missing. Mask *files* follow the OpenCV / IOPaint
convention instead, white (non-zero) = region to fill; `read_mask_file` and
`write_mask_file` are the only places that convert between the two.

Named masks are reproducible: mask i of a batch is drawn from
`np.random.default_rng([seed, i])` alone, so it does not change with the batch
size or with the masks before it.
"""

import math
import numbers

import numpy as np
from PIL import Image

from tfinpaint import images
from tfinpaint.errors import InputError

NAMES = ("center", "left", "random", "pattern")
RANDOM_RATIO = 0.8  # `random`: the probability that a pixel is missing (paper 000's 80 %)

# `pattern`: the hole grows stroke by stroke until it covers a fraction of the
# image drawn uniformly from this range. One brush stamp adds at most ~4 % of
# the area, so the final coverage stays roughly within [0.25, 0.5).
_PATTERN_COVERAGE = (0.25, 0.45)
# Brush radius as a fraction of min(height, width).
_PATTERN_RADIUS = (0.05, 0.11)


def make(name, batch, height, width, *, seed=0, ratio=RANDOM_RATIO):
  """Makes a batch of named masks.

  Args:
    name: one of NAMES.
      center: a centred rectangle of half the height and half the width
        (the central square with 25 % of the area for square images; odd sizes
        round half up).
      left: the left half, ceil(width / 2) columns, is missing.
      random: each pixel is missing independently with probability `ratio`.
      pattern: irregular blobs, thick random brush strokes covering roughly
        25-50 % of the image.
    batch, height, width: positive ints.
    seed: non-negative int; mask i depends only on (seed, i).
    ratio: probability of a missing pixel for `random`, in (0, 1).

  Returns:
    np.float32 [batch, height, width, 1], 1 = known, 0 = missing.
  """
  if name not in NAMES:
    raise InputError(f"unknown mask {name!r}; expected one of {', '.join(NAMES)}")
  batch = _positive_int("batch", batch)
  height = _positive_int("height", height)
  width = _positive_int("width", width)
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
    raise InputError(f"mask seed must be a non-negative integer, got {seed!r}")
  if name == "random":
    try:
      ratio = float(ratio)
    except (TypeError, ValueError):
      raise InputError(f"mask ratio must be a number in (0, 1), got {ratio!r}") from None
    if not 0.0 < ratio < 1.0:
      raise InputError(f"mask ratio must be in (0, 1), got {ratio}")

  out = np.ones((batch, height, width, 1), np.float32)
  for i in range(batch):
    if name == "center":
      h, w = (height + 1) // 2, (width + 1) // 2
      top, left = (height - h) // 2, (width - w) // 2
      out[i, top:top + h, left:left + w] = 0.0
    elif name == "left":
      out[i, :, :(width + 1) // 2] = 0.0
    else:
      rng = np.random.default_rng([int(seed), i])
      if name == "random":
        hole = rng.random((height, width)) < ratio
      else:
        hole = _pattern_hole(rng, height, width)
      out[i, hole] = 0.0
  return out


def read_mask_file(path, height, width, image_path=None):
  """Reads a mask file (white / non-zero = fill) as a library mask [height, width, 1].

  Any non-zero pixel in any channel marks a pixel to fill. The file must have the size of the
  image it belongs to (`image_path`, when given); it is then resized with nearest neighbour to
  height x width (the size the image is inpainted at), so the mask stays binary.

  Returns:
    np.float32 [height, width, 1], 1 = known, 0 = missing (to fill).
  """
  height = _positive_int("height", height)
  width = _positive_int("width", width)
  arr = images.read_image(path, what="mask")  # InputError for missing / corrupt files.
  hole = np.any(arr > 0.0, axis=-1)
  if image_path is not None:
    want = images.image_size(image_path)
    if hole.shape != want:
      raise InputError(f"mask {path} is {hole.shape[1]}x{hole.shape[0]} but image {image_path} "
                       f"is {want[1]}x{want[0]} (width x height)")
  if not hole.any():
    raise InputError(f"mask file marks no pixel to fill (white = fill): {path}")
  if hole.shape != (height, width):
    small = Image.fromarray(hole.astype(np.uint8) * 255)
    hole = np.asarray(small.resize((width, height), Image.NEAREST)) > 0
    if not hole.any():
      raise InputError(f"mask file marks no pixel to fill at {height}x{width}: {path}")
  return np.where(hole, 0.0, 1.0).astype(np.float32)[..., None]


def write_mask_file(path, mask):
  """Writes a library mask [H, W, 1] or [H, W] as a PNG, white = fill, atomically."""
  mask = np.asarray(mask, dtype=np.float32)
  if mask.ndim == 3 and mask.shape[-1] == 1:
    mask = mask[..., 0]
  if mask.ndim != 2 or mask.size == 0:
    raise InputError(f"mask to write must be [H, W, 1] or [H, W], got shape {mask.shape}")
  if np.isnan(mask).any():
    raise InputError("mask to write contains NaN")
  images.write_png(path, (mask < 0.5).astype(np.float32)[..., None])


def _pattern_hole(rng, height, width):
  """Irregular blobs: thick random-walk brush strokes until a target coverage.

  A stroke starts at a random point and walks 4-9 segments whose direction
  wobbles; discs of a per-stroke radius are stamped along each segment. After
  every stamp the coverage is checked, so the hole stops growing within one
  disc of the target.
  """
  size = min(height, width)
  target = rng.uniform(*_PATTERN_COVERAGE) * height * width
  hole = np.zeros((height, width), bool)
  covered = 0
  for _ in range(10000):  # Safety cap; the target is reached long before.
    radius = max(1.0, rng.uniform(*_PATTERN_RADIUS) * size)
    y, x = rng.uniform(0, height), rng.uniform(0, width)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    for _ in range(int(rng.integers(4, 10))):
      angle += rng.normal(0.0, 0.8)
      length = rng.uniform(0.1, 0.3) * size
      ny = float(np.clip(y + length * math.sin(angle), 0, height - 1))
      nx = float(np.clip(x + length * math.cos(angle), 0, width - 1))
      steps = max(1, int(math.ceil(math.hypot(ny - y, nx - x) / (0.5 * radius))))
      for t in np.linspace(0.0, 1.0, steps + 1):
        covered += _stamp(hole, y + t * (ny - y), x + t * (nx - x), radius)
        if covered >= target:
          return hole
      y, x = ny, nx
  return hole


def _stamp(hole, cy, cx, radius):
  """Sets a disc in `hole` in place; returns the number of newly set pixels."""
  h, w = hole.shape
  y0, y1 = max(0, int(cy - radius)), min(h, int(cy + radius) + 2)
  x0, x1 = max(0, int(cx - radius)), min(w, int(cx + radius) + 2)
  yy = np.arange(y0, y1)[:, None] + 0.5 - cy
  xx = np.arange(x0, x1)[None, :] + 0.5 - cx
  disc = yy * yy + xx * xx <= radius * radius
  window = hole[y0:y1, x0:x1]
  added = int(np.count_nonzero(disc & ~window))
  window |= disc
  return added


def _positive_int(what, value):
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
    raise InputError(f"mask {what} must be a positive integer, got {value!r}")
  return int(value)


def binarize(mask):
  """Tensor mask -> float32 {0, 1} (1 = known), threshold 0.5.

  Every inpainter, the Poisson blend and the served graphs accept masks with any values in
  [0, 1]; this one threshold makes them agree on which pixels are known.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (masks.py stays TF-free to import)
  return tf.cast(tf.convert_to_tensor(mask, tf.float32) >= 0.5, tf.float32)


def composite(known_values, fill, mask):
  """The one composite of the package: `known_values` where mask says known (>= 0.5), `fill`
  elsewhere. A select, not M * y + (1 - M) * fill, so a non-finite fill never leaks into the
  known pixels and known pixels are copied exactly. Tensors; broadcasts [N, H, W, 1] masks.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  known = tf.convert_to_tensor(mask, tf.float32) >= 0.5
  return tf.where(known, known_values, fill)
