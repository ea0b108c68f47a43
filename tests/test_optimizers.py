"""Our pure Nesterov step against Keras' own SGD(nesterov=True) on a quadratic."""

import keras
import numpy as np
import tensorflow as tf

from tfinpaint.inpainting import optimizers


def test_nesterov_step_matches_keras_sgd_nesterov():
  a = tf.constant([[3.0, 0.5], [0.5, 1.0]])
  b = tf.constant([1.0, -2.0])

  def grad_of(x):  # f(x) = 0.5 x^T A x - b^T x
    return tf.linalg.matvec(a, x) - b

  x0 = tf.constant([0.7, -0.3])
  var = tf.Variable(x0)
  sgd = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
  z, v = x0, tf.zeros_like(x0)
  for _ in range(6):
    sgd.apply_gradients([(grad_of(var), var)])
    z, v = optimizers.nesterov_step(z, v, grad_of(z), lr=0.05, momentum=0.9)
    np.testing.assert_allclose(z.numpy(), var.numpy(), rtol=1e-6, atol=1e-7)
  assert not np.allclose(z.numpy(), x0.numpy())


def test_nesterov_step_formula_by_hand():
  z, v = optimizers.nesterov_step(tf.constant(1.0), tf.constant(0.5), tf.constant(2.0),
                                  lr=0.1, momentum=0.9)
  # v = 0.9 * 0.5 - 0.1 * 2 = 0.25; z = 1 + 0.9 * 0.25 - 0.2 = 1.025
  np.testing.assert_allclose([z.numpy(), v.numpy()], [1.025, 0.25], rtol=1e-6)
