"""LeNet-5: the small classifier that classifier-guided inpainting (paper 003) differentiates.

Paper 003 inpaints digits and faces by gradient descent on the input of a LeNet trained on
patches. The network is kept as the paper has it, including the max-pooling layers: they make the
input gradient sparse (only the arg-max pixel of each window gets gradient), and that is part of
the method's behaviour, not something to "fix" here. ReLU replaces the original tanh/sigmoid
(modern LeNet). The builder knows nothing of training; it works for any input size >= 12x12 and
any number of channels (grey digits 28x28x1, faces 48x42x1 or 64x64x1, colour images).
"""

import dataclasses

import keras

from tfinpaint import config
from tfinpaint.errors import InputError
from tfinpaint.models import NetworkConfig

_MIN_SIZE = 12  # conv1 'same' -> pool /2 -> conv2 5x5 'valid' (-4) -> pool /2 must leave >= 1.


def _channels(base, width):
  return max(1, int(round(base * width)))


def build(image_shape, num_classes, *, width):
  """Builds LeNet-5 as a functional Keras model named "lenet".

  conv 5x5 (6w, 'same') -> relu -> maxpool 2 -> conv 5x5 (16w, 'valid') -> relu -> maxpool 2
  -> dense 120w -> relu -> dense 84w -> relu -> dense num_classes (logits, no softmax).

  Args:
    image_shape: (height, width, channels) of the input, pixels in [-1, 1].
    num_classes: number of output logits.
    width: multiplier for every layer's channels / units (1.0 = the classic LeNet-5).

  Returns:
    keras.Model mapping image [N, H, W, C] -> logits [N, num_classes].
  """
  image_shape = tuple(int(d) for d in image_shape)
  if len(image_shape) != 3 or min(image_shape) < 1:
    raise InputError(f"lenet: image_shape must be (height, width, channels), got {image_shape}")
  if image_shape[0] < _MIN_SIZE or image_shape[1] < _MIN_SIZE:
    raise InputError(f"lenet: images must be at least {_MIN_SIZE}x{_MIN_SIZE}, got "
                     f"{image_shape[0]}x{image_shape[1]}")
  if int(num_classes) < 2:
    raise InputError(f"lenet: num_classes must be >= 2, got {num_classes}")
  if not width > 0:
    raise InputError(f"lenet: width must be > 0, got {width}")

  layers = keras.layers
  inputs = keras.Input(shape=image_shape, name="image")
  x = layers.Conv2D(_channels(6, width), 5, padding="same", activation="relu", name="conv1")(inputs)
  x = layers.MaxPooling2D(2, name="pool1")(x)
  x = layers.Conv2D(_channels(16, width), 5, padding="valid", activation="relu", name="conv2")(x)
  x = layers.MaxPooling2D(2, name="pool2")(x)
  x = layers.Flatten(name="flatten")(x)
  x = layers.Dense(_channels(120, width), activation="relu", name="fc1")(x)
  x = layers.Dense(_channels(84, width), activation="relu", name="fc2")(x)
  logits = layers.Dense(int(num_classes), name="logits")(x)
  return keras.Model(inputs, logits, name="lenet")


@config.kind("network", "lenet")
@dataclasses.dataclass(frozen=True)
class LeNetConfig(NetworkConfig):
  """LeNet-5, the guide of classifier-guided inpainting (paper 003)."""
  width: float = config.field(1.0, help="multiplier of every layer's channels and units "
                              "(1 = the classic LeNet-5)", low=0.0, low_open=True, high=16.0)

  def build(self, image_shape, num_classes):
    return {"model": build(image_shape, num_classes, width=self.width)}
