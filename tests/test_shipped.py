"""The SavedModels shipped in exported/, on the real sample images shipped in the package.

Why: these are the artefacts users serve. The check that counts is `saved_model_cli run` in a
subprocess (the C++ loader TF Serving uses); batch independence matters because TF Serving
batches requests together; and the classifier-guided model must actually do its job on real
held-out digits: after inpainting, the shipped classifier recognises the true label more often
than on the masked digit.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint import data, images, masks, methods

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIGITS = os.path.join(ROOT, "exported", "digits_lenet")
FASHION = os.path.join(ROOT, "exported", "fashion_semantic")


def _center_batch(name, size):
  x, labels = data.sample_images(name)
  if x.shape[1] != size:
    x = tf.image.resize(x, (size, size)).numpy()
  m = masks.make("center", len(x), size, size)
  return images.to_unit(x), m, labels


@pytest.fixture(scope="module")
def digits_model():
  return tf.saved_model.load(os.path.join(DIGITS, "1"))


def test_digits_saved_model_cli_inpaints_a_batch(tmp_path):
  x01, m, labels = _center_batch("digits", 28)
  out = helpers.saved_model_cli_run(
      os.path.join(DIGITS, "1"), "inpaint_with_options",
      dict(image=x01[:4], mask=m[:4], label=labels[:4], iterations=np.int32(20),
           seed=np.int32(0)), tmp_path)
  assert out["inpainted"].shape == (4, 28, 28, 1)
  np.testing.assert_allclose(out["inpainted"][m[:4] == 1], x01[:4][m[:4] == 1], atol=1e-6)
  assert (out["iterations"] <= 20).all() and list(out["label"]) == list(labels[:4])


def test_digits_inpainting_recovers_the_label(digits_model):
  # Paper 003's claim on real held-out digits: a centre hole hides the class, the fill brings
  # it back (16 shipped digits, judged by the shipped classifier).
  x01, m, labels = _center_batch("digits", 28)
  out = digits_model.signatures["serving_default"](
      image=tf.constant(x01), mask=tf.constant(m), label=tf.constant(labels))
  classifier = methods.load(DIGITS).inpainter.classifier
  masked = images.to_signed(x01 * m)
  before = np.mean(np.argmax(classifier(masked), -1) == labels)
  after = np.mean(np.argmax(classifier(images.to_signed(out["inpainted"].numpy())), -1) == labels)
  assert after > before and after >= 0.9, (before, after)


def test_digits_batch_independence_and_iteration_cap(digits_model):
  x01, m, labels = _center_batch("digits", 28)
  run = digits_model.signatures["inpaint_with_options"]
  alone = run(image=x01[5:6], mask=m[5:6], label=labels[5:6], iterations=tf.constant(30),
              seed=tf.constant(7))
  batch = run(image=x01, mask=m, label=labels, iterations=tf.constant(30), seed=tf.constant(7))
  np.testing.assert_allclose(alone["inpainted"][0], batch["inpainted"][5], atol=1e-6)
  # A request for 10**9 iterations is clamped to the export-time cap.
  capped = run(image=x01[:1], mask=np.zeros_like(m[:1]), label=labels[:1],
               iterations=tf.constant(10**9), seed=tf.constant(0))
  assert int(capped["iterations"][0]) <= 1000


@pytest.mark.parametrize("bad, message", [
    ("rank", "rank"), ("nan", "NaN"), ("mask", "mask")])
def test_digits_bad_input_is_a_clear_error(digits_model, bad, message):
  x01, m, labels = _center_batch("digits", 28)
  image, mask = x01[:2], m[:2]
  if bad == "rank":
    image = image[..., 0]
  elif bad == "nan":
    image = image.copy()
    image[0, 0, 0, 0] = np.nan
  else:
    mask = mask[:, :20]
  with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=message):
    digits_model.signatures["serving_default"](image=tf.constant(image), mask=tf.constant(mask),
                                                label=tf.constant(labels[:2]))


def test_fashion_semantic_saved_model_cli_inpaints_a_batch(tmp_path):
  x01, m, _ = _center_batch("fashion", 32)
  out = helpers.saved_model_cli_run(
      os.path.join(FASHION, "1"), "inpaint_with_options",
      dict(image=x01[:2], mask=m[:2], iterations=np.int32(3), seed=np.int32(0)), tmp_path)
  assert out["inpainted"].shape == (2, 32, 32, 1) and out["generated"].shape == (2, 32, 32, 1)
  np.testing.assert_allclose(out["inpainted"][m[:2] == 1], x01[:2][m[:2] == 1], atol=1e-5)
  assert np.isfinite(out["loss"]).all()
