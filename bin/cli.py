"""Plumbing shared by every main in bin/: quiet logs, one-line errors, staged outputs.

Why one place: every CLI must behave the same way towards a user who passes
something wrong (one line "error: ..." on stderr, exit code 2, no traceback,
no half-written results) and towards a user who passes nothing wrong (no
screenful of TensorFlow start-up noise). Import this module FIRST in a main,
before anything that imports TensorFlow: the environment variables below are
read once, when TensorFlow's C++ runtime loads.

Set TF_CPP_MIN_LOG_LEVEL=0 in the environment to see TensorFlow's own logs again.
"""

import os

# C++ logs: 3 hides INFO/WARNING/ERROR lines such as Grappler's harmless
# "remapper failed ... LeakyReluGrad". Real failures still raise in Python.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN stays on: its one-line start-up banner is the price of ~2x faster
# convolutions on CPU (measured on the DCGAN inpainting step).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# pylint: disable=wrong-import-position
import contextlib
import shutil
import sys
import tempfile
import warnings

from absl import app
from absl import flags
from absl import logging

from tfinpaint.errors import InputError

EXIT_USAGE = 2


def fail(message):
  """Prints one line "error: <message>" on stderr and exits with code 2."""
  message = " ".join(str(message).split())  # always exactly one line
  sys.stderr.write(f"error: {message}\n")
  sys.stderr.flush()
  sys.exit(EXIT_USAGE)


def _parse_flags(argv):
  """absl flags_parser: flag errors become one "error:" line and exit 2."""
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    fail(e)
  if len(rest) > 1:
    fail(f"unexpected positional argument {rest[1]!r}; pass everything as --flags "
         "(see --helpfull)")
  return rest


def quiet_tensorflow():
  """Silences TensorFlow's and Keras' Python-side chatter without importing TensorFlow.

  tf.get_logger() is the standard "tensorflow" logger, so setting its level here is
  the same as tf.get_logger().setLevel(...) and keeps failing runs (bad flags, missing
  files) free of the seconds TensorFlow takes to import.
  """
  import logging as std_logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)
  std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
  os.environ.setdefault("AUTOGRAPH_VERBOSITY", "0")
  warnings.filterwarnings("ignore", module=r"(keras|tensorflow|tensorflow_datasets)(\..*)?")


def _guarded(main):
  """Wraps main: user errors -> one line + exit 2; Ctrl-C -> exit 130 quietly."""

  def wrapped(argv):
    try:
      quiet_tensorflow()
      return main(argv)
    except InputError as e:
      fail(e)
    except flags.Error as e:  # e.g. a flag validated inside main
      fail(e)
    except FileNotFoundError as e:
      fail(f"no such file or directory: {e.filename or e}")
    except KeyboardInterrupt:
      sys.stderr.write("interrupted\n")
      sys.exit(130)

  return wrapped


def run(main):
  """absl.app.run(main) with the shared flag parser and error handling."""
  logging.set_verbosity(logging.WARNING)
  app.run(_guarded(main), flags_parser=_parse_flags)


@contextlib.contextmanager
def staged_output(output_dir):
  """Yields a temporary directory; its files move into `output_dir` only on success.

  Everything a run writes goes to the staging directory first, so a run that
  fails half way leaves `output_dir` exactly as it was. Files already in
  `output_dir` with the same relative path are replaced (os.replace, atomic
  per file); other files there are left alone.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise InputError(f"--output_dir exists and is not a directory: {output_dir}")
  # Stage beside the nearest existing ancestor, so a failed run creates no folders.
  anchor = os.path.dirname(output_dir)
  while not os.path.isdir(anchor):
    anchor = os.path.dirname(anchor)
  try:
    stage = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(output_dir) + "-", dir=anchor)
  except OSError as e:
    raise InputError(f"cannot write under {anchor}: {e.strerror}") from None
  try:
    yield stage
    for root, _, files in os.walk(stage):
      rel = os.path.relpath(root, stage)
      dest_root = os.path.normpath(os.path.join(output_dir, rel))
      os.makedirs(dest_root, exist_ok=True)
      for name in files:
        os.replace(os.path.join(root, name), os.path.join(dest_root, name))
  finally:
    shutil.rmtree(stage, ignore_errors=True)


# ----------------------------------------------------------------------------- flags -> library
# Per-model defaults for flags left unset (None); a flagfile normally sets them.
MODEL_DEFAULTS = {
    "lenet": dict(image_size=28, channels=1, num_steps=2000, learning_rate=1e-3),
    "googlenet": dict(image_size=64, channels=3, num_steps=20000, learning_rate=1e-3),
    "dcgan": dict(image_size=64, channels=3, num_steps=13000, learning_rate=2e-4),
}
DEFAULT_BATCH_SIZE = 64


def flag_or_default(name, default):
  """The flag's value when the user set it (non-None), else `default`."""
  value = flags.FLAGS[name].value
  return default if value is None else value


def require(name, why):
  """The flag's value; an "error: --name is required ..." exit when it is unset."""
  value = flags.FLAGS[name].value
  if value in (None, "", []):
    raise InputError(f"--{name} is required {why}")
  return value


def model_setting(name):
  """Flag value, else the default of --model (image_size, channels, num_steps, ...)."""
  model = require("model", "(lenet, dcgan or googlenet)")
  return flag_or_default(name, MODEL_DEFAULTS[model][name])


def load_split(split, image_size, channels, *, flip=False):
  """--dataset split -> (tf.data.Dataset, DatasetInfo) with the data flags applied."""
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  F = flags.FLAGS
  spec = require("dataset", "(tfds:NAME, idx:DIR, folder:DIR, sheet:PNG or synthetic)")
  manual_dir = F.manual_dir and os.path.expanduser(F.manual_dir)
  data_dir = F.data_dir and os.path.expanduser(F.data_dir)
  return data.load(spec, split, image_size, channels, manual_dir=manual_dir, data_dir=data_dir,
                   flip=flip, seed=F.seed)


def workdir_flags(workdir):
  """{flag: value string} saved by bin.train in <workdir>/flags.txt ({} when absent)."""
  values = {}
  try:
    with open(os.path.join(workdir, "flags.txt")) as f:
      for line in f:
        line = line.strip()
        if line.startswith("--") and "=" in line:
          name, value = line[2:].split("=", 1)
          values[name] = value
  except FileNotFoundError:
    pass
  return values


def build_network(model, image_shape, num_classes, width=None):
  """The Keras network(s) for --model, with the architecture flags; call in strategy scope.

  Returns a dict: {"model": classifier} for lenet/googlenet,
  {"generator": g, "discriminator": d} for dcgan. bin.train and bin.export build
  through here, so a checkpoint always finds the variables it was saved from.
  `width` overrides --width (a second network of another width, e.g. the GoogLeNet
  next to the DCGAN in a semantic export).
  """
  F = flags.FLAGS
  width = F.width if width is None else width
  if model == "lenet":
    from tfinpaint.models import lenet  # pylint: disable=g-import-not-at-top
    return {"model": lenet.build(image_shape, num_classes, width=width)}
  if model == "googlenet":
    from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
    net = googlenet.build(image_shape, num_classes, width=width, dropout=F.dropout,
                          aux_heads=True)
    return {"model": net}
  if model == "dcgan":
    from tfinpaint.models import dcgan  # pylint: disable=g-import-not-at-top
    size, channels = image_shape[0], image_shape[2]
    base = max(1, int(round(64 * width)))
    return {"generator": dcgan.build_generator(size, channels, z_dim=F.z_dim, width=base),
            "discriminator": dcgan.build_discriminator(size, channels, width=base)}
  raise InputError(f"unknown --model {model!r}")


def sample_digits(shape, instead):
  """The shipped real sample digits, the first --num_images of them: ([N,28,28,1] [-1,1], labels).

  `shape` is the (H, W, C) the model takes (None = any); when it is not 28x28x1 the
  error tells the user to pass `instead` (e.g. "--input").
  """
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  pixels, labels = data.sample_images("digits")
  if shape is not None and tuple(pixels.shape[1:]) != tuple(shape):
    raise InputError(f"the shipped sample digits are 28x28x1 but the model takes "
                     f"{'x'.join(map(str, shape))}; pass {instead}")
  n = min(flags.FLAGS.num_images or len(pixels), len(pixels))
  return pixels[:n], labels[:n]


# ----------------------------------------------------------------------------- exported models
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_DIGITS = "digits_lenet"


def find_shipped(name):
  """exported/<name> in the current directory or next to the package source, else None."""
  for root in (os.getcwd(), REPO_ROOT):
    path = os.path.join(root, "exported", name)
    if os.path.isfile(os.path.join(path, "networks", "inpainter.json")):
      return path
  return None


def load_exports(model_dirs, iterations=None):
  """--model_dir folders -> [methods.Exported], with the hyper-parameter flags applied."""
  from bin import flags as cli_flags  # pylint: disable=g-import-not-at-top
  from tfinpaint import methods  # pylint: disable=g-import-not-at-top
  exports = []
  for path in model_dirs:
    kind = methods.read_kind(path)
    mapping = (cli_flags.CLASSIFIER_OVERRIDES if kind == methods.CLASSIFIER_KIND
               else cli_flags.SEMANTIC_OVERRIDES)
    exports.append(methods.load(path, iterations=iterations, **cli_flags.overrides(mapping)))
  return exports
