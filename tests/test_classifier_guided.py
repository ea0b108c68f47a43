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
from tfinpaint.inpainting import base
from tfinpaint.inpainting import classifier_guided as cg
from tfinpaint.inpainting import pixel_terms

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


def make(classifier, height=H, width=W, num_classes=K, class_means=None, **config):
  """A ClassifierInpainter; its `run(image, mask, label, **options)` traces once per module."""
  inp = cg.ClassifierInpainter({"classifier": classifier},
                               cg.ClassifierConfig((height, width, 1), num_classes, **config),
                               {"class_means": class_means} if class_means is not None else None)
  fn = tf.function(lambda image, mask, label, opts: inp.inpaint(image, mask, label, opts))

  def run(image, mask, label, **options):
    opts = {k: tf.constant(v, o.dtype) for o in inp.options() for k, v in options.items()
            if k == o.name}
    out = fn(tf.constant(image), tf.constant(mask), tf.constant(label, tf.int32),
             inp.resolve(opts))
    return {k: v.numpy() for k, v in out.items()}

  inp.run = run
  return inp


@pytest.fixture(scope="module")
def jittered():
  """Random classifier, jitter on; traced once for the module."""
  return make(tiny_classifier(), step_size=2.0, lambda_tv=0.01, epsilon=1e-4, iterations=8,
              max_iterations=8, jitter=2, diffusion_iterations=50)


@pytest.fixture(scope="module")
def plain():
  """Random classifier, no jitter (deterministic descent), larger iteration cap."""
  return make(tiny_classifier(), step_size=2.0, lambda_tv=0.01, epsilon=1e-4, iterations=15,
              max_iterations=15, init="zeros", jitter=0)


# -- energy terms against hand-computed values ------------------------------------------------

X3 = np.array([[0.0, 0.5, -1.0],
               [1.0, 0.5, 0.0],
               [0.0, -0.5, 0.5]], np.float32).reshape(1, 3, 3, 1)
MASK3 = np.ones((1, 3, 3, 1), np.float32)
MASK3[0, 1, 1, 0] = 0.0  # Only the centre pixel is missing.


def test_total_variation_by_hand():
  # Horizontal |diffs|: .5 1.5 / .5 .5 / .5 1 = 4.5; vertical: 1 1 / 0 1 / 1 .5 = 4.5.
  np.testing.assert_allclose(pixel_terms.total_variation(X3).numpy(), [9.0])
  # Band 0 = the hole only: differences touching the centre: h .5 + .5, v 0 + 1.
  band = pixel_terms.tv_band_mask(MASK3, 0)
  np.testing.assert_allclose(pixel_terms.total_variation(X3, band).numpy(), [2.0])
  np.testing.assert_allclose(pixel_terms.total_variation(X3, pixel_terms.tv_band_mask(MASK3, 1)).numpy(), [9.0])


def test_tv_band_is_dilated_hole():
  mask = np.ones((2, 9, 9, 1), np.float32)
  mask[0, 4, 4] = 0.0
  mask[1, 0, 8] = 0.0
  band = pixel_terms.tv_band_mask(mask, 2).numpy()[..., 0]
  expected = np.zeros((2, 9, 9), np.float32)
  expected[0, 2:7, 2:7] = 1.0
  expected[1, 0:3, 6:9] = 1.0
  np.testing.assert_array_equal(band, expected)
  np.testing.assert_array_equal(pixel_terms.tv_band_mask(mask, -1).numpy(), np.ones_like(mask))


def test_binary_penalty_by_hand():
  # Only the centre (0.5) is missing: 1 - 0.25. Black/white cost nothing.
  np.testing.assert_allclose(pixel_terms.binary_penalty(X3, MASK3).numpy(), [0.75])
  extremes = np.array([-1.0, 1.0, 1.0, -1.0], np.float32).reshape(1, 2, 2, 1)
  np.testing.assert_allclose(pixel_terms.binary_penalty(extremes, np.zeros((1, 2, 2, 1))).numpy(), [0.0])


@pytest.mark.parametrize("tv_band,tv", [(-1, 9.0), (0, 2.0)])
def test_energy_by_hand(tv_band, tv):
  # Logits [0, ln 3, 0] -> p = [.2, .6, .2]; label 1 -> .04 + .16 + .04 = .24.
  model = constant_classifier([0.0, np.log(3.0), 0.0], 3, 3)
  inpainter = make(model, 3, 3, 3, lambda_tv=0.1, binary_weight=2.0, jitter=0)
  opts = inpainter.resolve()
  band = pixel_terms.tv_band_mask(MASK3, tv_band)
  terms = {k: v.numpy() for k, v in inpainter.energy_terms(X3, [1], MASK3, band, None,
                                                           opts).items()}
  np.testing.assert_allclose(terms["content"], [0.24], rtol=1e-5)
  np.testing.assert_allclose(terms["tv"], [tv], rtol=1e-6)
  np.testing.assert_allclose(terms["binary"], [0.75], rtol=1e-6)
  np.testing.assert_allclose(terms["energy"], [0.24 + 0.1 * tv + 2.0 * 0.75], rtol=1e-5)
  # content_weight scales the classifier term only (0 = the tv_only ablation).
  half = inpainter.energy_terms(X3, [1], MASK3, band, None,
                                inpainter.resolve({"content_weight": 0.5}))["energy"].numpy()
  np.testing.assert_allclose(half, [0.12 + 0.1 * tv + 2.0 * 0.75], rtol=1e-5)


def test_energies_are_per_image():
  inpainter = make(tiny_classifier())
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
  diffuse = tf.function(lambda image, known: pixel_terms.diffuse(image, known, iterations=100))
  filled = diffuse(ramp, mask).numpy()
  np.testing.assert_array_equal(filled[mask == 1], ramp[mask == 1])
  np.testing.assert_allclose(filled, ramp, atol=2e-3)
  # Nothing known at all: the fill is the neutral 0.
  np.testing.assert_allclose(diffuse(ramp, np.zeros_like(mask)).numpy(), 0.0, atol=1e-6)


def test_zero_gradient_with_jitter_keeps_class_mean_init():
  # Constant classifier and no TV: E has zero gradient, so the result must be the
  # initial fill exactly, even though jitter shifts the image every iteration.
  means = np.random.RandomState(1).uniform(-1, 1, (K, H, W, 1)).astype(np.float32)
  inpainter = make(constant_classifier([0.0, 1.0, 0.0, 0.0]), class_means=means,
                   lambda_tv=0.0, epsilon=0.0, iterations=5, max_iterations=5,
                   init="class_mean", jitter=3)
  image, mask = random_images(2), center_mask(2)
  out = inpainter.run(image, mask, [2, 0], seed=7)
  expected = mask * image + (1 - mask) * means[[2, 0]]
  np.testing.assert_array_equal(out["inpainted"], expected)
  np.testing.assert_array_equal(out["iterations"], [5, 5])  # epsilon 0: never stops.
  with pytest.raises(InputError, match="class_means"):
    make(tiny_classifier(), init="class_mean")


# -- jitter -----------------------------------------------------------------------------------


def test_jitter_shift_is_stateless_and_bounded():
  shift = cg.ClassifierInpainter.jitter_shift
  shifts = np.array([shift(tf.constant(5), tf.constant(t), 2).numpy() for t in range(40)])
  again = np.array([shift(tf.constant(5), tf.constant(t), 2).numpy() for t in range(40)])
  np.testing.assert_array_equal(shifts, again)
  assert shifts.min() == -2 and shifts.max() == 2
  other = np.array([shift(tf.constant(6), tf.constant(t), 2).numpy() for t in range(40)])
  assert (shifts != other).any()
  assert not np.array([shift(tf.constant(5), tf.constant(t), 0).numpy()
                       for t in range(10)]).any()  # jitter 0: no shift


def test_jitter_gradient_is_shifted_back():
  # The gradient of the jittered content term is the gradient at the shifted image, shifted back.
  inpainter = make(tiny_classifier(), lambda_tv=0.0)
  x, mask, shift = tf.constant(random_images(2)), center_mask(2), tf.constant([1, -2])

  def grad(images, s):
    with tf.GradientTape() as tape:
      tape.watch(images)
      energy = tf.reduce_sum(inpainter.energy_terms(images, [1, 3], mask, None, s)["energy"])
    return tape.gradient(energy, images)

  shifted = tf.roll(x, shift, axis=[1, 2])
  expected = tf.roll(grad(shifted, None), -shift, axis=[1, 2])
  np.testing.assert_allclose(grad(x, shift).numpy(), expected.numpy(), atol=1e-7)


# -- the loop ---------------------------------------------------------------------------------


def test_known_pixels_never_change_and_outputs(jittered):
  image, mask = random_images(3), center_mask(3)
  out = jittered.run(image, mask, [0, 1, 3], iterations=100, seed=0, snapshot_every=3)
  inpainted = out["inpainted"]
  np.testing.assert_array_equal(inpainted[mask[..., 0] == 1], image[mask[..., 0] == 1])
  assert np.abs(inpainted - image)[mask[..., 0] == 0].max() > 0.1
  assert inpainted.min() >= -1.0 and inpainted.max() <= 1.0
  np.testing.assert_array_equal(out["iterations"], [100, 100, 100])  # only signatures clamp
  assert out["grad_norm_trace"].shape == (3, 100)
  assert (out["grad_norm_trace"] > 0).all()
  np.testing.assert_array_equal(out["label"], [0, 1, 3])
  assert out["snapshots"].shape == (3, 33, H, W, 1)
  assert not np.array_equal(out["snapshots"][:, 0], out["snapshots"][:, 1])
  energies = out["energies"]
  np.testing.assert_array_equal(energies[[0, 1, 2], [0, 1, 3]], out["energy"])
  assert np.isinf(np.delete(energies[0], 0)).all()


def test_per_image_stopping(jittered):
  # Image 1 has no missing pixel: its projected gradient is 0 < epsilon from the start.
  image, mask = random_images(3), center_mask(3)
  mask[1] = 1.0
  out = jittered.run(image, mask, [2, 2, 2], iterations=6, seed=3, snapshot_every=3)
  np.testing.assert_array_equal(out["iterations"], [6, 0, 6])
  np.testing.assert_array_equal(out["inpainted"][1], image[1])
  np.testing.assert_array_equal(out["grad_norm_trace"][1], np.zeros(6))
  assert out["snapshots"].shape == (3, 2, H, W, 1)
  np.testing.assert_array_equal(out["snapshots"][1, 1], image[1])


def test_zero_iterations_is_the_starting_fill(jittered):
  image, mask = random_images(2), center_mask(2)
  out = jittered.run(image, mask, [1, -1], iterations=0)
  start = jittered.initial_fill(image, mask, [1, 0]).numpy()
  np.testing.assert_array_equal(out["inpainted"], start)
  assert out["grad_norm_trace"].shape == (2, 0) and out["snapshots"].shape == (2, 0, H, W, 1)


def test_batch_independence_with_jitter(jittered):
  image, mask = random_images(4, seed=3), center_mask(4)
  mask[2, :, :8] = 0.0  # A different hole for one of the neighbours.
  label = np.array([1, 0, -1, 2], np.int32)
  batch = jittered.run(image, mask, label, iterations=8, seed=11, snapshot_every=4)
  for i in (0, 3):
    alone = jittered.run(image[i:i + 1], mask[i:i + 1], label[i:i + 1], iterations=8, seed=11,
                         snapshot_every=4)
    for key in ("inpainted", "energy", "grad_norm_trace", "snapshots"):
      np.testing.assert_allclose(alone[key][0], batch[key][i], rtol=0, atol=1e-6, err_msg=key)
    assert alone["iterations"][0] == batch["iterations"][i]
  other_seed = jittered.run(image[:1], mask[:1], label[:1], iterations=8, seed=12)
  assert not np.allclose(other_seed["inpainted"][0], batch["inpainted"][0])


def test_descent_lowers_the_energy(plain):
  image, mask = random_images(2, seed=5), center_mask(2)
  label = tf.constant([1, 2])
  start = plain.energy_terms(plain.initial_fill(image, mask, label), label, mask)["energy"]
  out = plain.run(image, mask, [1, 2], iterations=15)
  assert (out["energy"] < start.numpy() - 1e-3).all()
  trace = out["grad_norm_trace"]
  assert trace.shape == (2, 15) and (trace > 0).all()


def test_all_labels_picks_lowest_energy(plain):
  image, mask = random_images(2, seed=7), center_mask(2)
  out = plain.run(image, mask, [-1, 2], iterations=10)
  energies = out["energies"]
  assert np.isfinite(energies[0]).all() and energies.shape == (2, K)
  assert out["label"][0] == np.argmin(energies[0])
  assert out["energy"][0] == energies[0].min()
  assert out["label"][1] == 2 and np.isfinite(energies[1]).sum() == 1
  # Each entry is the energy of inpainting with that label.
  for k in range(K):
    single = plain.run(image[:1], mask[:1], [k], iterations=10)
    np.testing.assert_allclose(single["energy"][0], energies[0, k], rtol=1e-5)
    if k == out["label"][0]:
      np.testing.assert_allclose(single["inpainted"][0], out["inpainted"][0], atol=1e-6)


def test_tv_band_option_in_the_graph_matches_the_helper(plain):
  # The band width is a request option (a tensor): the loop's M_TV is the max-pool dilation.
  image, mask = random_images(1, seed=2), center_mask(1)
  for band in (-1, 0, 2):
    out = plain.run(image, mask, [1], iterations=0, tv_band=band)
    terms = plain.energy_terms(out["inpainted"], [1], mask, pixel_terms.tv_band_mask(mask, band))
    np.testing.assert_allclose(out["energy"], terms["energy"].numpy(), rtol=1e-6)


def test_illumination_mask():
  image = np.array([-1.0, -0.5, 0.0, 0.8], np.float32).reshape(1, 2, 2, 1)  # 0, .25, .5, .9
  np.testing.assert_array_equal(pixel_terms.illumination_mask(image, 0.3).numpy().ravel(), [0, 0, 1, 1])
  rgb = np.stack([image[..., 0], -np.ones((1, 2, 2), np.float32), np.ones((1, 2, 2))], -1)
  assert pixel_terms.illumination_mask(rgb, 0.5).shape == (1, 2, 2, 1)


def test_bad_arguments():
  with pytest.raises(ValueError, match="init must be one of diffusion, class_mean, zeros"):
    make(tiny_classifier(), init="noise")
  with pytest.raises(InputError, match="class_means"):
    make(tiny_classifier(), class_means=np.zeros((K, 8, 8, 1), np.float32))
  with pytest.raises(ValueError, match=r"iterations \(10\) must not exceed max_iterations"):
    make(tiny_classifier(), iterations=10, max_iterations=5)
  with pytest.raises(ValueError, match="block_rows must be >= 1"):
    make(tiny_classifier(), block_rows=0)
  with pytest.raises(ValueError, match="no option"):
    make(tiny_classifier()).resolve({"lambda_sem": 1.0})


def test_energy_that_ignores_the_pixels_gives_a_zero_gradient_not_a_crash():
  # tv_only on a constant classifier with lambda_tv = 0: nothing depends on x at all, and the
  # descent must leave the init alone.
  inpainter = make(constant_classifier([0.0, 1.0, 0.0, 0.0]), lambda_tv=0.0, epsilon=0.0,
                   iterations=3, max_iterations=3, init="zeros", jitter=0)
  image, mask = random_images(2), center_mask(2)
  out = inpainter.run(image, mask, [1, 2], content_weight=0.0)
  expected = mask * image + (1 - mask) * -1.0
  np.testing.assert_array_equal(out["inpainted"], expected)


def test_plateau_rule_stops_rows_that_stopped_improving():
  # Constant classifier, no TV: the energy never improves after the first iteration, so with
  # patience 2 each row takes exactly 2 steps; patience 0 never stops.
  inpainter = make(constant_classifier([0.0, 1.0, 0.0, 0.0]), lambda_tv=0.0, epsilon=0.0,
                   iterations=9, max_iterations=9, init="zeros", jitter=0)
  image, mask = random_images(2), center_mask(2)
  np.testing.assert_array_equal(inpainter.run(image, mask, [1, 2], patience=2)["iterations"],
                                [2, 2])
  np.testing.assert_array_equal(inpainter.run(image, mask, [1, 2])["iterations"], [9, 9])
  best, last, stalled = cg.base.plateau(tf.constant([1.0, 0.5]), tf.constant([1.0, 1.0]),
                                        tf.constant([3, 3]), tf.constant(6), 3, 0.1)
  np.testing.assert_array_equal(stalled.numpy(), [True, False])
  np.testing.assert_array_equal(last.numpy(), [3, 6])


@pytest.mark.parametrize("count, block, sentinels", [(1, 16, 1), (15, 16, 1), (16, 16, 1),
                                                      (37, 16, 1), (23, 8, 2), (5, 1, 1),
                                                      (0, 4, 1)])
def test_blocks_keep_request_rows_off_the_last_positions(count, block, sentinels):
  # Issue 23: the kernels' tail arithmetic falls on the last rows of a block, so those are
  # always fillers; every request row comes back in order.
  def fn(rows):
    (values,) = rows
    position = tf.range(block, dtype=tf.float32)
    return {"value": values, "position": position}
  spec = {"value": tf.TensorSpec([block], tf.float32),
          "position": tf.TensorSpec([block], tf.float32)}
  values = tf.range(count, dtype=tf.float32) + 1.0
  out = base.in_blocks(fn, (values,), (0.0,), block, spec, sentinels=sentinels)
  np.testing.assert_array_equal(out["value"].numpy(), values.numpy())
  assert (out["position"].numpy() < block - min(sentinels, block - 1)).all()
