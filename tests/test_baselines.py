"""Tests for tfinpaint.inpainting.baselines (OpenCV Telea / NS, PatchMatch)."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import masks
from tfinpaint.errors import InputError
from tfinpaint.inpainting import baselines


def _gradient(size, channels):
  """Smooth image off the 8-bit grid: a linear ramp per channel, inside (-1, 1)."""
  y, x = np.mgrid[0:size, 0:size] / (size - 1)
  ramps = [x - 0.5 * y, y - 0.5, 0.3 * x + 0.3 * y] if channels == 3 else [0.8 * x - 0.6 * y]
  return (np.stack(ramps, -1) * 0.9 + 0.001).astype(np.float32)[None]


@pytest.mark.parametrize("name", baselines.NAMES)
@pytest.mark.parametrize("size,channels", [(28, 1), (28, 3), (64, 3)])
def test_fills_smooth_image_and_keeps_known_pixels(name, size, channels):
  image = _gradient(size, channels)
  known = masks.make("center", 1, size, size)
  out = baselines.inpaint(name, image, known)
  assert out.shape == image.shape and out.dtype == np.float32
  assert out.min() >= -1.0 and out.max() <= 1.0
  keep = np.broadcast_to(known == 1, image.shape)
  np.testing.assert_array_equal(out[keep], image[keep])  # Exactly, not 8-bit rounded.
  hole = ~keep
  err = np.abs(out - image)[hole].mean()
  # Filling with the mean of the known pixels is the trivial baseline (~0.1 here).
  # Telea / NS reach ~0.5 of its error on a ramp, PatchMatch ~0.1.
  flat = image[keep].reshape(-1, channels).mean(axis=0)
  flat_err = np.abs(image - flat)[hole].mean()
  assert err < 0.08
  assert err < 0.75 * flat_err
  for c in range(channels):  # The fill follows the ramp.
    assert np.corrcoef(out[..., c][hole[..., c]], image[..., c][hole[..., c]])[0, 1] > 0.9


@pytest.mark.parametrize("name", baselines.NAMES)
def test_batch_independence_and_reproducibility(name):
  rng = np.random.default_rng(0)
  images = np.concatenate([_gradient(28, 3), np.clip(_gradient(28, 3) + rng.normal(
      0, 0.2, (1, 28, 28, 3)), -1, 1)]).astype(np.float32)
  known = masks.make("random", 2, 28, 28, seed=5)
  both = baselines.inpaint(name, tf.constant(images), known)
  alone = baselines.inpaint(name, images[1:], known[1:])
  np.testing.assert_array_equal(both[1:], alone)
  np.testing.assert_array_equal(both, baselines.inpaint(name, images, known))
  assert not np.allclose(both[:, known[0, ..., 0] == 0], images[:, known[0, ..., 0] == 0])


def test_no_hole_returns_input_and_mask_broadcasts():
  images = np.concatenate([_gradient(16, 1), -_gradient(16, 1)])
  np.testing.assert_array_equal(
      baselines.inpaint("telea", images, np.ones((1, 16, 16, 1))), images)
  out = baselines.inpaint("telea", images, masks.make("left", 1, 16, 16))
  assert out.shape == images.shape
  np.testing.assert_array_equal(out[:, :, 8:], images[:, :, 8:])


@pytest.mark.parametrize("args", [
    ("unknown", np.zeros((1, 8, 8, 1)), np.ones((1, 8, 8, 1))),
    ("telea", np.zeros((8, 8, 1)), np.ones((1, 8, 8, 1))),
    ("telea", np.zeros((1, 8, 8, 2)), np.ones((1, 8, 8, 1))),
    ("telea", np.zeros((1, 8, 8, 1)), np.ones((1, 8, 4, 1))),
    ("telea", np.zeros((2, 8, 8, 1)), np.ones((3, 8, 8, 1))),
    ("telea", np.full((1, 8, 8, 1), np.nan), np.ones((1, 8, 8, 1))),
    ("patchmatch", np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1))),  # Nothing known.
])
def test_rejects_bad_input(args):
  with pytest.raises(InputError):
    baselines.inpaint(*args)


@pytest.mark.parametrize("name,module", [("telea", "cv2"), ("navier_stokes", "cv2"),
                                         ("patchmatch", "patchmatch")])
def test_missing_extra_names_the_install_command(monkeypatch, name, module):
  monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError.
  with pytest.raises(InputError, match=r'pip install "tfinpaint\[baselines\]"'):
    baselines.inpaint(name, _gradient(8, 1), masks.make("center", 1, 8, 8))
