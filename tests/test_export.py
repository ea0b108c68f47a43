"""Tests for tfinpaint.export through the classifier-guided inpainter.

The test that counts is `saved_model_cli run` in a subprocess: it loads the
SavedModel with the same C++/TF1 loader as TF Serving.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint import export
from tfinpaint.inpainting import classifier_guided as cg

H = W = 16
K = 3
FIXED, CAP = 4, 6


def request(n=2, seed=0):
  image = np.random.RandomState(seed).uniform(0, 1, (n, H, W, 1)).astype(np.float32)
  mask = np.ones((n, H, W, 1), np.float32)
  mask[:, 4:12, 4:12] = 0.0
  return image, mask, np.array([1, -1] * (n // 2) + [0] * (n % 2), np.int32)


@pytest.fixture(scope="module")
def inpainter():
  means = np.random.RandomState(1).uniform(-1, 1, (K, H, W, 1)).astype(np.float32)
  return cg.ClassifierInpainter(helpers.tiny_classifier(K), num_classes=K, image_shape=(H, W, 1),
                                class_means=means, init="class_mean", step_size=2.0,
                                lambda_tv=0.01, epsilon=1e-5, max_iterations=10, jitter=1)


@pytest.fixture(scope="module")
def exported(inpainter, tmp_path_factory):
  base = tmp_path_factory.mktemp("exported") / "digits"
  path = cg.export(inpainter, base, 1, iterations=FIXED, max_iterations=CAP, seed=0)
  return base, path


@pytest.fixture(scope="module")
def loaded(exported):
  return tf.saved_model.load(exported[1])


def test_layout_and_no_overwrite(exported, inpainter):
  base, path = exported
  assert path == os.path.join(str(base), "1")
  assert os.path.isfile(os.path.join(path, "saved_model.pb"))
  assert sorted(os.listdir(base)) == ["1"]  # No temp dir left behind.
  assert export.versions(base) == [1] and export.next_version(base) == 2
  with pytest.raises(FileExistsError, match="overwrite"):
    cg.export(inpainter, base, 1)


def test_saved_model_cli_run(exported, tmp_path):
  image, mask, label = request()
  outputs = helpers.saved_model_cli_run(exported[1], "serving_default",
                                        dict(image=image, mask=mask, label=label), tmp_path)
  assert set(outputs) == {"inpainted", "label", "energy", "energies", "grad_norm_trace",
                          "iterations"}
  inpainted = outputs["inpainted"]
  assert inpainted.shape == image.shape and inpainted.min() >= 0 and inpainted.max() <= 1
  np.testing.assert_allclose(inpainted[mask == 1], image[mask == 1], atol=1e-6)
  np.testing.assert_array_equal(outputs["iterations"], [FIXED, FIXED])
  assert outputs["label"][0] == 1 and outputs["label"][1] == np.argmin(outputs["energies"][1])
  assert outputs["grad_norm_trace"].shape == (2, FIXED)


def test_signatures_match_module(loaded, inpainter):
  image, mask, label = request(3, seed=1)
  served = loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask),
                                                label=tf.constant(label))
  direct = inpainter.inpaint(image * 2 - 1, mask, label, FIXED, 0)
  np.testing.assert_allclose(served["inpainted"].numpy(), (direct["inpainted"].numpy() + 1) / 2,
                             atol=1e-5)
  np.testing.assert_array_equal(served["label"].numpy(), direct["label"].numpy())
  np.testing.assert_allclose(served["energies"].numpy(), direct["energies"].numpy(), rtol=1e-5)


def test_iterations_are_clamped(loaded):
  image, mask, label = request()
  out = loaded.signatures["inpaint_with_options"](
      image=tf.constant(image), mask=tf.constant(mask), label=tf.constant(label),
      iterations=tf.constant(10**9), seed=tf.constant(3))
  np.testing.assert_array_equal(out["iterations"].numpy(), [CAP, CAP])
  assert out["grad_norm_trace"].shape == (2, CAP)
  fewer = loaded.signatures["inpaint_with_options"](
      image=tf.constant(image), mask=tf.constant(mask), label=tf.constant(label),
      iterations=tf.constant(2), seed=tf.constant(3))
  np.testing.assert_array_equal(fewer["iterations"].numpy(), [2, 2])


def _bad(case):
  image, mask, label = request()
  if case == "rank":
    image = image[0]
  elif case == "size":
    image = np.zeros((2, H, W + 1, 1), np.float32)
  elif case == "channels":
    image = np.zeros((2, H, W, 3), np.float32)
  elif case == "nan":
    image[0, 0, 0, 0] = np.nan
  elif case == "range":
    image[1, 3, 3, 0] = 1.5
  elif case == "mask_shape":
    mask = mask[:1]
  elif case == "mask_channels":
    mask = np.ones((2, H, W, 2), np.float32)
  elif case == "mask_range":
    mask[0, 0, 0, 0] = -0.5
  elif case == "label_range":
    label = np.array([K, 0], np.int32)
  elif case == "label_size":
    label = np.array([0], np.int32)
  return image, mask, label


@pytest.mark.parametrize("case,message", [
    ("rank", "image must have rank 4"),
    ("size", r"image must be \[batch, 16, 16, 1\]"),
    ("channels", r"image must be \[batch, 16, 16, 1\]"),
    ("nan", "image contains NaN or Inf"),
    ("range", r"image values must be in \[0, 1\]"),
    ("mask_shape", "mask must have the same batch, height and width as image"),
    ("mask_channels", "mask must have 1 channel"),
    ("mask_range", r"mask values must be in \[0, 1\]"),
    ("label_range", r"label must be -1 \(all labels\) or in \[0, 3\)"),
    ("label_size", "label must have one entry per image"),
])
def test_bad_requests_fail_in_graph(loaded, case, message):
  image, mask, label = _bad(case)
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    loaded.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask),
                                         label=tf.constant(label))


def test_only_core_ops(exported):
  graph = helpers.saved_graph(exported[1])
  ops = graph["ops"]
  assert "While" in ops or "StatelessWhile" in ops
  assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
  assert not graph["xla"]
  assert graph["signatures"] >= {"serving_default", "inpaint_with_options"}


def test_networks_round_trip(inpainter, tmp_path):
  cg.save_networks(inpainter, tmp_path)
  assert sorted(os.listdir(tmp_path / "networks")) == ["class_means.npy", "classifier.keras",
                                                       "inpainter.json"]
  rebuilt = cg.load_networks(tmp_path, snapshot_every=2)
  assert rebuilt.get_config() == dict(inpainter.get_config(), snapshot_every=2)
  np.testing.assert_array_equal(rebuilt.class_means.numpy(), inpainter.class_means.numpy())
  image = tf.constant(request()[0] * 2 - 1)
  np.testing.assert_allclose(rebuilt.classifier(image).numpy(),
                             inpainter.classifier(image).numpy(), atol=1e-6)
  with pytest.raises(FileNotFoundError):
    cg.load_networks(tmp_path / "nothing")


def test_generic_writer(tmp_path):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  spec = [tf.TensorSpec([None, 3], tf.float32, name="x")]
  path = export.write_savedmodel(
      tmp_path / "m", 7, models=[model],
      endpoints={"serving_default": (lambda x: {"y": model(x)}, spec)})
  x = np.ones((1, 3), np.float32)
  y = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))["y"]
  np.testing.assert_allclose(y.numpy(), model(x).numpy(), rtol=1e-6)

  def broken(x):
    raise RuntimeError("boom")

  with pytest.raises(RuntimeError, match="boom"):
    export.write_savedmodel(tmp_path / "m", 8, models=[model],
                            endpoints={"serving_default": (broken, spec)})
  assert sorted(os.listdir(tmp_path / "m")) == ["7"]  # Nothing half-written.
  with pytest.raises(ValueError, match="serving_default"):
    export.write_savedmodel(tmp_path / "m", 9, models=[model], endpoints={"other": (broken, spec)})
