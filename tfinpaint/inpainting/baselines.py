"""Classical inpainting baselines the papers compare against.

Telea's fast marching method and Navier-Stokes inpainting (both OpenCV,
radius 3) and PatchMatch (the `pypatchmatch` package). They take the same
inputs as the learned methods, [-1, 1] NHWC images and library masks
(1 = known), so the evaluation tables treat every method alike. The libraries
work on 8-bit images; the known pixels of the result are pasted back from the
float input so that only the hole differs from the input.

OpenCV and pypatchmatch are optional: `pip install "tfinpaint[baselines]"`.
"""

import numpy as np

from tfinpaint import images as images_lib
from tfinpaint.errors import InputError

NAMES = ("telea", "navier_stokes", "patchmatch")

OPENCV_RADIUS = 3
# PatchMatch compares (2 * 3 + 1)^2 patches, the size its examples use; it
# works on images as small as 8x8 and is fast for 28x28 to 64x64 images.
PATCHMATCH_PATCH_SIZE = 3
PATCHMATCH_SEED = 0

_INSTALL = 'pip install "tfinpaint[baselines]"'


def inpaint(name, images, masks):
  """Fills the missing pixels with a classical method.

  Args:
    name: one of NAMES.
    images: [N, H, W, C] in [-1, 1], C = 1 or 3 (numpy or tensor).
    masks: [N, H, W, 1] (or [1, H, W, 1]), 1 = known, 0 = missing; values
      >= 0.5 count as known.

  Returns:
    np.float32 [N, H, W, C] in [-1, 1]; known pixels equal the input exactly.
    PatchMatch is seeded, so results are reproducible.
  """
  if name not in NAMES:
    raise InputError(f"unknown baseline {name!r}; expected one of {', '.join(NAMES)}")
  images, known = _check(images, masks)
  fill = _patchmatch_fill() if name == "patchmatch" else _opencv_fill(name)
  out = images.copy()
  for i in range(images.shape[0]):
    hole = ~known[i]
    if not hole.any():
      continue
    if not known[i].any():
      raise InputError(f"baseline {name}: image {i} has no known pixel to fill from")
    image8 = images_lib.to_uint8(images_lib.to_unit(images[i]))  # [H, W] or [H, W, 3]
    hole8 = hole.astype(np.uint8) * 255
    filled = np.asarray(fill(image8, hole8), np.float32) / 255.0
    filled = images_lib.to_signed(filled.reshape(images[i].shape))
    out[i] = np.where(hole[..., None], filled, images[i])
  return out


def _opencv_fill(name):
  try:
    import cv2  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise InputError(f"baseline {name} needs OpenCV: {_INSTALL}") from None
  flags = cv2.INPAINT_TELEA if name == "telea" else cv2.INPAINT_NS
  return lambda image8, hole8: cv2.inpaint(image8, hole8, OPENCV_RADIUS, flags)


def _patchmatch_fill():
  try:
    import patchmatch  # pylint: disable=import-outside-toplevel
  except ImportError:
    patchmatch = None
  if patchmatch is None or not getattr(patchmatch, "patchmatch_available", False):
    raise InputError(f"baseline patchmatch needs a working pypatchmatch: {_INSTALL}")

  def fill(image8, hole8):
    grey = image8.ndim == 2
    rgb = np.stack([image8] * 3, axis=-1) if grey else image8
    patchmatch.set_random_seed(PATCHMATCH_SEED)
    out = patchmatch.inpaint(rgb, hole8, patch_size=PATCHMATCH_PATCH_SIZE)
    return out[..., 0] if grey else out

  return fill


def _check(images, masks):
  """Validates inputs; returns (float32 images, bool known [N, H, W])."""
  images = np.array(images, dtype=np.float32)
  masks = np.asarray(masks, dtype=np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or 0 in images.shape:
    raise InputError(f"baselines need [N, H, W, 1 or 3] images, got shape {images.shape}")
  n, h, w = images.shape[:3]
  if masks.ndim != 4 or masks.shape[1:] != (h, w, 1) or masks.shape[0] not in (1, n):
    raise InputError(f"baselines need a [{n}, {h}, {w}, 1] mask, got shape {masks.shape}")
  if np.isnan(images).any() or np.isnan(masks).any():
    raise InputError("baselines got NaN in the image or mask")
  known = np.broadcast_to(masks[..., 0] >= 0.5, (n, h, w))
  return images, known
