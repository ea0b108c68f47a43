"""SemanticInpainter on tiny networks with the contract of models/dcgan.py and googlenet.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import config as config_lib
from tfinpaint.errors import InputError
from tfinpaint.models import dcgan
from tfinpaint.inpainting import losses, optimizers
from tfinpaint.inpainting import semantic as semantic_lib
from tfinpaint.inpainting.semantic import SemanticConfig, SemanticInpainter

SIZE, CHANNELS, Z_DIM = 16, 3, 8


def _randomise_batchnorm(model, seed):
  """Non-trivial moving statistics, so training=True would give visibly different outputs."""
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      n = layer.moving_mean.shape[0]
      layer.moving_mean.assign(rng.normal(0, 0.5, n).astype(np.float32))
      layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))


def tiny_generator(seed=0):
  keras.utils.set_random_seed(seed)
  z = keras.Input((Z_DIM,))
  x = keras.layers.Dense(4 * 4 * 8)(z)
  x = keras.layers.Reshape((4, 4, 8))(x)
  x = keras.layers.BatchNormalization()(x)
  x = keras.layers.ReLU()(x)
  x = keras.layers.Conv2DTranspose(8, 4, strides=2, padding="same")(x)
  x = keras.layers.BatchNormalization()(x)
  x = keras.layers.ReLU()(x)
  x = keras.layers.Conv2DTranspose(CHANNELS, 4, strides=2, padding="same", activation="tanh")(x)
  model = keras.Model(z, x, name="generator")
  _randomise_batchnorm(model, seed)
  return model


def tiny_discriminator(seed=1):
  keras.utils.set_random_seed(seed)
  image = keras.Input((SIZE, SIZE, CHANNELS))
  x = keras.layers.Conv2D(8, 4, strides=2, padding="same")(image)
  x = dcgan.LeakyReLU(0.2)(x)
  x = keras.layers.Conv2D(8, 4, strides=2, padding="same")(x)
  x = keras.layers.BatchNormalization()(x)
  x = dcgan.LeakyReLU(0.2)(x)
  x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
  model = keras.Model(image, x, name="discriminator")
  _randomise_batchnorm(model, seed)
  return model


def tiny_classifier(seed=2, num_classes=5):
  """image -> {"inception_3b", "inception_4b", "logits"}, like googlenet.endpoints."""
  keras.utils.set_random_seed(seed)
  image = keras.Input((SIZE, SIZE, CHANNELS))
  a = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(image)
  b = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(a)
  logits = keras.layers.Dense(num_classes)(keras.layers.GlobalAveragePooling2D()(b))
  return keras.Model(image, {"inception_3b": a, "inception_4b": b, "logits": logits},
                     name="classifier")


@pytest.fixture(scope="module")
def nets():
  return tiny_generator(), tiny_discriminator(), tiny_classifier()


def _batch(n=3, seed=0):
  rng = np.random.default_rng(seed)
  images = np.tanh(rng.normal(size=(n, SIZE, SIZE, CHANNELS))).astype(np.float32)
  masks = np.ones((n, SIZE, SIZE, 1), np.float32)
  masks[0, 4:12, 4:12] = 0.0  # center
  if n > 1:
    masks[1, :, :8] = 0.0  # left
  if n > 2:
    masks[2] = (rng.uniform(size=(SIZE, SIZE, 1)) > 0.8).astype(np.float32)  # random
  return images, masks


def _make(nets, classifier=True, **kw):
  """A SemanticInpainter on the tiny nets; `run(images, masks, preset=None, **options)` traces
  once per inpainter and preset."""
  g, d, c = nets
  kw.setdefault("num_starts", 2)
  kw.setdefault("max_iterations", 20)
  kw.setdefault("iterations", kw["max_iterations"])
  kw.setdefault("blend_iterations", 200)
  if not classifier:
    kw.setdefault("preset", "yeh")
  networks = {"generator": g, "discriminator": d}
  if classifier:
    networks["classifier"] = c if classifier is True else classifier
  inp = SemanticInpainter(networks, SemanticConfig((SIZE, SIZE, CHANNELS), Z_DIM, **kw))
  fns = {}

  def run(images, masks, preset=None, **options):
    preset = preset or inp.config.preset
    if preset not in fns:
      fns[preset] = tf.function(lambda x, m, opts: inp.inpaint(x, m, opts, preset))
    out = fns[preset](tf.constant(images), tf.constant(masks), inp.resolve(options))
    return {k: v.numpy() for k, v in out.items()}

  inp.run = run
  return inp


def _rows(inpainter, images, masks, **options):
  """One row per image (a single start), as the loop builds them."""
  return inpainter.problem(tf.constant(images), tf.constant(masks), inpainter.resolve(options))


def _grad(inpainter, z, images, masks, preset=None):
  preset = preset or inpainter.config.preset
  z = tf.constant(z)
  rows = _rows(inpainter, images, masks)
  with tf.GradientTape() as tape:
    tape.watch(z)
    terms, _ = inpainter.loss_terms(z, rows)
    objective = tf.add_n([terms[t] for t in losses.PRESETS[preset]])
    total = tf.reduce_sum(objective)
  return objective.numpy(), {k: v.numpy() for k, v in terms.items()}, tape.gradient(total, z)


def test_presets_switch_the_right_terms_on(nets):
  images, masks = _batch()
  z = np.random.default_rng(5).uniform(-1, 1, (3, Z_DIM)).astype(np.float32)
  yeh_a = _make(nets, preset="yeh")
  yeh_b = _make(nets, classifier=tiny_classifier(seed=7), preset="yeh")
  yeh_none = _make(nets, classifier=False)
  obj_a, terms_a, grad_a = _grad(yeh_a, z, images, masks)
  obj_b, terms_b, grad_b = _grad(yeh_b, z, images, masks)
  obj_n, terms_n, grad_n = _grad(yeh_none, z, images, masks)
  # Yeh: the classifier changes the traced terms but neither the objective nor its gradient.
  assert not np.allclose(terms_a["semantic"], terms_b["semantic"])
  np.testing.assert_allclose(obj_a, obj_b, rtol=1e-6)
  np.testing.assert_allclose(grad_a, grad_b, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(grad_a, grad_n, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(obj_a, terms_a["context"] + terms_a["prior"], rtol=1e-6)
  assert set(terms_n) == {"context", "prior", "inpainting"}
  obj_s, terms_s, grad_s = _grad(yeh_a, z, images, masks, "semantic")
  obj_f, terms_f, grad_f = _grad(yeh_a, z, images, masks, "full")
  np.testing.assert_allclose(
      obj_s, terms_s["context"] + terms_s["prior"] + terms_s["inpainting"] + terms_s["semantic"],
      rtol=1e-5)
  np.testing.assert_allclose(obj_f - obj_s, terms_f["categorical"], rtol=1e-3, atol=1e-2)
  assert np.abs(terms_f["categorical"]).max() > 0
  assert not np.allclose(grad_s, grad_a, rtol=1e-3)
  assert not np.allclose(grad_f, grad_s, rtol=1e-3)
  assert yeh_none.presets() == ("yeh",) and set(yeh_a.signatures()) == {
      "yeh", "semantic", "full", "serving_default"}


def test_terms_are_the_weighted_losses(nets):
  g, d, c = nets
  images, masks = _batch(2)  # center and left: no boundary scaling
  inp = _make(nets, preset="full", lambda_c=2.0, lambda_p=0.5, lambda_inp=3.0, lambda_sem=7.0,
              lambda_cat=11.0, layers={"inception_3b": 1.0, "inception_4b": 0.0},
              context_norm="l2", prior_variant="nonsaturating")
  z = np.random.default_rng(6).uniform(-1, 1, (2, Z_DIM)).astype(np.float32)
  terms, _ = inp.loss_terms(tf.constant(z), _rows(inp, images, masks))
  gz = g(z, training=False)
  blended = masks * images + (1 - masks) * gz
  w = losses.context_weights(masks)
  np.testing.assert_allclose(terms["context"],
                             2.0 * np.square(w * (gz - images)).sum(axis=(1, 2, 3)), rtol=1e-5)
  np.testing.assert_allclose(terms["prior"], 0.5 * tf.nn.softplus(
      -d(gz, training=False)[:, 0]), rtol=1e-5)
  np.testing.assert_allclose(terms["inpainting"], 3.0 * tf.nn.softplus(
      -d(blended, training=False)[:, 0]), rtol=1e-5)
  fa, fb = c(gz, training=False), c(blended, training=False)
  a, b = fa["inception_3b"].numpy(), fb["inception_3b"].numpy()
  np.testing.assert_allclose(terms["semantic"], 7.0 * ((a - b) ** 2).sum(axis=(1, 2, 3))
                             / (b ** 2).sum(axis=(1, 2, 3)), rtol=1e-4)
  np.testing.assert_allclose(terms["categorical"], 11.0 * losses.categorical_loss(
      fa["logits"], fb["logits"]), rtol=1e-5)


def test_boundary_rule_scales_the_paper_weights_per_image(nets):
  # Paper 000, Section 3: masks with many pixels near holes (random) get lambda_inp, lambda_sem
  # and lambda_cat x10. The rule is computed in the graph from each image's own mask.
  images, masks = _batch(3)  # center, left, random 80 %
  ratio = semantic_lib.boundary_ratio(masks).numpy()
  assert ratio[0] < 0.3 and ratio[1] < 0.3 and ratio[2] > 0.6, ratio
  inp = _make(nets, preset="full")
  z = np.random.default_rng(6).uniform(-1, 1, (3, Z_DIM)).astype(np.float32)
  scaled, _ = inp.loss_terms(tf.constant(z), _rows(inp, images, masks))
  plain, _ = inp.loss_terms(tf.constant(z), _rows(inp, images, masks, boundary_scale=1.0))
  for term in ("inpainting", "semantic", "categorical"):
    np.testing.assert_allclose(scaled[term].numpy(), plain[term].numpy() * [1, 1, 10],
                               rtol=1e-5)
  for term in ("context", "prior"):
    np.testing.assert_allclose(scaled[term].numpy(), plain[term].numpy(), rtol=1e-6)
  out = inp.run(images, masks, iterations=0)
  np.testing.assert_array_equal(out["weight_scale"], [1, 1, 10])


@pytest.fixture(scope="module")
def full(nets):
  """The workhorse: all five terms optimised, 3 starts (one trace shared by several tests)."""
  return _make(nets, preset="full", num_starts=3, max_iterations=8)


@pytest.fixture(scope="module")
def fast(nets):
  """One start, a large step so that the clip to [-1, 1] matters, no blending, 3 steps max."""
  return _make(nets, preset="semantic", num_starts=1, learning_rate=5.0, blend=False,
               max_iterations=3, iterations=3)


def _manual_descent(inpainter, z, images, masks, steps):
  """The documented procedure written out step by step in eager mode."""
  z, v = tf.constant(z), tf.zeros_like(z)
  c = inpainter.config
  for _ in range(steps):
    grad = _grad(inpainter, z.numpy(), images, masks)[2]
    z, v = optimizers.nesterov_step(z, v, grad, c.learning_rate, c.momentum)
    z = tf.clip_by_value(z, -1.0, 1.0)
  return z.numpy()


def test_loop_is_nesterov_with_clipping(fast):
  images, masks = _batch(1)
  out = fast.run(images, masks, iterations=3, seed=11)
  z0 = tf.random.stateless_uniform([1, Z_DIM], [11, 0], -1.0, 1.0).numpy()
  expected = _manual_descent(fast, z0, images, masks, 3)
  z = out["z"]
  np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-5)
  assert np.abs(z).max() <= 1.0 and np.sum(np.abs(z) == 1.0) >= 1  # the clip was needed
  np.testing.assert_array_equal(out["iterations"], [3])


def test_no_blend_pastes_generated(fast):
  images, masks = _batch()
  out = fast.run(images, masks, iterations=2)
  hole = masks[..., 0] < 0.5
  np.testing.assert_allclose(out["inpainted"][hole], out["generated"][hole], atol=1e-6)
  known = ~hole
  np.testing.assert_array_equal(out["inpainted"][known], images[known])


def test_signature_clamps_iterations_and_networks_untouched(nets, fast):
  before = [w.numpy().copy() for m in nets for w in m.weights]
  images, masks = _batch(2)
  served = fast.function("semantic")
  out = served(image=(images + 1) / 2, mask=masks, iterations=tf.constant(1000))
  assert out["loss_semantic"].shape == (2, 4)
  np.testing.assert_array_equal(out["iterations"].numpy(), [3, 3])
  out = served(image=(images + 1) / 2, mask=masks, iterations=tf.constant(-5))
  assert out["loss_semantic"].shape == (2, 1)
  np.testing.assert_array_equal(out["iterations"].numpy(), [0, 0])
  after = [w.numpy() for m in nets for w in m.weights]
  for x, y in zip(before, after):  # BatchNorm ran in inference mode; no variable was written
    np.testing.assert_array_equal(x, y)


def test_outputs_are_consistent(full):
  images, masks = _batch()
  out = full.run(images, masks, iterations=5)
  assert out["z"].shape == (3, Z_DIM)
  assert {k[5:] for k in out if k.startswith("loss_")} == set(losses.TERMS)
  for term in losses.TERMS:
    assert out[f"loss_{term}"].shape == (3, 6)  # z_0 ... z_5
  np.testing.assert_array_equal(out["iterations"], [5, 5, 5])
  last = sum(out[f"loss_{t}"][:, -1] for t in losses.PRESETS["full"])
  np.testing.assert_allclose(out["loss"], last, rtol=1e-5)
  # The chosen start's final objective, recomputed from the returned z.
  objective, _, _ = _grad(full, out["z"], images, masks)
  np.testing.assert_allclose(out["loss"], objective, rtol=1e-4)
  _, g = full.loss_terms(tf.constant(out["z"]), _rows(full, images, masks))
  np.testing.assert_allclose(out["generated"], g.numpy(), atol=1e-5)
  known = masks[..., 0] > 0.5
  inpainted = out["inpainted"]
  np.testing.assert_array_equal(inpainted[known], images[known])
  assert np.abs(inpainted).max() <= 1.0
  # Poisson blending changed the pasted fill.
  assert not np.allclose(inpainted[~known], out["generated"][~known], atol=1e-3)
  # Hole values are ignored, even NaN.
  holey = images.copy()
  holey[~known] = np.nan
  again = full.run(holey, masks, iterations=5)
  np.testing.assert_allclose(again["inpainted"], inpainted, atol=1e-6)


def test_best_start_has_the_lowest_loss(full):
  images, masks = _batch(1)
  out = full.run(images, masks, iterations=4, seed=3)
  starts = tf.random.stateless_uniform([3, Z_DIM], [3, 0], -1.0, 1.0).numpy()
  finals = []
  for s in range(3):
    z = _manual_descent(full, starts[s:s + 1], images, masks, 4)
    finals.append(_grad(full, z, images, masks)[0][0])
  assert len(set(np.round(finals, 3))) == 3
  np.testing.assert_allclose(out["loss"][0], min(finals), rtol=1e-4)


def test_batch_independence(full):
  images, masks = _batch(3)
  together = full.run(images, masks, iterations=6, seed=42)
  for i in (0, 2):
    alone = full.run(images[i:i + 1], masks[i:i + 1], iterations=6, seed=42)
    for key in ["inpainted", "generated", "z", "loss"] + [f"loss_{t}" for t in losses.TERMS]:
      np.testing.assert_allclose(alone[key][0], together[key][i], rtol=1e-4, atol=1e-5,
                                 err_msg=key)
  other_seed = full.run(images[:1], masks[:1], iterations=6, seed=43)
  assert not np.allclose(other_seed["z"], together["z"][:1])


def test_per_image_stopping_freezes_a_converged_image(nets):
  images, masks = _batch(2)
  masks[1] = 1.0
  masks[1, 7:9, 7:9] = 0.0  # tiny hole: context gradient far smaller than for the left mask
  yeh = _make(nets, classifier=False, num_starts=1, max_iterations=10, blend=False)
  z0 = tf.random.stateless_uniform([1, Z_DIM], [9, 0], -1.0, 1.0).numpy()
  norms = np.linalg.norm(_grad(yeh, np.repeat(z0, 2, 0), images, masks)[2], axis=1)
  assert norms[1] < norms[0] / 2
  eps = float(np.sqrt(norms[0] * norms[1]))
  out = yeh.run(images, masks, iterations=10, seed=9, epsilon=eps)
  steps = out["iterations"]
  assert steps[1] == 0 and steps[0] >= 1
  np.testing.assert_array_equal(out["z"][1], z0[0])
  assert not np.allclose(out["z"][0], z0[0])
  frozen = out["loss_context"][1]
  np.testing.assert_allclose(frozen, frozen[0], rtol=1e-6)
  # Everything converged at once: the loop stops after one gradient evaluation.
  out = yeh.run(images[1:], masks[1:], iterations=10, seed=9, epsilon=eps)
  np.testing.assert_array_equal(out["iterations"], [0])
  # The traces keep their full length (iterations + 1), holding the final value: their shape
  # never depends on when a batch happened to stop.
  held = out["loss_context"]
  assert held.shape == (1, 11)
  np.testing.assert_allclose(held, held[:, :1].repeat(11, axis=1), rtol=1e-6)


def test_soft_masks_are_binarised_like_everywhere_else(nets):
  # A mask value of 0.7 is "known" and 0.3 "missing", for the losses, the kept pixels and the
  # blend alike (tfinpaint.masks.binarize), so the result equals the binary mask's.
  images, masks = _batch(2)
  soft = np.where(masks > 0.5, 0.7, 0.3).astype(np.float32)
  yeh = _make(nets, classifier=False, num_starts=1, max_iterations=3, blend=True,
              blend_iterations=50)
  a = yeh.run(images, masks, iterations=3, seed=5)["inpainted"]
  b = yeh.run(images, soft, iterations=3, seed=5)["inpainted"]
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_config_round_trip_and_bad_arguments(nets):
  g, d, c = nets
  inp = _make(nets, preset="semantic", lambda_sem=5.0, epsilon=0.1)
  saved = config_lib.to_json(inp.config)
  assert saved["lambda_sem"] == 5.0 and saved["lambda_p"] == 0.003 and saved["kind"] == "semantic"
  again = config_lib.from_json(SemanticConfig, saved)
  assert again == inp.config
  with pytest.raises(InputError):
    _make(nets, classifier=False, preset="full")
  with pytest.raises(ValueError, match="preset must be one of yeh, semantic, full"):
    _make(nets, preset="fancy")
  with pytest.raises(ValueError, match="no option"):
    inp.resolve({"lambda_x": 1.0})
  with pytest.raises(InputError):
    _make(nets, layers={"inception_5b": 1.0})
  with pytest.raises(InputError):
    SemanticInpainter({"generator": g, "discriminator": d, "classifier": c},
                      SemanticConfig((32, 32, 3), Z_DIM))


def test_yeh_runs_only_its_networks_and_traces_the_rest_on_request(full):
  images, masks = _batch()
  lean = full.run(images, masks, preset="yeh", iterations=4)
  traced = full.run(images, masks, preset="yeh", iterations=4, trace_all=1)
  # The same descent either way: the extra terms are only observed.
  np.testing.assert_array_equal(lean["z"], traced["z"])
  for term in ("inpainting", "semantic", "categorical"):
    assert not lean[f"loss_{term}"][:, :-1].any(), term  # not computed during the descent
    assert traced[f"loss_{term}"].all(), term
    np.testing.assert_allclose(lean[f"loss_{term}"][:, -1], traced[f"loss_{term}"][:, -1],
                               rtol=1e-5)  # the final values are always computed
  # The lean step computes exactly yeh's objective and gradient.
  rows = _rows(full, images, masks)
  z = tf.constant(np.random.default_rng(0).uniform(-1, 1, (3, Z_DIM)).astype(np.float32))
  some, _ = full.loss_terms(z, rows, losses.PRESETS["yeh"])
  every, _ = full.loss_terms(z, rows)
  assert set(some) == set(losses.PRESETS["yeh"])
  for term in some:
    np.testing.assert_allclose(some[term].numpy(), every[term].numpy(), rtol=1e-6)
