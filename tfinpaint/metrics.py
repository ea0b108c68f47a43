"""PSNR and SSIM per image, over the whole image or over a region only.

The papers report inpainting quality both over whole images and over the hole
alone (the known pixels are pasted back, so whole-image numbers flatter every
method). Both metrics take [-1, 1] images, as used inside tfinpaint, and give
exactly the values of the usual [0, 1] definitions with max_val = 1:
images are mapped with `images.to_unit` first, never rescaled constants.

Region scoring: `mask` is [N, H, W, 1] with 1 = pixel to score (the region of
interest), as in the contract. To score the hole of a library mask M
(1 = known) pass `1 - M`. Masks are used as weights, so a binary mask gives a
plain mean over the selected pixels.

Conventions chosen here:
  * PSNR of identical images (or regions) is +inf, like tf.image.psnr;
    table code must print it as "inf".
  * A region with no pixel to score gives NaN for that image.
  * SSIM is the mean of tf.image.ssim's local SSIM map (11x11 Gaussian
    window, sigma 1.5, K1 = 0.01, K2 = 0.03, 'VALID' padding, channels
    averaged). Its map entry (i, j) belongs to the window centred on pixel
    (i + 5, j + 5); region SSIM is the mean of the map over windows whose
    centre pixel is in the region. Region pixels within 5 px of the border
    are therefore never window centres (as in whole-image SSIM).
"""

import numpy as np
import tensorflow as tf

from tfinpaint import images
from tfinpaint.errors import InputError

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def psnr(a, b, mask=None):
  """Peak signal-to-noise ratio in dB per image; see the module docstring.

  Args:
    a, b: [N, H, W, C] images in [-1, 1] (numpy arrays or tensors).
    mask: optional [N, H, W, 1] (or [1, H, W, 1]), 1 = pixel to score.

  Returns:
    np.float64 [N]: 10 log10(1 / MSE) on [0, 1] images; inf where equal.
  """
  a, b = _pair(a, b)
  sq = np.square(images.to_unit(a) - images.to_unit(b)).mean(axis=-1)  # [N, H, W]
  if mask is None:
    mse = sq.mean(axis=(1, 2))
  else:
    mse = _weighted_mean(sq, _weights(mask, a.shape))
  with np.errstate(divide="ignore"):
    return 10.0 * np.log10(1.0 / mse)


def ssim(a, b, mask=None):
  """Structural similarity per image; see the module docstring.

  Args:
    a, b: [N, H, W, C] images in [-1, 1], H and W at least 11.
    mask: optional [N, H, W, 1] (or [1, H, W, 1]), 1 = pixel to score.

  Returns:
    np.float64 [N]; equal to tf.image.ssim(to_unit(a), to_unit(b), 1.0)
    when mask is None.
  """
  a, b = _pair(a, b)
  if min(a.shape[1:3]) < SSIM_FILTER_SIZE:
    raise InputError(f"ssim needs images of at least {SSIM_FILTER_SIZE}x{SSIM_FILTER_SIZE}"
                     f" pixels, got {a.shape[1]}x{a.shape[2]}")
  ssim_map = ssim_map_unit(images.to_unit(a).astype(np.float32),
                           images.to_unit(b).astype(np.float32))
  if mask is None:
    return ssim_map.mean(axis=(1, 2))
  margin = SSIM_FILTER_SIZE // 2
  weights = _weights(mask, a.shape)[:, margin:-margin, margin:-margin]
  return _weighted_mean(ssim_map, weights)


def ssim_map_unit(a01, b01):
  """tf.image.ssim's local SSIM map of [0, 1] images: np.float64 [N, H-10, W-10]."""
  ssim_map = tf.image.ssim(tf.convert_to_tensor(a01, tf.float32),
                           tf.convert_to_tensor(b01, tf.float32), max_val=1.0,
                           filter_size=SSIM_FILTER_SIZE, filter_sigma=SSIM_FILTER_SIGMA,
                           return_index_map=True)
  return np.asarray(ssim_map, np.float64)


def _pair(a, b):
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  if a.ndim != 4 or a.shape != b.shape:
    raise InputError(f"metrics need two [N, H, W, C] images of the same shape, got "
                     f"{a.shape} and {b.shape}")
  if np.isnan(a).any() or np.isnan(b).any():
    raise InputError("metrics got an image containing NaN")
  return a, b


def _weights(mask, image_shape):
  """[N, H, W, 1] mask -> float64 [N, H, W] weights, broadcast over the batch."""
  mask = np.asarray(mask, np.float64)
  n, h, w = image_shape[:3]
  if mask.ndim != 4 or mask.shape[1:] != (h, w, 1) or mask.shape[0] not in (1, n):
    raise InputError(f"metrics mask must be [{n}, {h}, {w}, 1], got {mask.shape}")
  if np.isnan(mask).any() or mask.min() < 0.0 or mask.max() > 1.0:
    raise InputError("metrics mask values must be in [0, 1]")
  return np.broadcast_to(mask[..., 0], (n, h, w))


def _weighted_mean(values, weights):
  """Per-image weighted mean of [N, h, w] values; NaN where the weights are all 0."""
  total = weights.sum(axis=(1, 2))
  with np.errstate(invalid="ignore", divide="ignore"):
    return (values * weights).sum(axis=(1, 2)) / total
