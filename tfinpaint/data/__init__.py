"""Dataset sources behind one spec string -> tf.data.Dataset of (image, label).

    ds, info = data.load("idx:/usr/share/datasets/fashion-mnist", split="test")
    ds, info = data.DataConfig(dataset="sheet:digits.png").load("validation")

Specs: `tfds:mnist|fashion_mnist|cars196`, `idx:DIR`, `folder:DIR`,
`sheet:PNG[?cell=20&per_class=500&frame=mnist]`, `synthetic`. Every source
ends in the same preprocessing (common.preprocess), so the rest of tfinpaint
only ever sees float32 [S, S, C] images in [-1, 1] and int32 labels, in a
fixed order, unbatched. `sample_images` returns the few real test images
shipped with the package for demos and CLI defaults.
"""

import dataclasses
import os
import re

import numpy as np

from tfinpaint import config
from tfinpaint import images
from tfinpaint.data import folder, idx, sheet, synthetic, tfds_source
from tfinpaint.data.common import (VALIDATION_EVERY, DatasetInfo, carve, check_shape_args,
                                   check_split, finish, source_split)
from tfinpaint.images import read_image
from tfinpaint.errors import InputError

__all__ = ["DataConfig", "DatasetInfo", "load", "sample_images", "SAMPLE_NAMES"]

KINDS = ("tfds", "idx", "folder", "sheet", "synthetic")
SPEC_HELP = "tfds:NAME, idx:DIR, folder:DIR, sheet:PNG[?cell=20&per_class=500] or synthetic"
SAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "samples")
SAMPLE_NAMES = ("digits", "fashion")


@dataclasses.dataclass(frozen=True)
class DataConfig(config.Config):
  """The data section of an experiment: which images, at which size."""
  dataset: str | None = config.field(None, help=f"dataset spec: {SPEC_HELP}")
  image_size: int = config.field(28, help="square image size in pixels", low=8, high=1024)
  channels: int = config.field(1, help="1 (grey) or 3 (RGB)", choices=(1, 3))
  train_split: str = config.field(
      "train", help="data to train on: train (all), or fit (train minus the validation carve, "
      "every 10th example, kept for tuning)", choices=("train", "fit"))
  flip: bool = config.field(False, help="augment training data with seeded horizontal flips")
  manual_dir: str | None = config.field(
      None, help="tfds: folder of hand-downloaded archives (Stanford Cars: cars_train.tgz, "
      "cars_test.tgz, car_devkit.tgz, cars_test_annos_withlabels.mat)")
  data_dir: str | None = config.field(
      None, help="tfds: folder of prepared datasets (default ~/tensorflow_datasets)")
  skip_bad_files: bool = config.field(
      False, help="folder: datasets: leave out image files that cannot be decoded (their count "
      "is printed) instead of stopping at the first one")

  def __post_init__(self):
    super().__post_init__()
    if self.dataset is not None and self.dataset != "synthetic":
      kind, _, arg = self.dataset.partition(":")
      if kind not in KINDS or not arg:
        raise ValueError(f"dataset must be {SPEC_HELP}, got {self.dataset!r}")

  @property
  def image_shape(self):
    return (self.image_size, self.image_size, self.channels)

  def load(self, split, *, flip=False, seed=0):
    """(dataset, DatasetInfo) of one split (see `load`); `flip` only when training asks."""
    if not self.dataset:
      raise InputError(f"the experiment names no dataset: set --config.data.dataset "
                       f"({SPEC_HELP})")
    expand = lambda p: p and os.path.expanduser(p)  # pylint: disable=unnecessary-lambda-assignment
    return load(self.dataset, split, self.image_size, self.channels,
                manual_dir=expand(self.manual_dir), data_dir=expand(self.data_dir),
                flip=flip and self.flip, seed=seed, skip_bad=self.skip_bad_files)


def load(spec, split="train", image_size=28, channels=1, *, manual_dir=None, data_dir=None,
         flip=False, seed=0, skip_bad=False):
  """Loads one split of a dataset.

  Args:
    spec: dataset spec string (see module docstring).
    split: "train", "test", or "fit" / "validation" (train without / only every 10th example,
      for tuning on data the test split never sees); train and test never share an example.
    image_size: output height and width.
    channels: 1 (grey) or 3 (RGB); sources are converted as needed.
    manual_dir: tfds only, directory of hand-downloaded archives.
    data_dir: tfds only, where tfds keeps prepared data.
    flip: random left-right flips (training augmentation), seeded.
    seed: seed for the flips.
    skip_bad: folder sources skip files that cannot be decoded (counted in a printed line)
      instead of failing on the first one.
  Returns:
    (tf.data.Dataset of (float32 [S, S, C] in [-1, 1], int32 label), DatasetInfo).
  """
  check_split(split)
  check_shape_args(image_size, channels)
  if not isinstance(spec, str) or not spec:
    raise InputError(f"empty dataset spec: expected {SPEC_HELP}")
  kind, sep, arg = spec.partition(":")
  read = source_split(split)
  sources = {
      "tfds": lambda: tfds_source.load(arg, read, manual_dir=manual_dir, data_dir=data_dir),
      "idx": lambda: idx.load(os.path.expanduser(arg), read),
      "folder": lambda: folder.load(os.path.expanduser(arg), read, channels, skip_bad=skip_bad),
      "sheet": lambda: sheet.load(os.path.expanduser(arg), read),
  }
  if kind == "synthetic" and not arg:
    raw, info = synthetic.load(read, image_size)
  elif sep and arg and kind in sources:
    raw, info = sources[kind]()
  else:
    raise InputError(f"unknown dataset spec {spec!r}: expected {SPEC_HELP}")
  if split != read:
    raw = carve(raw, split)
    if info.num_examples is not None:
      held = info.num_examples // VALIDATION_EVERY
      info = info._replace(num_examples=held if split == "validation" else
                           info.num_examples - held)
  return finish(raw, image_size, channels, flip, seed), info


def sample_images(name):
  """Real test-split images shipped in tfinpaint/samples/<name>/.

  Returns:
    (float32 [N, H, W, C] in [-1, 1], int32 labels [N]), ordered by label then
    index (file names are "<label>_<index>.png").
  """
  directory = os.path.join(SAMPLES_DIR, str(name))
  if name not in SAMPLE_NAMES or not os.path.isdir(directory):
    raise InputError(f"unknown sample set {name!r}: expected one of {', '.join(SAMPLE_NAMES)}")
  found = []
  for file_name in os.listdir(directory):
    match = re.fullmatch(r"(\d+)_(\d+)\.png", file_name)
    if match:
      found.append((int(match[1]), int(match[2]), os.path.join(directory, file_name)))
  if not found:
    raise InputError(f"no <label>_<index>.png files in {directory}")
  found.sort()
  pixels = np.stack([read_image(path) for _, _, path in found])
  labels = np.array([label for label, _, _ in found], np.int32)
  return images.to_signed(pixels).astype(np.float32), labels
