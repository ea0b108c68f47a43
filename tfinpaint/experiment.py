"""One experiment, typed: its data, network, training, runtime, export, request defaults and
evaluation, in the manner of tensorflow/models' ExperimentConfig and flax's configs/*.py.

An experiment is a Python file with `get_config()` returning an `Experiment` (configs/*.py; the
configs/*.flags beside them name that file for --flagfile). Each command reads the sections it
needs and refuses overrides of the others (bin/cli.py):

  section    type                           read by
  data       data.DataConfig                bin.train, bin.evaluate
  network    a "network" kind (models/)     bin.train
  train      a "trainer" kind (training/)   bin.train
  runtime    strategy.RuntimeConfig         bin.train
  export     export.ExportConfig            bin.export (bin.inpaint, bin.evaluate: export_dir)
  request    a "method" kind (inpainting/)  bin.export: the exported defaults of every option
  evaluate   evaluation.EvaluateConfig      bin.evaluate

The type of a section picks its implementation: the network config builds the network, the
trainer config runs its trainer, the request config's method is the inpainter that is exported
(tfinpaint.inpainting.base.for_config). So nothing names a kind by string.

Training writes the resolved experiment to <workdir>/config.json when it starts
(`save_to_workdir`); bin.export reads the data and the network back from there
(`from_workdir`), so the architecture is never repeated by hand.
"""

import dataclasses
import importlib.util
import json
import os
import sys

from tfinpaint import config
from tfinpaint import data as data_lib
from tfinpaint import evaluation
from tfinpaint import export as export_lib
from tfinpaint import fileio
from tfinpaint.errors import InputError
from tfinpaint.training import strategy

WORKDIR_CONFIG = "config.json"

# The modules that register the built-in kinds of networks, trainers and methods; another kind
# registers itself when its module is imported (a config file may import it).
BUILTIN = ("tfinpaint.models.lenet", "tfinpaint.models.googlenet", "tfinpaint.models.dcgan",
           "tfinpaint.judge", "tfinpaint.training.classifier", "tfinpaint.training.gan",
           "tfinpaint.inpainting.classifier_guided", "tfinpaint.inpainting.semantic")


def import_builtin():
  for module in BUILTIN:
    importlib.import_module(module)


@dataclasses.dataclass(frozen=True)
class Experiment(config.Config):
  """Everything one experiment decides; see the module docstring for who reads what."""
  name: str = config.field("experiment", help="the experiment's name (logs, model cards)")
  data: data_lib.DataConfig = config.field(factory=data_lib.DataConfig,
                                           help="the images and their size")
  network: config.Config | None = config.field(None, help="the network bin.train trains")
  train: config.Config | None = config.field(None, help="how bin.train trains it")
  runtime: strategy.RuntimeConfig = config.field(factory=strategy.RuntimeConfig,
                                                 help="devices and numerics of training")
  export: export_lib.ExportConfig = config.field(factory=export_lib.ExportConfig,
                                                 help="where bin.export writes, from what")
  request: config.Config | None = config.field(
      None, help="the inpainting method bin.export builds, with the default of every option")
  evaluate: evaluation.EvaluateConfig = config.field(factory=evaluation.EvaluateConfig,
                                                     help="what bin.evaluate compares")

  def __post_init__(self):
    super().__post_init__()
    for section, family in (("network", "network"), ("train", "trainer"),
                            ("request", "method")):
      value = getattr(self, section)
      if value is not None and getattr(type(value), "FAMILY", None) != family:
        raise ValueError(f"{section} must be a registered {family} config, got "
                         f"{type(value).__name__}")
    if (self.network is None) != (self.train is None):
      raise ValueError("network and train go together: an experiment trains a network with a "
                       "trainer, or neither")
    if self.train is not None:
      wanted = tuple(getattr(self.train, "NETWORKS", ()))
      if wanted and self.network is not None and not _builds(self.network, wanted):
        raise ValueError(f"the {self.train.KIND} trainer trains {'+'.join(wanted)}; the "
                         f"{self.network.KIND} network builds something else")


def _builds(network, wanted):
  """Whether `network` builds the models `wanted` (declared by its class, else assumed)."""
  names = getattr(type(network), "BUILDS", None)
  return names is None or tuple(names) == tuple(wanted)


# ----------------------------------------------------------------------------- config files


def load(path):
  """The Experiment of a config file (configs/<name>.py: `get_config()`), InputError if not.

  "file.py:arg" calls get_config("arg") (one file, several variants, as in big_vision). A file
  already imported as a module (a test module that is also its own config) is not run twice:
  its module is reused, so the kinds it registers are registered once.
  """
  import_builtin()
  path, sep, arg = str(path).partition(".py:")
  path = path + ".py" if sep else path
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise InputError(f"no such config file: {path}")
  if not path.endswith(".py"):
    raise InputError(f"a config file is a Python file with get_config() (configs/*.py), got "
                     f"{path}")
  module = next((m for m in list(sys.modules.values())
                 if os.path.abspath(getattr(m, "__file__", None) or "") == path), None)
  if module is None:
    name = "tfinpaint_config_" + "".join(c if c.isalnum() else "_" for c in path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
      spec.loader.exec_module(module)
    except (ValueError, TypeError) as e:  # a field out of range, a wrong type
      del sys.modules[name]
      raise InputError(f"{path}: {e}") from None
  if not callable(getattr(module, "get_config", None)):
    raise InputError(f"{path} has no get_config() returning an Experiment")
  try:
    experiment = module.get_config(arg) if sep else module.get_config()
  except (ValueError, TypeError) as e:
    raise InputError(f"{path}: {e}") from None
  if not isinstance(experiment, Experiment):
    raise InputError(f"{path}: get_config() must return a tfinpaint.experiment.Experiment, got "
                     f"{type(experiment).__name__}")
  return experiment


# ----------------------------------------------------------------------------- workdirs


def save_to_workdir(experiment, workdir, info):
  """<workdir>/config.json: the resolved experiment that trains this workdir, and the classes of
  its data (`info`: data.DatasetInfo), so that the networks can be rebuilt without the data."""
  payload = dict(experiment=config.to_json(experiment), num_classes=int(info.num_classes),
                 class_names=[str(n) for n in info.class_names])
  fileio.write_text(os.path.join(os.path.expanduser(workdir), WORKDIR_CONFIG),
                    json.dumps(payload, indent=2, sort_keys=True) + "\n")


def from_workdir(workdir):
  """(Experiment, num_classes, class_names) saved in a training workdir by bin.train."""
  import_builtin()
  path = os.path.join(os.path.expanduser(str(workdir)), WORKDIR_CONFIG)
  try:
    with open(path, encoding="utf-8") as f:
      payload = json.load(f)
  except FileNotFoundError:
    if not os.path.isdir(os.path.expanduser(str(workdir))):
      raise InputError(f"no such workdir: {workdir}; train first (python -m bin.train "
                       "--flagfile=...)") from None
    raise InputError(f"{workdir} has no {WORKDIR_CONFIG}: it was not written by bin.train "
                     "(train it again with this version)") from None
  except (OSError, ValueError) as e:
    raise InputError(f"cannot read {path}: {e}") from None
  if not isinstance(payload, dict) or not {"experiment", "num_classes"} <= set(payload):
    raise InputError(f"{path} is not a bin.train config (no experiment / num_classes)")
  experiment = config.from_json(Experiment, payload["experiment"], what=path)
  return experiment, int(payload["num_classes"]), tuple(payload.get("class_names", ()))
