"""Keras 3 model builders (DCGAN, GoogLeNet, LeNet); they know nothing of training.

Each network kind has a config dataclass (`NetworkConfig`, registered as a "network" kind with
tfinpaint.config.kind) holding its architecture; `config.build(image_shape, num_classes)` makes
its Keras models by name ({"model"} for a classifier, {"generator", "discriminator"} for the
DCGAN). An experiment names the network by its config (configs/*.py); a training workdir saves
it, and export rebuilds the same network from there.
"""

import dataclasses

from tfinpaint import config


@dataclasses.dataclass(frozen=True)
class NetworkConfig(config.Config):
  """Base of the network configs: the architecture, and how to build it."""

  BUILDS = ("model",)  # the names of the models `build` returns

  def build(self, image_shape, num_classes):
    """{name: keras.Model} of this architecture for images `image_shape` and `num_classes`."""
    raise NotImplementedError

  def initialise(self, networks, log=print):  # pylint: disable=unused-argument
    """Called once before training from scratch (e.g. pre-trained weights); default: nothing."""
    return None


def registered_layers():
  """Imports the model modules, so their custom Keras layers (registered under "tfinpaint>")
  deserialise from .keras files; returns their names."""
  from tfinpaint.models import dcgan, googlenet  # pylint: disable=g-import-not-at-top
  return (dcgan.LeakyReLU.__name__, googlenet.LocalResponseNorm.__name__)
