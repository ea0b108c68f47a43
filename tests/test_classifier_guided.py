"""Tests for classifier-guided inpainting (paper 003): energy terms by hand, init, loop semantics.

The models are tiny (random weights); every tf.function trace costs seconds on
the shared CPU, so the inpainters are module-scoped and reused.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint.errors import InputError
from tfinpaint.inpainting import classifier_guided as cg

H = W = 16
K = 4


def tiny_classifier(seed=0):
  return helpers.tiny_classifier(K, seed, H, W)


def constant_classifier(logits, height=H, width=W):
  """Logits that do not depend on the image: the content term has zero gradient."""
  inputs = keras.Input((height, width, 1))
  dense = keras.layers.Dense(len(logits))
  model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
  dense.set_weights([np.zeros((height * width, len(logits)), np.float32),
                     np.asarray(logits, np.float32)])
  return model


def center_mask(n, size=H, hole=8):
  mask = np.ones((n, size, size, 1), np.float32)
  lo = (size - hole) // 2
  mask[:, lo:lo + hole, lo:lo + hole] = 0.0
  return mask


def random_images(n, seed=0):
  return np.random.RandomState(seed).uniform(-1, 1, (n, H, W, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def jittered():
  """Random classifier, jitter on, snapshots on; traced once for the module."""
  return cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                                step_size=2.0, lambda_tv=0.01, epsilon=1e-4, max_iterations=8,
                                jitter=2, snapshot_every=3, diffusion_iterations=50)


@pytest.fixture(scope="module")
def plain():
  """Random classifier, no jitter (deterministic descent), larger iteration cap."""
  return cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                                step_size=2.0, lambda_tv=0.01, epsilon=1e-4, max_iterations=15,
                                init="zeros")


# -- energy terms against hand-computed values ------------------------------------------------

X3 = np.array([[0.0, 0.5, -1.0],
               [1.0, 0.5, 0.0],
               [0.0, -0.5, 0.5]], np.float32).reshape(1, 3, 3, 1)
MASK3 = np.ones((1, 3, 3, 1), np.float32)
MASK3[0, 1, 1, 0] = 0.0  # Only the centre pixel is missing.


def test_total_variation_by_hand():
  # Horizontal |diffs|: .5 1.5 / .5 .5 / .5 1 = 4.5; vertical: 1 1 / 0 1 / 1 .5 = 4.5.
  np.testing.assert_allclose(cg.total_variation(X3).numpy(), [9.0])
  # Band 0 = the hole only: differences touching the centre: h .5 + .5, v 0 + 1.
  band = cg.tv_band_mask(MASK3, 0)
  np.testing.assert_allclose(cg.total_variation(X3, band).numpy(), [2.0])
  np.testing.assert_allclose(cg.total_variation(X3, cg.tv_band_mask(MASK3, 1)).numpy(), [9.0])


def test_tv_band_is_dilated_hole():
  mask = np.ones((2, 9, 9, 1), np.float32)
  mask[0, 4, 4] = 0.0
  mask[1, 0, 8] = 0.0
  band = cg.tv_band_mask(mask, 2).numpy()[..., 0]
  expected = np.zeros((2, 9, 9), np.float32)
  expected[0, 2:7, 2:7] = 1.0
  expected[1, 0:3, 6:9] = 1.0
  np.testing.assert_array_equal(band, expected)
  np.testing.assert_array_equal(cg.tv_band_mask(mask, None).numpy(), np.ones_like(mask))


def test_binary_penalty_by_hand():
  # Only the centre (0.5) is missing: 1 - 0.25. Black/white cost nothing.
  np.testing.assert_allclose(cg.binary_penalty(X3, MASK3).numpy(), [0.75])
  extremes = np.array([-1.0, 1.0, 1.0, -1.0], np.float32).reshape(1, 2, 2, 1)
  np.testing.assert_allclose(cg.binary_penalty(extremes, np.zeros((1, 2, 2, 1))).numpy(), [0.0])


@pytest.mark.parametrize("tv_band,tv", [(None, 9.0), (0, 2.0)])
def test_energy_by_hand(tv_band, tv):
  # Logits [0, ln 3, 0] -> p = [.2, .6, .2]; label 1 -> .04 + .16 + .04 = .24.
  model = constant_classifier([0.0, np.log(3.0), 0.0], 3, 3)
  inpainter = cg.ClassifierInpainter(model, num_classes=3, image_shape=(3, 3, 1), lambda_tv=0.1,
                                     binary_weight=2.0, tv_band=tv_band)
  terms = {k: v.numpy() for k, v in inpainter.energy_terms(X3, [1], MASK3).items()}
  np.testing.assert_allclose(terms["content"], [0.24], rtol=1e-5)
  np.testing.assert_allclose(terms["tv"], [tv], rtol=1e-6)
  np.testing.assert_allclose(terms["binary"], [0.75], rtol=1e-6)
  np.testing.assert_allclose(terms["energy"], [0.24 + 0.1 * tv + 2.0 * 0.75], rtol=1e-5)


def test_energies_are_per_image():
  inpainter = cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1))
  x, mask = random_images(3), center_mask(3)
  together = inpainter.energy_terms(x, [0, 1, 2], mask)["energy"].numpy()
  alone = [inpainter.energy_terms(x[i:i + 1], [i], mask[i:i + 1])["energy"].numpy()[0]
           for i in range(3)]
  np.testing.assert_allclose(together, alone, rtol=1e-6)


# -- initialisation ---------------------------------------------------------------------------


def test_diffusion_fills_linear_ramp():
  # A linear function is harmonic, so the fill of an interior hole is the ramp itself.
  yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
  ramp = ((0.04 * xx - 0.03 * yy) - 0.2).reshape(1, 28, 28, 1)
  mask = np.ones((1, 28, 28, 1), np.float32)
  mask[:, 7:21, 7:21] = 0.0
  diffuse = tf.function(lambda image, known: cg.diffuse(image, known, iterations=100))
  filled = diffuse(ramp, mask).numpy()
  np.testing.assert_array_equal(filled[mask == 1], ramp[mask == 1])
  np.testing.assert_allclose(filled, ramp, atol=2e-3)
  # Nothing known at all: the fill is the neutral 0.
  np.testing.assert_allclose(diffuse(ramp, np.zeros_like(mask)).numpy(), 0.0, atol=1e-6)


def test_zero_gradient_with_jitter_keeps_class_mean_init():
  # Constant classifier and no TV: E has zero gradient, so the result must be the
  # initial fill exactly, even though jitter shifts the image every iteration.
  means = np.random.RandomState(1).uniform(-1, 1, (K, H, W, 1)).astype(np.float32)
  inpainter = cg.ClassifierInpainter(constant_classifier([0.0, 1.0, 0.0, 0.0]), num_classes=K,
                                     image_shape=(H, W, 1), class_means=means, lambda_tv=0.0,
                                     epsilon=0.0, max_iterations=5, init="class_mean", jitter=3)
  image, mask = random_images(2), center_mask(2)
  out = inpainter.inpaint(image, mask, tf.constant([2, 0]), 5, 7)
  expected = mask * image + (1 - mask) * means[[2, 0]]
  np.testing.assert_array_equal(out["inpainted"].numpy(), expected)
  np.testing.assert_array_equal(out["iterations"].numpy(), [5, 5])  # epsilon 0: never stops.
  with pytest.raises(InputError, match="class_means"):
    cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                           init="class_mean")


# -- jitter -----------------------------------------------------------------------------------


def test_jitter_shift_is_stateless_and_bounded():
  inpainter = cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                                     jitter=2)
  shifts = np.array([inpainter.jitter_shift(tf.constant(5), tf.constant(t)).numpy()
                     for t in range(40)])
  again = np.array([inpainter.jitter_shift(tf.constant(5), tf.constant(t)).numpy()
                    for t in range(40)])
  np.testing.assert_array_equal(shifts, again)
  assert shifts.min() == -2 and shifts.max() == 2
  other = np.array([inpainter.jitter_shift(tf.constant(6), tf.constant(t)).numpy()
                    for t in range(40)])
  assert (shifts != other).any()


def test_jitter_gradient_is_shifted_back():
  # The gradient of the jittered content term is the gradient at the shifted image, shifted back.
  inpainter = cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                                     lambda_tv=0.0)
  x, mask, shift = tf.constant(random_images(2)), center_mask(2), tf.constant([1, -2])

  def grad(images, s):
    with tf.GradientTape() as tape:
      tape.watch(images)
      energy = tf.reduce_sum(inpainter.energy_terms(images, [1, 3], mask, s)["energy"])
    return tape.gradient(energy, images)

  shifted = tf.roll(x, shift, axis=[1, 2])
  expected = tf.roll(grad(shifted, None), -shift, axis=[1, 2])
  np.testing.assert_allclose(grad(x, shift).numpy(), expected.numpy(), atol=1e-7)


# -- the loop ---------------------------------------------------------------------------------


def test_known_pixels_never_change_and_outputs(jittered):
  image, mask = random_images(3), center_mask(3)
  out = jittered.inpaint(image, mask, tf.constant([0, 1, 3]), 100, 0)  # Clamped to 8.
  inpainted = out["inpainted"].numpy()
  np.testing.assert_array_equal(inpainted[mask[..., 0] == 1], image[mask[..., 0] == 1])
  assert np.abs(inpainted - image)[mask[..., 0] == 0].max() > 0.1
  assert inpainted.min() >= -1.0 and inpainted.max() <= 1.0
  np.testing.assert_array_equal(out["iterations"].numpy(), [8, 8, 8])
  assert out["grad_norm_trace"].shape == (3, 8)
  assert (out["grad_norm_trace"].numpy() > 0).all()
  np.testing.assert_array_equal(out["label"].numpy(), [0, 1, 3])
  # Snapshots after iterations 3 and 6, and they are moving towards the result.
  assert out["snapshots"].shape == (3, 2, H, W, 1)
  assert not np.array_equal(out["snapshots"][:, 0], out["snapshots"][:, 1])
  energies = out["energies"].numpy()
  np.testing.assert_array_equal(energies[[0, 1, 2], [0, 1, 3]], out["energy"].numpy())
  assert np.isinf(np.delete(energies[0], 0)).all()


def test_per_image_stopping(jittered):
  # Image 1 has no missing pixel: its projected gradient is 0 < epsilon from the start.
  image, mask = random_images(3), center_mask(3)
  mask[1] = 1.0
  out = jittered.inpaint(image, mask, tf.constant([2, 2, 2]), 6, 3)
  np.testing.assert_array_equal(out["iterations"].numpy(), [6, 0, 6])
  np.testing.assert_array_equal(out["inpainted"].numpy()[1], image[1])
  np.testing.assert_array_equal(out["grad_norm_trace"].numpy()[1], np.zeros(6))
  assert out["snapshots"].shape == (3, 2, H, W, 1)
  np.testing.assert_array_equal(out["snapshots"].numpy()[1, 1], image[1])


def test_batch_independence_with_jitter(jittered):
  image, mask = random_images(4, seed=3), center_mask(4)
  mask[2, :, :8] = 0.0  # A different hole for one of the neighbours.
  label = np.array([1, 0, -1, 2], np.int32)
  batch = jittered.inpaint(image, mask, label, 8, 11)
  for i in (0, 3):
    alone = jittered.inpaint(image[i:i + 1], mask[i:i + 1], label[i:i + 1], 8, 11)
    for key in ("inpainted", "energy", "grad_norm_trace", "snapshots"):
      np.testing.assert_allclose(alone[key].numpy()[0], batch[key].numpy()[i], rtol=0,
                                 atol=1e-6, err_msg=key)
    assert alone["iterations"].numpy()[0] == batch["iterations"].numpy()[i]
  other_seed = jittered.inpaint(image[:1], mask[:1], label[:1], 8, 12)
  assert not np.allclose(other_seed["inpainted"].numpy()[0], batch["inpainted"].numpy()[0])


def test_descent_lowers_the_energy(plain):
  image, mask = random_images(2, seed=5), center_mask(2)
  label = tf.constant([1, 2])
  start = plain.energy_terms(plain.initial_fill(image, mask, label), label, mask)["energy"]
  out = plain.inpaint(image, mask, label, 15, 0)
  assert (out["energy"].numpy() < start.numpy() - 1e-3).all()
  trace = out["grad_norm_trace"].numpy()
  assert trace.shape == (2, 15) and (trace > 0).all()


def test_all_labels_picks_lowest_energy(plain):
  image, mask = random_images(2, seed=7), center_mask(2)
  out = plain.inpaint(image, mask, tf.constant([-1, 2]), 10, 0)
  energies = out["energies"].numpy()
  assert np.isfinite(energies[0]).all() and energies.shape == (2, K)
  assert out["label"].numpy()[0] == np.argmin(energies[0])
  assert out["energy"].numpy()[0] == energies[0].min()
  assert out["label"].numpy()[1] == 2 and np.isfinite(energies[1]).sum() == 1
  # Each entry is the energy of inpainting with that label.
  for k in range(K):
    single = plain.inpaint(image[:1], mask[:1], tf.constant([k]), 10, 0)
    np.testing.assert_allclose(single["energy"].numpy()[0], energies[0, k], rtol=1e-5)
    if k == out["label"].numpy()[0]:
      np.testing.assert_allclose(single["inpainted"].numpy()[0], out["inpainted"].numpy()[0],
                                 atol=1e-6)


def test_illumination_mask():
  image = np.array([-1.0, -0.5, 0.0, 0.8], np.float32).reshape(1, 2, 2, 1)  # 0, .25, .5, .9
  np.testing.assert_array_equal(cg.illumination_mask(image, 0.3).numpy().ravel(), [0, 0, 1, 1])
  rgb = np.stack([image[..., 0], -np.ones((1, 2, 2), np.float32), np.ones((1, 2, 2))], -1)
  assert cg.illumination_mask(rgb, 0.5).shape == (1, 2, 2, 1)


def test_bad_arguments():
  with pytest.raises(InputError, match="init"):
    cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1), init="noise")
  with pytest.raises(InputError, match="class_means"):
    cg.ClassifierInpainter(tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
                           class_means=np.zeros((K, 8, 8, 1)))


def test_presets():
  for kind in cg.PRESETS:
    inpainter = cg.ClassifierInpainter(
        tiny_classifier(), num_classes=K, image_shape=(H, W, 1),
        class_means=np.zeros((K, H, W, 1), np.float32), **cg.defaults_for(kind))
    assert inpainter.get_config()["init"] == cg.PRESETS[kind]["init"]
  assert cg.defaults_for("digits") is not cg.PRESETS["digits"]
  with pytest.raises(InputError, match="digits"):
    cg.defaults_for("cars")


def test_energy_that_ignores_the_pixels_gives_a_zero_gradient_not_a_crash():
  # tv_only (methods.py) swaps in logits that do not depend on x; with lambda_tv = 0 and no
  # binary penalty nothing depends on x at all, and the descent must leave the init alone.
  from tfinpaint import methods  # pylint: disable=g-import-not-at-top
  inpainter = cg.ClassifierInpainter(methods._ConstantLogits(K), num_classes=K,  # pylint: disable=protected-access
                                     image_shape=(H, W, 1), lambda_tv=0.0, epsilon=0.0,
                                     max_iterations=3, init="zeros")
  image, mask = random_images(2), center_mask(2)
  out = inpainter.inpaint(image, mask, tf.constant([1, 2]), 3, 0)
  expected = mask * image + (1 - mask) * -1.0
  np.testing.assert_array_equal(out["inpainted"].numpy(), expected)
