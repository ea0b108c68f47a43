"""DCGAN generator and discriminator (Radford et al. 2016), as in paper 000.

The semantic inpainter optimises the latent z of this generator and uses the
discriminator's logit as its prior loss, so both are plain Keras functional
models that know nothing about training: `build_generator` maps z [N, z_dim]
to an image in [-1, 1] (tanh) and `build_discriminator` maps an image to one
pre-sigmoid logit [N, 1].

Architecture (Radford et al., Section 3 and Figure 1; ChengBinJin's
implementation used by paper 000):
  generator:      dense z -> b x b x (width * 2^(n-1)), BatchNorm, ReLU, then
                  n transposed 5x5 stride-2 convs that halve the channels, each
                  with BatchNorm + ReLU except the last, which maps to
                  `channels` with tanh.
  discriminator:  n strided 5x5 convs (width, 2 width, ..., width * 2^(n-1))
                  with LeakyReLU 0.2, BatchNorm after every conv except the
                  first (Radford: "not applying batchnorm to the discriminator
                  input layer"; the issue's "BatchNorm after the first" is read
                  as "from the first hidden layer on"), then flatten -> dense
                  logit.
Image sizes: any size = b * 2^n with a start size b in 4..7 and n >= 1,
e.g. 64 (4 * 2^4), 32 (4 * 2^3), 28 (7 * 2^2), 48 (6 * 2^3).
Weights start from N(0, 0.02) as in the paper.
"""

import dataclasses

import keras
from keras import layers

from tfinpaint import config
from tfinpaint.errors import InputError
from tfinpaint.models import NetworkConfig

_INIT_STDDEV = 0.02
LEAKY_SLOPE = 0.2
_BN = dict(momentum=0.9, epsilon=1e-5)  # the TF DCGAN implementations' values.


@keras.saving.register_keras_serializable(package="tfinpaint")
class LeakyReLU(layers.Layer):
  """x if x > 0 else slope * x, written as a select.

  The same numbers as keras.layers.LeakyReLU, forward and backward (its gradient is 1 for x > 0
  and slope otherwise, as LeakyReluGrad's). Why not the Keras layer: the inpainters
  differentiate the discriminator inside a served while_loop, and Grappler's remapper fails on
  the LeakyReluGrad op there, logging an ERROR line on every served call.
  """

  def __init__(self, negative_slope=LEAKY_SLOPE, **kwargs):
    super().__init__(**kwargs)
    self.negative_slope = float(negative_slope)

  def call(self, x):
    return keras.ops.where(x > 0, x, x * self.negative_slope)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return dict(super().get_config(), negative_slope=self.negative_slope)


def start_size(image_size):
  """Returns (b, n) with image_size = b * 2^n, 4 <= b <= 7, n >= 1."""
  size, n = int(image_size), 0
  while size % 2 == 0 and size > 7:
    size //= 2
    n += 1
  if n < 1 or not 4 <= size <= 7:
    raise InputError(f"DCGAN image_size must be b * 2^n with b in 4..7 and n >= 1 "
                     f"(e.g. 28, 32, 64), got {image_size}")
  return size, n


def _check(channels, width, z_dim=1):
  if channels not in (1, 3):
    raise InputError(f"channels must be 1 or 3, got {channels}")
  if width < 1 or z_dim < 1:
    raise InputError(f"width and z_dim must be positive, got width={width} z_dim={z_dim}")


def _init():
  return keras.initializers.RandomNormal(stddev=_INIT_STDDEV)


def build_generator(image_size, channels, *, z_dim, width):
  """DCGAN generator: z [N, z_dim] -> image [N, image_size, image_size, channels] in [-1, 1]."""
  _check(channels, width, z_dim)
  base, n = start_size(image_size)
  z = keras.Input((z_dim,), name="z")
  ch = width * 2 ** (n - 1)
  x = layers.Dense(base * base * ch, use_bias=False, kernel_initializer=_init(),
                   name="project")(z)
  x = layers.Reshape((base, base, ch), name="reshape")(x)
  x = layers.BatchNormalization(name="project_bn", **_BN)(x)
  x = layers.ReLU(name="project_relu")(x)
  for i in range(1, n):
    ch //= 2
    x = layers.Conv2DTranspose(ch, 5, strides=2, padding="same", use_bias=False,
                               kernel_initializer=_init(), name=f"deconv{i}")(x)
    x = layers.BatchNormalization(name=f"deconv{i}_bn", **_BN)(x)
    x = layers.ReLU(name=f"deconv{i}_relu")(x)
  x = layers.Conv2DTranspose(channels, 5, strides=2, padding="same", kernel_initializer=_init(),
                             name=f"deconv{n}")(x)
  image = layers.Activation("tanh", name="tanh")(x)
  return keras.Model(z, image, name="generator")


def build_discriminator(image_size, channels, *, width):
  """DCGAN discriminator: image [N, H, W, C] in [-1, 1] -> logit [N, 1] (pre-sigmoid)."""
  _check(channels, width)
  _, n = start_size(image_size)
  image = keras.Input((image_size, image_size, channels), name="image")
  x = image
  for i in range(n):
    x = layers.Conv2D(width * 2 ** i, 5, strides=2, padding="same", use_bias=(i == 0),
                      kernel_initializer=_init(), name=f"conv{i + 1}")(x)
    if i > 0:
      x = layers.BatchNormalization(name=f"conv{i + 1}_bn", **_BN)(x)
    x = LeakyReLU(LEAKY_SLOPE, name=f"conv{i + 1}_lrelu")(x)
  x = layers.Flatten(name="flatten")(x)
  logit = layers.Dense(1, kernel_initializer=_init(), name="logit")(x)
  return keras.Model(image, logit, name="discriminator")


@config.kind("network", "dcgan")
@dataclasses.dataclass(frozen=True)
class DCGANConfig(NetworkConfig):
  """Radford et al.'s DCGAN: the prior of semantic inpainting (paper 000)."""

  BUILDS = ("generator", "discriminator")
  width: float = config.field(1.0, help="filter multiplier (x64 filters in the first layer)",
                              low=0.0, low_open=True, high=16.0)
  z_dim: int = config.field(100, help="latent size", low=1, high=4096)

  @property
  def filters(self):
    return max(1, int(round(64 * self.width)))

  def build(self, image_shape, num_classes):
    del num_classes  # unconditional
    size, channels = image_shape[0], image_shape[2]
    return {"generator": build_generator(size, channels, z_dim=self.z_dim, width=self.filters),
            "discriminator": build_discriminator(size, channels, width=self.filters)}
