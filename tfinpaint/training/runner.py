"""One training run from settings: data, strategy, networks, the right trainer. bin.train's library.

Networks are looked up by name in one registry (`MODELS`): how to build them, how to train them,
their defaults, and which inpainter kind they serve. bin.train and the export (tfinpaint.release)
build networks only through `build`, so a checkpoint always finds the variables it was saved
from.
"""

import dataclasses
import os

from tfinpaint import fileio
from tfinpaint.errors import InputError


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A trainable network kind."""
  trainer: str  # "classifier" or "gan"
  inpainter: str | None  # the inpainter kind it is exported as (None: not an inpainter's)
  defaults: dict  # image_size, channels, num_steps, learning_rate


MODELS = {
    "lenet": ModelSpec("classifier", "classifier_guided",
                       dict(image_size=28, channels=1, num_steps=2000, learning_rate=1e-3)),
    "googlenet": ModelSpec("classifier", "classifier_guided",
                           dict(image_size=64, channels=3, num_steps=20000, learning_rate=1e-3)),
    "dcgan": ModelSpec("gan", "semantic",
                       dict(image_size=64, channels=3, num_steps=13000, learning_rate=2e-4)),
    "judge": ModelSpec("classifier", None,
                       dict(image_size=28, channels=1, num_steps=3000, learning_rate=1e-3)),
}


@dataclasses.dataclass
class TrainSettings:
  """Everything a training run needs (bin/flags.py fills it from flags)."""
  model: str
  dataset: str
  workdir: str
  split: str = "train"  # "train", or "fit" (train minus the validation carve)
  image_size: int | None = None
  channels: int | None = None
  manual_dir: str | None = None
  data_dir: str | None = None
  flip: bool = False
  skip_bad_files: bool = False
  seed: int = 0
  strategy: str = "default"
  devices: tuple = ()  # --strategy=mirrored: device names (empty: all GPUs, else all CPUs)
  mixed_precision: bool = False  # GPU only: mixed_float16 with loss scaling
  memory_growth: bool = False  # GPU only: allocate GPU memory as needed
  num_steps: int | None = None
  batch_size: int = 64
  learning_rate: float | None = None
  lr_boundaries: tuple = ()
  lr_values: tuple = ()
  beta1: float = 0.5
  patch_training: bool = True
  patch_repeats: int = 5
  patch_min: int = 7
  patch_max: int = 20
  face_patches: bool = False
  aux_weight: float = 0.3
  adversarial_epsilon: float = 0.0  # L2 radius of PGD training examples (0 = plain training)
  adversarial_steps: int = 7
  width: float = 1.0
  z_dim: int = 100
  dropout: float = 0.3
  googlenet_npy: str | None = None
  freeze: tuple = ("inception_4a", "inception_4b", "inception_4c")
  log_every: int = 100
  checkpoint_every: int = 1000
  sample_every: int = 1000
  restart_from_scratch: bool = False

  def resolved(self, name):
    """A setting, or the model's default when unset (None)."""
    value = getattr(self, name)
    return MODELS[self.model].defaults[name] if value is None else value


def spec(model):
  if model not in MODELS:
    raise InputError(f"unknown --model {model!r}; expected one of {', '.join(MODELS)}")
  return MODELS[model]


def build(model, image_shape, num_classes, *, width=1.0, z_dim=100, dropout=0.3):
  """The Keras network(s) of `model`: {"model": classifier} or {"generator", "discriminator"}.

  Call inside the strategy scope when training.
  """
  spec(model)
  if model == "lenet":
    from tfinpaint.models import lenet  # pylint: disable=g-import-not-at-top
    return {"model": lenet.build(image_shape, num_classes, width=width)}
  if model == "googlenet":
    from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
    return {"model": googlenet.build(image_shape, num_classes, width=width, dropout=dropout,
                                     aux_heads=True)}
  if model == "judge":
    from tfinpaint import judge  # pylint: disable=g-import-not-at-top
    return {"model": judge.build(image_shape, num_classes, dropout=dropout)}
  from tfinpaint.models import dcgan  # pylint: disable=g-import-not-at-top
  size, channels = image_shape[0], image_shape[2]
  base = max(1, int(round(64 * width)))
  return {"generator": dcgan.build_generator(size, channels, z_dim=z_dim, width=base),
          "discriminator": dcgan.build_discriminator(size, channels, width=base)}


def load_split(settings, split, flip=False):
  """(dataset, DatasetInfo) of a split with the run's data settings."""
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  expand = lambda p: p and os.path.expanduser(p)  # pylint: disable=unnecessary-lambda-assignment
  return data.load(settings.dataset, split, settings.resolved("image_size"),
                   settings.resolved("channels"), manual_dir=expand(settings.manual_dir),
                   data_dir=expand(settings.data_dir), flip=flip, seed=settings.seed,
                   skip_bad=settings.skip_bad_files)


def _check(settings):
  """Refuses impossible settings before anything is written."""
  s = settings
  spec(s.model)
  if s.split not in ("train", "fit"):
    raise InputError(f"--train_split must be train or fit, got {s.split!r}")
  if s.lr_values and len(s.lr_values) != len(s.lr_boundaries) + 1:
    raise InputError(f"--lr_values needs {len(s.lr_boundaries) + 1} values for "
                     f"{len(s.lr_boundaries)} --lr_boundaries")
  if list(s.lr_boundaries) != sorted(set(s.lr_boundaries)):
    raise InputError("--lr_boundaries must be increasing")
  if s.patch_training and s.patch_min > s.patch_max:
    raise InputError(f"--patch_min ({s.patch_min}) must not exceed --patch_max ({s.patch_max})")
  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  loop.check_workdir(s.workdir)


def save_flags(workdir, lines):
  """<workdir>/flags.txt: how the workdir was made (usable as --flagfile)."""
  text = "# flags of the bin.train run that wrote this workdir (usable as --flagfile)\n"
  fileio.write_text(os.path.join(workdir, "flags.txt"), text + "".join(f"{l}\n" for l in lines))


def read_flags(path, missing_ok=False):
  """{flag: value} of a flagfile (or a workdir's flags.txt): --name=value -> str, --name -> True,
  --noname -> False; comments and blank lines skipped. A missing file is {} with missing_ok."""
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.readlines()
  except FileNotFoundError:
    if missing_ok:
      return {}
    raise InputError(f"no such flagfile: {path}") from None
  except OSError as e:
    raise InputError(f"cannot read the flagfile {path}: {e.strerror or e}") from None
  values = {}
  for line in lines:
    line = line.strip()
    if not line.startswith("--"):
      continue
    name, sep, value = line[2:].partition("=")
    if sep:
      values[name] = value
    elif name.startswith("no"):
      values[name[2:]] = False
    else:
      values[name] = True
  return values


def train(settings, flag_lines=(), log=print):
  """Runs one training; returns the final metrics dict (see classifier.train / gan.train).

  The devices are set up first, before any TensorFlow op runs: GPU memory growth, the logical
  CPUs of --devices and MultiWorkerMirroredStrategy all have to be configured before the
  runtime starts. Under --mixed_precision the global Keras policy is mixed_float16 for the run
  and put back afterwards.
  """
  _check(settings)
  s = settings
  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  import keras  # pylint: disable=g-import-not-at-top
  policy = keras.mixed_precision.global_policy()
  loop.configure_gpus(memory_growth=s.memory_growth, mixed_precision=s.mixed_precision, log=log)
  try:
    return _train(s, flag_lines, log)
  finally:
    keras.mixed_precision.set_global_policy(policy)


def _train(s, flag_lines, log):
  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  strategy = loop.make_strategy(s.strategy, devices=s.devices)
  size, channels = s.resolved("image_size"), s.resolved("channels")
  train_ds, info = load_split(s, s.split, flip=s.flip)
  if info.num_examples is not None and s.batch_size > info.num_examples * (
      s.patch_repeats if s.patch_training and spec(s.model).trainer == "classifier" else 1):
    raise InputError(f"--batch_size {s.batch_size} is larger than the {info.num_examples} "
                     f"training examples of {s.dataset}")
  if s.batch_size % strategy.num_replicas_in_sync:
    raise InputError(f"--batch_size {s.batch_size} must be a multiple of the "
                     f"{strategy.num_replicas_in_sync} replicas")
  log(f"training {s.model} on {s.dataset} ({s.split} split, {info.num_classes} classes, "
      f"{size}x{size}x{channels}) with {strategy.num_replicas_in_sync} replica(s) -> {s.workdir}")
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(s.seed)  # reproducible initial weights
  with strategy.scope():
    nets = build(s.model, (size, size, channels), info.num_classes, width=s.width,
                 z_dim=s.z_dim, dropout=s.dropout)
    if s.model == "googlenet" and s.googlenet_npy:
      from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
      loaded = googlenet.load_caffe_npy(nets["model"], s.googlenet_npy, freeze=tuple(s.freeze))
      log(f"initialised {len(loaded['loaded'])} layers from {s.googlenet_npy}")
  common = dict(workdir=s.workdir, strategy=strategy, num_steps=s.resolved("num_steps"),
                batch_size=s.batch_size, learning_rate=s.resolved("learning_rate"),
                log_every=s.log_every, checkpoint_every=s.checkpoint_every, seed=s.seed,
                restart_from_scratch=s.restart_from_scratch)
  os.makedirs(s.workdir, exist_ok=True)
  if loop.is_chief(strategy):  # only the chief writes into the (shared) workdir
    save_flags(s.workdir, flag_lines)
  if spec(s.model).trainer == "classifier":
    from tfinpaint.training import classifier  # pylint: disable=g-import-not-at-top
    test_ds, _ = load_split(s, "test")
    is_judge = s.model == "judge"
    return classifier.train(
        nets["model"], train_ds, test_ds, lr_boundaries=tuple(s.lr_boundaries),
        lr_values=list(s.lr_values) or None, patch_training=s.patch_training and not is_judge,
        patch_repeats=s.patch_repeats, patch_min=s.patch_min, patch_max=s.patch_max,
        face_patches=s.face_patches, aux_weight=s.aux_weight,
        adversarial_epsilon=s.adversarial_epsilon, adversarial_steps=s.adversarial_steps,
        **common)
  from tfinpaint.training import gan  # pylint: disable=g-import-not-at-top
  return gan.train(nets["generator"], nets["discriminator"], train_ds, beta1=s.beta1,
                   z_dim=s.z_dim, sample_every=s.sample_every, **common)
