"""Tests for tfinpaint.metrics against hand-computed and independent values."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from tfinpaint import images, masks, metrics
from tfinpaint.errors import InputError


def _rand(shape, seed):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_psnr_constant_images_hand_computed():
  # [-1, 1] values 0 and 0.2 are 0.5 and 0.6 in [0, 1]: MSE 0.01 -> 20 dB.
  a = np.zeros((2, 8, 8, 3), np.float32)
  b = np.full((2, 8, 8, 3), 0.2, np.float32)
  b[1] = -0.02  # 0.49 in [0, 1]: MSE 1e-4 -> 40 dB.
  np.testing.assert_allclose(metrics.psnr(a, b), [20.0, 40.0], rtol=1e-6)


def test_psnr_matches_tf_image_psnr_on_unit_range():
  a, b = _rand((3, 16, 12, 3), 0), _rand((3, 16, 12, 3), 1)
  expected = tf.image.psnr(images.to_unit(a), images.to_unit(b), max_val=1.0).numpy()
  np.testing.assert_allclose(metrics.psnr(tf.constant(a), tf.constant(b)), expected, rtol=1e-5)


def test_psnr_identical_is_inf_and_empty_region_is_nan():
  a = _rand((2, 8, 8, 1), 2)
  assert np.all(np.isposinf(metrics.psnr(a, a)))
  region = np.ones((2, 8, 8, 1), np.float32)
  region[1] = 0.0
  out = metrics.psnr(a, a + 0.2, region)
  np.testing.assert_allclose(out[0], 20.0, rtol=1e-5)
  assert np.isnan(out[1])


def test_psnr_region_scores_only_selected_pixels():
  m = masks.make("center", 1, 8, 8)  # 1 = known; the hole is the 4x4 centre.
  a = np.zeros((1, 8, 8, 1), np.float32)
  b = np.where(m == 0, 0.2, 0.002).astype(np.float32)  # Unit errors 0.1 and 0.001.
  np.testing.assert_allclose(metrics.psnr(a, b, 1.0 - m), [20.0], rtol=1e-5)
  np.testing.assert_allclose(metrics.psnr(a, b, m), [60.0], rtol=1e-5)
  whole_mse = (16 * 0.01 + 48 * 1e-6) / 64
  np.testing.assert_allclose(metrics.psnr(a, b), [10 * np.log10(1 / whole_mse)], rtol=1e-5)
  # A [1, H, W, 1] mask broadcasts over the batch.
  two = np.concatenate([a, a])
  np.testing.assert_allclose(metrics.psnr(two, np.concatenate([b, b]), 1.0 - m), [20.0, 20.0],
                             rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 28, 28, 1), (2, 20, 24, 3)])
def test_ssim_whole_image_equals_tf_image_ssim_on_unit_range(shape):
  a = _rand(shape, 3)
  b = np.clip(a + 0.3 * _rand(shape, 4), -1, 1)
  expected = tf.image.ssim(images.to_unit(a), images.to_unit(b), max_val=1.0).numpy()
  np.testing.assert_allclose(metrics.ssim(a, b), expected, rtol=1e-5, atol=1e-6)


def test_ssim_constant_images_hand_computed():
  # Constant images: contrast-structure is 1 and luminance is
  # (2pq + C1) / (p^2 + q^2 + C1) with p = 0.5, q = 0.6, C1 = 0.01^2 (max_val 1).
  a = np.zeros((1, 16, 16, 1), np.float32)
  b = np.full((1, 16, 16, 1), 0.2, np.float32)
  expected = (2 * 0.5 * 0.6 + 1e-4) / (0.25 + 0.36 + 1e-4)  # 0.98361
  # tf.image.ssim works in float32: its covariance E[xy] - E[x]E[y] cancels to
  # ~1e-7 instead of 0, which moves cs by ~2e-4 relative to C2 = 9e-4. Wrong
  # constants or ranges (e.g. max_val=2 on [-1, 1]: 0.0099) are far outside.
  np.testing.assert_allclose(metrics.ssim(a, b), [expected], atol=1e-3)


def test_ssim_identity_is_one():
  a = _rand((2, 16, 16, 3), 5)
  np.testing.assert_allclose(metrics.ssim(a, a), [1.0, 1.0], rtol=1e-5)
  hole = 1.0 - masks.make("center", 2, 16, 16)
  np.testing.assert_allclose(metrics.ssim(a, a, hole), [1.0, 1.0], rtol=1e-5)


def _reference_ssim_map(x, y):
  """Independent SSIM map of [0, 1] HWC images: scipy correlate, 'valid' crop."""
  ax = np.arange(11) - 5.0
  g = np.exp(-ax ** 2 / (2 * 1.5 ** 2))
  kernel = np.outer(g, g) / np.outer(g, g).sum()
  c1, c2 = 0.01 ** 2, 0.03 ** 2
  maps = []
  for ch in range(x.shape[-1]):
    f = lambda z: ndimage.correlate(z, kernel, mode="constant")[5:-5, 5:-5]
    xc, yc = x[..., ch].astype(np.float64), y[..., ch].astype(np.float64)
    mx, my = f(xc), f(yc)
    vx, vy, cxy = f(xc * xc) - mx ** 2, f(yc * yc) - my ** 2, f(xc * yc) - mx * my
    maps.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
  return np.mean(maps, axis=0)


def test_ssim_hole_matches_numpy_reference():
  a = _rand((2, 20, 18, 3), 6)
  b = np.clip(a + 0.5 * _rand((2, 20, 18, 3), 7), -1, 1)
  b[0, :, :9] = a[0, :, :9]  # Left half of image 0 unchanged.
  known = masks.make("pattern", 2, 20, 18, seed=1)
  got = metrics.ssim(a, b, 1.0 - known)
  for i in range(2):
    ref_map = _reference_ssim_map(images.to_unit(a[i]), images.to_unit(b[i]))
    hole = (known[i, 5:-5, 5:-5, 0] == 0)
    np.testing.assert_allclose(got[i], ref_map[hole].mean(), rtol=1e-4)
    # Sanity of the reference itself: whole-image mean equals tf.image.ssim.
    np.testing.assert_allclose(ref_map.mean(), metrics.ssim(a[i:i + 1], b[i:i + 1])[0], rtol=1e-4)


def test_ssim_region_uses_windows_centred_in_region():
  a = _rand((1, 20, 30, 1), 9)
  b = np.clip(a + 0.5 * _rand((1, 20, 30, 1), 10), -1, 1)
  b[:, :, :16] = a[:, :, :16]  # Windows centred on columns 5-10 see no change.
  region = np.zeros((1, 20, 30, 1), np.float32)
  region[:, :, 5:11] = 1.0
  np.testing.assert_allclose(metrics.ssim(a, b, region), [1.0], rtol=1e-5)
  changed = np.zeros_like(region)
  changed[:, :, 21:25] = 1.0
  assert metrics.ssim(a, b, changed)[0] < 0.9
  border = np.zeros_like(region)
  border[:, :, :5] = 1.0  # No window fits centred within 5 px of the border.
  assert np.isnan(metrics.ssim(a, b, border)[0])


def test_metric_input_errors():
  a = _rand((1, 16, 16, 1), 8)
  with pytest.raises(InputError):
    metrics.psnr(a, a[:, :8])
  with pytest.raises(InputError):
    metrics.psnr(a[0], a[0])
  with pytest.raises(InputError):
    metrics.psnr(a, np.full_like(a, np.nan))
  with pytest.raises(InputError):
    metrics.psnr(a, a, np.ones((1, 16, 16, 3)))
  with pytest.raises(InputError):
    metrics.psnr(a, a, np.full((1, 16, 16, 1), 2.0))
  with pytest.raises(InputError, match="at least 11x11"):
    metrics.ssim(a[:, :10], a[:, :10])
