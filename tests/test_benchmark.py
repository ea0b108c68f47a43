"""Tests for tfinpaint.benchmark: the references compute what the modules compute; FLOP counts."""

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tfinpaint import benchmark
from tfinpaint.inpainting import classifier_guided


def test_classifier_reference_matches_the_batched_module():
  net = helpers.tiny_classifier(3)
  inp = classifier_guided.ClassifierInpainter(net, num_classes=3, image_shape=(16, 16, 1),
                                              step_size=2.0, lambda_tv=0.05, epsilon=0.0,
                                              max_iterations=4, jitter=1)
  images, masks = benchmark.sample_batch(3, (16, 16, 1))
  labels = np.array([0, 2, 1], np.int32)
  ours = inp.inpaint(images, masks, labels, tf.constant(4), tf.constant(7))["inpainted"].numpy()
  ref = benchmark.classifier_reference(inp, images, masks, labels, 4, seed=7)
  np.testing.assert_allclose(ours, ref, atol=1e-5)
  start = inp.inpaint(images, masks, labels, tf.constant(1), tf.constant(7))["inpainted"]
  assert np.abs(ours - start.numpy()).max() > 1e-3  # the iterations did move the pixels


def test_count_flops_of_a_matmul():
  f = tf.function(lambda a, b: tf.matmul(a, b))
  spec = tf.TensorSpec([8, 16], tf.float32), tf.TensorSpec([16, 4], tf.float32)
  assert benchmark.count_flops(f.get_concrete_function(*spec)) == 2 * 8 * 16 * 4


def test_markdown_speedup_against_the_reference():
  rows = [benchmark.Row("b", "batched", 10, 100, 2.0, 1.5),
          benchmark.Row("b", "eager", 1, 10, 1.0, None, "reference")]
  assert rows[0].rate == pytest.approx(500.0) and rows[1].rate == pytest.approx(10.0)
  table = benchmark.markdown(rows)
  assert "| b | batched | 10 | 100 | 2.000 | 500.0 | 50.0x | 1.50 |" in table
  assert "| b | eager | 1 | 10 | 1.000 | 10.0 | 1.0x |  |" in table
