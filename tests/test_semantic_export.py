"""Exporting a tiny SemanticInpainter and serving it with the C++ loader (saved_model_cli)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tests import test_semantic as tiny
from tfinpaint.inpainting import losses
from tfinpaint.inpainting import semantic

FIXED, CAP = 3, 5
SIZE, CHANNELS = tiny.SIZE, tiny.CHANNELS


def request(n=2, seed=0):
  rng = np.random.default_rng(seed)
  image = rng.uniform(0, 1, (n, SIZE, SIZE, CHANNELS)).astype(np.float32)
  mask = np.ones((n, SIZE, SIZE, 1), np.float32)
  mask[:, 4:12, 4:12] = 0.0
  return image, mask


@pytest.fixture(scope="module")
def inpainter():
  return semantic.SemanticInpainter(
      tiny.tiny_generator(), tiny.tiny_discriminator(), tiny.tiny_classifier(),
      z_dim=tiny.Z_DIM, image_shape=(SIZE, SIZE, CHANNELS), preset="full", num_starts=2,
      max_iterations=8, blend_iterations=100)


@pytest.fixture(scope="module")
def exported(inpainter, tmp_path_factory):
  base = tmp_path_factory.mktemp("exported") / "cars_dcgan"
  path = semantic.export(inpainter, base, 1, iterations=FIXED, max_iterations=CAP, seed=7)
  return base, path


def test_saved_model_cli_run(exported, tmp_path):
  image, mask = request()
  out = helpers.saved_model_cli_run(exported[1], "serving_default", dict(image=image, mask=mask),
                                    tmp_path)
  traces = {f"loss_{t}" for t in losses.TERMS}
  assert set(out) == {"inpainted", "generated", "z", "loss", "iterations"} | traces
  inpainted = out["inpainted"]
  assert inpainted.shape == image.shape and inpainted.min() >= 0 and inpainted.max() <= 1
  np.testing.assert_allclose(inpainted[mask[..., 0] == 1], image[mask[..., 0] == 1], atol=1e-6)
  np.testing.assert_array_equal(out["iterations"], [FIXED, FIXED])
  for name in traces:
    assert out[name].shape == (2, FIXED + 1)


def test_signatures_match_module(exported, inpainter):
  loaded = tf.saved_model.load(exported[1])
  image, mask = request(3, seed=1)
  served = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask))
  direct = inpainter.inpaint(image * 2 - 1, mask, FIXED, 7)
  np.testing.assert_allclose(served["inpainted"].numpy(), (direct["inpainted"].numpy() + 1) / 2,
                             atol=1e-5)
  np.testing.assert_allclose(served["loss"].numpy(), direct["loss"].numpy(), rtol=1e-5)
  options = loaded.signatures["inpaint_with_options"](
      image=tf.constant(image), mask=tf.constant(mask), iterations=tf.constant(2),
      seed=tf.constant(7))
  np.testing.assert_array_equal(options["iterations"].numpy(), [2, 2, 2])
  clamped = loaded.signatures["inpaint_with_options"](
      image=tf.constant(image), mask=tf.constant(mask), iterations=tf.constant(10**9),
      seed=tf.constant(3))
  np.testing.assert_array_equal(clamped["iterations"].numpy(), [CAP] * 3)
  assert clamped["loss_context"].shape == (3, CAP + 1)
  with pytest.raises(tf.errors.InvalidArgumentError, match="image contains NaN or Inf"):
    bad = image.copy()
    bad[0, 0, 0, 0] = np.nan
    loaded.signatures["serving_default"](image=tf.constant(bad), mask=tf.constant(mask))
  with pytest.raises(tf.errors.InvalidArgumentError, match="mask must have 1 channel"):
    loaded.signatures["serving_default"](image=tf.constant(image),
                                         mask=tf.constant(np.repeat(mask, 2, axis=-1)))


def test_networks_round_trip(inpainter, tmp_path):
  semantic.save_networks(inpainter, tmp_path)
  assert sorted(os.listdir(tmp_path / "networks")) == [
      "classifier.keras", "discriminator.keras", "generator.keras", "inpainter.json"]
  rebuilt = semantic.load_networks(tmp_path)
  assert rebuilt.config() == inpainter.config()
  image, mask = request()
  image = image * 2 - 1
  a = inpainter.inpaint(image, mask, 2, 5)
  b = rebuilt.inpaint(image, mask, 2, 5)
  np.testing.assert_allclose(a["inpainted"].numpy(), b["inpainted"].numpy(), atol=1e-5)
  np.testing.assert_allclose(a["loss"].numpy(), b["loss"].numpy(), rtol=1e-5)
  changed = semantic.load_networks(tmp_path / "networks", preset="semantic",
                                   weights={"lambda_sem": 2.0})
  config = changed.config()
  assert config["preset"] == "semantic" and config["weights"]["lambda_sem"] == 2.0
  assert config["weights"]["lambda_cat"] == inpainter.config()["weights"]["lambda_cat"]
  with pytest.raises(FileNotFoundError):
    semantic.load_networks(tmp_path / "nothing")


def test_only_core_ops(exported):
  graph = helpers.saved_graph(exported[1])
  ops = graph["ops"]
  assert ops & {"While", "StatelessWhile"}
  assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
  assert not graph["xla"]
  assert graph["signatures"] >= {"serving_default", "inpaint_with_options"}
