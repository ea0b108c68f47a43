"""An independent judge of fills: a classifier the inpainters never use, of another model family.

A fill optimised against a network fools that network (and networks like it) more easily than
it fools anything else, so judging classifier-guided fills with the classifier they were
optimised against, or with another CNN, flatters them. The judge here is a multilayer
perceptron: no convolutions, no pooling, no weight sharing, so it does not share the CNNs'
inductive biases or their adversarial directions. It is trained on whole training images with
its own seed (the inpainters' networks are CNNs: LeNet, the DCGAN discriminator, GoogLeNet), and
it gives two things:

  * `predict`: its label for an image (judge accuracy of a fill = does it read the true class);
  * `features`: its penultimate activations, in which `kid` compares a set of fills with a set
    of real images (the kernel inception distance of Binkowski et al. 2018 with the judge as the
    feature extractor: an unbiased MMD^2 with the cubic polynomial kernel; lower is closer,
    0 for the same distribution).

A judge is saved as <dir>/judge.keras + judge.json (accuracy, data, seed).
"""

import dataclasses
import json
import os

import keras
import numpy as np

from tfinpaint import config
from tfinpaint import fileio
from tfinpaint.errors import InputError
from tfinpaint.models import NetworkConfig

FEATURES = "features"
MODEL_FILE = "judge.keras"
INFO_FILE = "judge.json"


def build(image_shape, num_classes, *, hidden, dropout):
  """MLP image [N,H,W,C] in [-1, 1] -> logits [N,K]; the last hidden layer is "features"."""
  inputs = keras.Input(tuple(image_shape), name="image")
  x = keras.layers.Flatten(name="flatten")(inputs)
  for i, units in enumerate(hidden):
    name = FEATURES if i == len(hidden) - 1 else f"dense{i + 1}"
    x = keras.layers.Dense(units, activation="relu", name=name)(x)
    x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
  logits = keras.layers.Dense(int(num_classes), name="logits")(x)
  return keras.Model(inputs, logits, name="judge_mlp")


@config.kind("network", "judge")
@dataclasses.dataclass(frozen=True)
class JudgeConfig(NetworkConfig):
  """The judge MLP (bin.export writes it to <export_dir>/judge/)."""
  hidden: tuple[int, ...] = config.field((512, 256), help="units of the hidden layers")
  dropout: float = config.field(0.3, help="drop rate after each hidden layer", low=0.0,
                                high=0.99)

  def build(self, image_shape, num_classes):
    return {"model": build(image_shape, num_classes, hidden=self.hidden, dropout=self.dropout)}


class Judge:
  """A trained judge: labels and features of [-1, 1] images."""

  def __init__(self, model, info=None):
    self.model = model
    self.info = dict(info or {})
    self._features = keras.Model(model.inputs[0], model.get_layer(FEATURES).output)

  @property
  def image_shape(self):
    return tuple(self.model.input_shape[1:])

  def _batches(self, fn, images, batch_size=256):
    images = np.asarray(images, np.float32)
    if images.shape[1:] != self.image_shape:
      raise InputError(f"the judge takes {self.image_shape} images, got {images.shape[1:]}")
    return np.concatenate([np.asarray(fn(images[i:i + batch_size], training=False))
                           for i in range(0, len(images), batch_size)]) if len(images) else \
        np.zeros((0,), np.float32)

  def predict(self, images):
    return self._batches(self.model, images).argmax(axis=-1).astype(np.int32)

  def features(self, images):
    return self._batches(self._features, images).astype(np.float64)

  def save(self, directory):
    def fill(tmp):
      self.model.save(os.path.join(tmp, MODEL_FILE))
      fileio.write_text(os.path.join(tmp, INFO_FILE), json.dumps(self.info, indent=2) + "\n")
    return fileio.atomic_dir(directory, fill, overwrite=True)


def load(directory):
  path = os.path.join(directory, MODEL_FILE)
  if not os.path.isfile(path):
    raise InputError(f"no judge in {directory} (expected {MODEL_FILE}); train one with "
                     "python -m bin.train and then python -m bin.export, both with "
                     "--flagfile=configs/digits_judge.flags (or fashion_judge)")
  try:
    with open(os.path.join(directory, INFO_FILE)) as f:
      info = json.load(f)
  except (OSError, ValueError):
    info = {}
  try:
    model = keras.saving.load_model(path, compile=False)
  except (OSError, ValueError) as e:
    raise InputError(f"cannot load the judge {path}: {e}") from None
  return Judge(model, info)


def kid(features_a, features_b, subsets=10, subset_size=200, seed=0):
  """Kernel distance of a feature set to a reference set: (mean, std) of unbiased MMD^2.

  k(x, y) = (x . y / d + 1)^3 (Binkowski et al. 2018). Each subset draws min(subset_size, n_a,
  n_b) rows of each set without replacement; the mean estimates MMD^2 (it can be slightly
  negative when the sets are alike).
  """
  a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
    raise ValueError(f"feature sets must be [n, d] of the same d, got {a.shape}, {b.shape}")
  # Both sets in the units of the reference set b (per-feature mean 0, standard deviation 1):
  # raw ReLU activations of an MLP are large and the cubic kernel would make the distance a
  # matter of their scale.
  mean, std = b.mean(axis=0), b.std(axis=0) + 1e-6
  a, b = (a - mean) / std, (b - mean) / std
  m = min(subset_size, len(a), len(b))
  if m < 2:
    raise InputError("the kernel distance needs at least 2 images in each set")
  d = a.shape[1]
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    off = m * (m - 1)
    values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off
                  - 2.0 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))
