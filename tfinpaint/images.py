"""Pixel ranges and image files: the one place where [0, 1] meets [-1, 1].

Inside tfinpaint pixels live in [-1, 1] (tanh generators, zero-centred
classifiers); files and SavedModel signatures use [0, 1]. Every conversion
goes through `to_signed` / `to_unit` so the two ranges never get mixed up.
PNGs are written through tfinpaint.fileio (atomic, readable modes).
"""

import contextlib
import re
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tfinpaint import fileio
from tfinpaint.errors import InputError


def to_signed(x):
  """[0, 1] -> [-1, 1]. Works on numpy arrays and tensors."""
  return x * 2.0 - 1.0


def to_unit(x):
  """[-1, 1] -> [0, 1]. Works on numpy arrays and tensors."""
  return (x + 1.0) / 2.0


_GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "P")


MAX_PIXELS = 64 * 1024 * 1024  # larger images are refused before they are decoded


@contextlib.contextmanager
def _opened(path, what="image"):
  """The opened image file (header read, pixels not yet), with one-line errors.

  Refuses, before decoding, an image of more than MAX_PIXELS pixels (a "decompression bomb"
  declares a huge size in a small file).
  """
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      img = Image.open(path)
  except FileNotFoundError:
    raise InputError(f"no such {what} file: {path}") from None
  except IsADirectoryError:
    raise InputError(f"expected an {what} file, got a directory: {path}") from None
  except Image.DecompressionBombError:
    raise InputError(f"{what} {path} declares more than {MAX_PIXELS // 2**20} megapixels; "
                     "tfinpaint does not decode images that large") from None
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise InputError(f"cannot read {what} {path}: {' '.join(str(e).split())}") from None
  with img:
    try:
      frames = getattr(img, "n_frames", 1)
      w, h = img.size
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
            struct.error) as e:  # a damaged multi-frame file fails while PIL counts frames
      raise InputError(f"cannot read {what} {path}: {' '.join(str(e).split()) or 'damaged'}") \
          from None
    if frames > 1:
      raise InputError(f"{what} {path} holds {frames} frames or pages; tfinpaint inpaints one "
                       "image: save the one you want as its own file")
    if w * h > MAX_PIXELS:
      raise InputError(f"{what} {path} is {w}x{h} ({w * h / 2**20:.0f} megapixels); tfinpaint "
                       f"reads images of up to {MAX_PIXELS // 2**20} megapixels")
    yield img


_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def image_size(path, what="image"):
  """(height, width) of an image file as read_image returns it (EXIF orientation applied)."""
  with _opened(path, what) as img:
    w, h = img.size
    orientation = img.getexif().get(0x0112, 1)
  return (w, h) if orientation in _ROTATED else (h, w)


def _netpbm_maxval(path, raw):
  """The declared maximum of a binary PGM/PPM (None if not one); a file whose samples exceed
  it is damaged (PIL would clip them) and refused."""
  match = re.match(rb"P([56])\s+(?:#[^\n]*\s+)*(\d+)\s+(?:#[^\n]*\s+)*(\d+)\s+"
                   rb"(?:#[^\n]*\s+)*(\d+)\s", raw)
  if not match:
    return None
  channels = 1 if match.group(1) == b"5" else 3
  w, h, maxval = (int(g) for g in match.groups()[1:])
  if maxval in (255, 65535) or not 0 < maxval < 65536:
    return maxval  # every sample fits (or PIL refuses the header itself)
  dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
  data = np.frombuffer(raw, dtype, count=min(w * h * channels,
                                             (len(raw) - match.end()) // dtype.itemsize),
                       offset=match.end())
  if data.size and int(data.max()) > maxval:
    raise InputError(f"image {path} has a sample of {int(data.max())}, above its declared "
                     f"maximum {maxval} (a damaged PGM/PPM)")
  return maxval


def read_image(path, channels=None, what="image"):
  """Reads any PIL-readable file (PNG, JPEG, PGM, TIFF, ...) as float32 HWC in [0, 1].

  8-bit images are divided by 255, 16-bit ones by 65535, 32-bit integer images by the largest
  value of their bit depth that fits the data (255 or 65535; values outside [0, 65535] are
  refused), float images are taken as [0, 1] (a float image outside [0, 1], or with NaN/Inf
  pixels, is refused). Palette images are expanded; alpha is dropped; the EXIF orientation is
  applied (a phone photo comes out the way it is shown). A binary PGM/PPM with a sample above
  its declared maximum, and an image of more than MAX_PIXELS pixels, are refused.

  Args:
    path: file to read.
    channels: 1 or 3 to convert, None to keep grey as 1 and colour as 3.
    what: the file's role in error lines ("image", "mask").
  """
  with _opened(path, what) as img:
    try:
      maxval = None
      if img.format == "PPM":
        with open(path, "rb") as f:
          maxval = _netpbm_maxval(path, f.read())
      img.load()
      img = ImageOps.exif_transpose(img)
      mode = img.mode
      if channels is None:
        channels = 1 if mode in _GREY_MODES and not (mode == "P" and _palette_is_colour(img)) \
            else 3
      if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
          if not np.isfinite(arr).all():
            raise InputError(f"{what} {path} contains NaN or Inf pixels")
          if arr.min() < 0.0 or arr.max() > 1.0:
            raise InputError(f"float {what} {path} has values outside [0, 1] "
                             f"({arr.min():.4g} to {arr.max():.4g})")
        else:
          if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(f"32-bit {what} {path} has values outside [0, 65535] "
                             f"({arr.min():.0f} to {arr.max():.0f}); save it as 8 or 16 bits "
                             "or as floats in [0, 1]")
          # The depth of the file, where it says (a 16-bit PGM of dark samples is still 16-bit);
          # else the data's (a 32-bit TIFF of 8-bit values).
          deep = (maxval or 0) > 255 or mode.startswith("I;16") or arr.max() > 255
          arr = arr / (65535.0 if deep else 255.0)
        arr = arr.astype(np.float32)[..., None]
        if channels == 3:
          arr = np.repeat(arr, 3, axis=-1)
      else:
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
      if isinstance(e, InputError):
        raise
      raise InputError(f"cannot read {what} {path}: {' '.join(str(e).split())}") from None
  return arr.reshape(arr.shape[0], arr.shape[1], channels)


def _palette_is_colour(img):
  rgb = np.asarray(img.convert("RGB"), np.int16)
  return bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))


def resize(image, height, width):
  """Bilinear, antialiased resize of HWC or NHWC images: the same op the datasets use."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = tf.image.resize(image, (int(height), int(width)), method="bilinear", antialias=True)
  return out.numpy() if hasattr(out, "numpy") else out


def to_grey(image):
  """HWC / NHWC RGB -> one channel with the ITU-R 601 weights (as tf.image.rgb_to_grayscale)."""
  weights = np.array([0.2989, 0.5870, 0.1140], np.float32)
  return np.tensordot(np.asarray(image, np.float32), weights, axes=([-1], [0]))[..., None]


MAX_SCALE = 4.0  # resizing by more than this (or changing the aspect ratio) needs force


def fit(image, shape, *, force=False, what="image"):
  """Makes an HWC [0, 1] image `shape` (H, W, C); returns (image, note or None).

  Channel conversion (grey <-> RGB) and resizing by up to 4x at the same aspect ratio (within
  10 %) are done with a note saying so; a larger change of size or aspect ratio would make the
  model see something else than the image, so it is refused unless `force`.
  """
  h, w, c = (int(d) for d in shape)
  notes = []
  if image.shape[-1] != c:
    image = to_grey(image) if c == 1 else np.repeat(image, 3, axis=-1)
    notes.append("converted to grey" if c == 1 else "grey repeated to RGB")
  ih, iw = image.shape[:2]
  if (ih, iw) != (h, w):
    scale = max(ih / h, h / ih, iw / w, w / iw)
    aspect = (iw / ih) / (w / h)
    if not force and (scale > MAX_SCALE or not 0.9 <= aspect <= 1.1):
      raise InputError(f"{what} is {iw}x{ih} but the model takes {w}x{h}: resizing would "
                       f"{'change the aspect ratio' if not 0.9 <= aspect <= 1.1 else 'scale it '}"
                       f"{'' if not 0.9 <= aspect <= 1.1 else f'by {scale:.1f}x'}; crop it to "
                       f"the model's size or pass --resize to force")
    image = np.clip(resize(image, h, w), 0.0, 1.0).astype(np.float32)
    notes.append(f"resized from {iw}x{ih} to {w}x{h}")
  return image, (", ".join(notes) or None)


def to_uint8(image01):
  """float [0, 1] HWC -> uint8 HWC (grey images lose their channel axis)."""
  arr = np.clip(np.asarray(image01, dtype=np.float32), 0.0, 1.0)
  arr = np.round(arr * 255.0).astype(np.uint8)
  return arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr


def write_png(path, image01):
  """Writes a [0, 1] HWC image as an 8-bit PNG, atomically."""
  fileio.atomic_write(path, lambda f: Image.fromarray(to_uint8(image01)).save(f, "PNG"))


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
