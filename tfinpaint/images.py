"""Pixel ranges and image files: the one place where [0, 1] meets [-1, 1].

Inside tfinpaint pixels live in [-1, 1] (tanh generators, zero-centred
classifiers); files and SavedModel signatures use [0, 1]. Every conversion
goes through `to_signed` / `to_unit` so the two ranges never get mixed up.
Writers are atomic (temp file + rename) so a failed run never leaves a
half-written PNG behind.
"""

import os
import tempfile

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfinpaint.errors import InputError


def to_signed(x):
  """[0, 1] -> [-1, 1]. Works on numpy arrays and tensors."""
  return x * 2.0 - 1.0


def to_unit(x):
  """[-1, 1] -> [0, 1]. Works on numpy arrays and tensors."""
  return (x + 1.0) / 2.0


def read_image(path, channels=None, size=None):
  """Reads any PIL-readable file (PNG, JPEG, PGM, ...) as float32 HWC [0, 1].

  Args:
    path: file to read.
    channels: 1 or 3 to convert, None to keep grey as 1 and colour as 3.
    size: optional (height, width) to resize to (bilinear).
  """
  try:
    with Image.open(path) as img:
      img.load()
      if channels is None:
        channels = 1 if img.mode in ("1", "L", "I", "I;16", "F") else 3
      img = img.convert("L" if channels == 1 else "RGB")
      if size is not None:
        img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
      arr = np.asarray(img, dtype=np.float32) / 255.0
  except FileNotFoundError:
    raise InputError(f"no such image file: {path}") from None
  except IsADirectoryError:
    raise InputError(f"expected an image file, got a directory: {path}") from None
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise InputError(f"cannot read image {path}: {e}") from None
  return arr.reshape(arr.shape[0], arr.shape[1], channels)


def to_uint8(image01):
  """float [0, 1] HWC -> uint8 HWC (grey images lose their channel axis)."""
  arr = np.clip(np.asarray(image01, dtype=np.float32), 0.0, 1.0)
  arr = np.round(arr * 255.0).astype(np.uint8)
  return arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr


def write_png(path, image01):
  """Writes a [0, 1] HWC image as an 8-bit PNG, atomically."""
  atomic_write(path, lambda f: Image.fromarray(to_uint8(image01)).save(f, "PNG"))


def write_text(path, text):
  """Writes a text file (CSV, markdown, flags), atomically."""
  atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write(path, write_fn, mode="wb"):
  """Calls write_fn(file) on a temp file beside `path`, then renames it."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
  try:
    with os.fdopen(fd, mode) as f:
      write_fn(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def grid(columns, pad=2, scale=1):
  """Tiles images side by side: one row per image, one column per source.

  Args:
    columns: list of [N, H, W, C] arrays in [0, 1] (e.g. masked, result,
      original); grey columns are broadcast to RGB if any column is colour.
    pad: white pixels between cells.
    scale: integer nearest-neighbour upscaling, so 28x28 digits are visible.
  Returns:
    float32 [rows, cols, C] image in [0, 1].
  """
  columns = [np.asarray(c, dtype=np.float32) for c in columns]
  n, h, w = columns[0].shape[:3]
  c = max(col.shape[-1] for col in columns)
  columns = [np.broadcast_to(col, (n, h, w, c)) for col in columns]
  out = np.ones((n * (h + pad) + pad, len(columns) * (w + pad) + pad, c), np.float32)
  for j, col in enumerate(columns):
    for i in range(n):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      out[y:y + h, x:x + w] = col[i]
  if scale > 1:
    out = out.repeat(scale, axis=0).repeat(scale, axis=1)
  return out
