"""DCGAN builders: shapes for the supported sizes, tanh range, Radford's layer pattern."""

import numpy as np
import pytest
from keras import layers

from tfinpaint.errors import InputError
from tfinpaint.models import dcgan
from tfinpaint.models.dcgan import DCGANConfig

# The defaults live in the config only: 64 filters (width 1.0 x 64) and z 100.
FILTERS, Z_DIM = DCGANConfig().filters, DCGANConfig().z_dim


@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (64, 1), (64, 3), (28, 1)])
def test_shapes_and_range(size, channels):
  g = dcgan.build_generator(size, channels, z_dim=8, width=4)
  d = dcgan.build_discriminator(size, channels, width=4)
  assert g.name == "generator" and d.name == "discriminator"
  z = np.random.RandomState(0).uniform(-1, 1, (3, 8)).astype(np.float32)
  last = g.layers[-2]
  last.set_weights([w * 1e4 for w in last.get_weights()])  # drive the tanh into saturation
  image = np.asarray(g(z, training=True))
  assert image.shape == (3, size, size, channels)
  assert image.min() >= -1.0 and image.max() <= 1.0
  assert image.min() < -0.99 and image.max() > 0.99
  assert np.asarray(d(image, training=False)).shape == (3, 1)


def test_generator_layers_halve_channels():
  g = dcgan.build_generator(64, 3, z_dim=100, width=64)
  assert g.get_layer("reshape").output.shape[1:] == (4, 4, 512)
  deconvs = [l for l in g.layers if isinstance(l, layers.Conv2DTranspose)]
  assert [l.output.shape[1:] for l in deconvs] == [
      (8, 8, 256), (16, 16, 128), (32, 32, 64), (64, 64, 3)]
  assert all(l.kernel_size == (5, 5) and l.strides == (2, 2) for l in deconvs)
  assert g.layers[-1].activation.__name__ == "tanh"
  # 28 = 7 * 2^2: 7x7 start.
  g28 = dcgan.build_generator(28, 1, z_dim=10, width=8)
  assert g28.get_layer("reshape").output.shape[1:] == (7, 7, 16)


def test_discriminator_batchnorm_from_first_hidden_layer():
  d = dcgan.build_discriminator(32, 1, width=8)
  convs = [l for l in d.layers if isinstance(l, layers.Conv2D)]
  assert [l.filters for l in convs] == [8, 16, 32]
  assert all(l.kernel_size == (5, 5) and l.strides == (2, 2) for l in convs)
  bns = [l.name for l in d.layers if isinstance(l, layers.BatchNormalization)]
  assert bns == ["conv2_bn", "conv3_bn"]  # none on the input layer
  lrelu = [l for l in d.layers if isinstance(l, dcgan.LeakyReLU)]
  assert len(lrelu) == 3 and all(abs(l.negative_slope - 0.2) < 1e-7 for l in lrelu)
  assert d.output.shape[1:] == (1,) and d.layers[-1].activation.__name__ == "linear"


def test_config_builds_the_paper_network():
  # DCGANConfig's defaults are the paper's: 64 filters (width 1.0), z 100.
  nets = DCGANConfig().build((64, 64, 3), 10)
  assert set(nets) == {"generator", "discriminator"}
  g, d = nets["generator"], nets["discriminator"]
  assert g.input_shape[1:] == (100,)
  assert g.get_layer("reshape").output.shape[1:] == (4, 4, 512)
  assert [l.filters for l in d.layers if isinstance(l, layers.Conv2D)] == [64, 128, 256, 512]
  small = DCGANConfig(width=0.125, z_dim=8).build((32, 32, 1), 10)
  assert small["generator"].input_shape[1:] == (8,)
  assert [l.filters for l in small["discriminator"].layers
          if isinstance(l, layers.Conv2D)] == [8, 16, 32]


@pytest.mark.parametrize("kwargs", [dict(width=0.0), dict(z_dim=0), dict(width=17.0)])
def test_config_range_checked(kwargs):
  with pytest.raises(ValueError, match=next(iter(kwargs))):
    DCGANConfig(**kwargs)


@pytest.mark.parametrize("size", [30, 9, 4, 96 * 3])
def test_bad_sizes(size):
  with pytest.raises(InputError):
    dcgan.build_generator(size, 1, z_dim=Z_DIM, width=FILTERS)
  with pytest.raises(InputError):
    dcgan.build_discriminator(size, 1, width=FILTERS)


def test_bad_channels():
  with pytest.raises(InputError):
    dcgan.build_generator(32, 2, z_dim=Z_DIM, width=FILTERS)


def test_select_leaky_relu_equals_keras_forward_and_backward():
  # The discriminator's LeakyReLU is a select so that no LeakyReluGrad reaches the served
  # graphs (Grappler's remapper logs an ERROR on it); the numbers must be the Keras layer's.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  x = tf.constant(np.concatenate([np.random.default_rng(0).normal(size=999), [0.0]]),
                  tf.float32)
  results = []
  for layer in (dcgan.LeakyReLU(0.2), layers.LeakyReLU(negative_slope=0.2)):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x)
      loss = tf.reduce_sum(y * x)
    results.append((y.numpy(), tape.gradient(loss, x).numpy()))
  np.testing.assert_array_equal(results[0][0], results[1][0])
  np.testing.assert_array_equal(results[0][1], results[1][1])
