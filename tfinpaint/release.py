"""Trained networks -> a servable inpainter in exported/<name>/: bin.export's library.

Two sources, one result:
  * a training workdir (bin.train's checkpoints; the networks are rebuilt exactly as bin.train
    built them, through training.runner.build, and restored);
  * a `networks/` folder (`--from_networks`): the same trained weights, re-exported, e.g. with
    new defaults or after a change of the export format.
The inpainter kind comes from the trained network's entry in training.runner.MODELS (a LeNet or
GoogLeNet is exported as classifier-guided, a DCGAN as semantic); a judge (an MLP, see
tfinpaint.judge) is written to <export_dir>/judge/ instead. Nothing shipped is replaced without
`overwrite`, and a new version goes to the next free version folder unless one is named.
"""

import dataclasses
import datetime
import json
import os

import numpy as np

from tfinpaint import export as export_lib
from tfinpaint import fileio
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.training import runner


@dataclasses.dataclass
class ExportSettings:
  """Everything an export needs (bin/flags.py fills it from flags)."""
  model: str
  export_dir: str
  workdir: str | None = None
  from_networks: str | None = None
  classifier_workdir: str | None = None
  classifier_width: float | None = None
  dataset: str | None = None
  image_size: int | None = None
  channels: int | None = None
  manual_dir: str | None = None
  data_dir: str | None = None
  width: float = 1.0
  z_dim: int = 100
  dropout: float = 0.3
  version: int | None = None
  overwrite: bool = False
  samples: str | None = None
  config: dict = dataclasses.field(default_factory=dict)  # inpainter Config fields to set


def _restore(settings, model, workdir, shape, num_classes, width):
  from tfinpaint.training import loop  # pylint: disable=g-import-not-at-top
  if not workdir or not os.path.isdir(workdir):
    raise InputError(f"no such workdir: {workdir}; train first (python -m bin.train ...)")
  nets = runner.build(model, shape, num_classes, width=width, z_dim=settings.z_dim,
                      dropout=settings.dropout)
  step = loop.restore(workdir, nets)
  if step == 0:
    raise InputError(f"no checkpoint in {os.path.join(workdir, 'checkpoints')}; train first "
                     "(python -m bin.train --flagfile=...)")
  return nets, step


def class_means(ds, num_classes, shape, limit=20000):
  """Average training image per label ([K, H, W, C] in [-1, 1]) for init=class_mean."""
  sums = np.zeros((num_classes,) + tuple(shape), np.float64)
  counts = np.zeros([num_classes], np.int64)
  for images, labels in ds.take(limit).batch(1000):
    np.add.at(sums, np.asarray(labels), np.asarray(images, np.float64))
    np.add.at(counts, np.asarray(labels), 1)
  if (counts == 0).any():
    raise InputError(f"init=class_mean: no training image for label(s) "
                     f"{np.flatnonzero(counts == 0).tolist()}")
  return (sums / counts[:, None, None, None]).astype(np.float32)


def _config(cls, settings, **fixed):
  """The inpainter Config: fixed fields (shapes, classes) + the settings' config fields."""
  names = {f.name for f in dataclasses.fields(cls.Config)}
  unknown = sorted(set(settings.config) - names)
  if unknown:
    raise InputError(f"{', '.join('--' + u for u in unknown)} do(es) not apply to a {cls.KIND} "
                     f"export")
  try:
    return cls.Config(**fixed, **settings.config)
  except TypeError as e:
    raise InputError(f"bad inpainter settings: {e}") from None


def _data(settings):
  from tfinpaint import data  # pylint: disable=g-import-not-at-top
  if not settings.dataset:
    raise InputError("--dataset is required to export from a workdir (classes, test accuracy)")
  size = settings.image_size or runner.MODELS[settings.model].defaults["image_size"]
  channels = settings.channels or runner.MODELS[settings.model].defaults["channels"]
  expand = lambda p: p and os.path.expanduser(p)  # pylint: disable=unnecessary-lambda-assignment

  def split(name):
    return data.load(settings.dataset, name, size, channels, manual_dir=expand(settings.manual_dir),
                     data_dir=expand(settings.data_dir))
  return split, (size, size, channels)


def from_workdir(settings, log=print):
  """Builds the inpainter (or judge) from the training workdir(s); returns (object, facts)."""
  from tfinpaint.training import classifier  # pylint: disable=g-import-not-at-top
  split, shape = _data(settings)
  train_ds, info = split("train")
  test_ds, _ = split("test")
  model = settings.model
  kind = runner.spec(model).inpainter
  if model == "dcgan":
    gan, step = _restore(settings, "dcgan", settings.workdir, shape, info.num_classes,
                         settings.width)
    networks = dict(gan)
    if settings.classifier_workdir:
      from tfinpaint.models import googlenet  # pylint: disable=g-import-not-at-top
      saved = runner.read_flags(os.path.join(settings.classifier_workdir, "flags.txt"),
                                missing_ok=True)
      width = settings.classifier_width or float(saved.get("width", 1.0))
      nets, _ = _restore(settings, "googlenet", settings.classifier_workdir, shape,
                         info.num_classes, width)
      networks["classifier"] = googlenet.endpoints(nets["model"])
      log(f"classifier test accuracy {classifier.evaluate(nets['model'], test_ds, 256):.4f}")
    cls = base.get(kind)
    config = _config(cls, settings, image_shape=shape, z_dim=settings.z_dim,
                     class_names=tuple(info.class_names))
    return cls(networks, config), dict(step=step)
  nets, step = _restore(settings, model, settings.workdir, shape, info.num_classes,
                        settings.width)
  accuracy = classifier.evaluate(nets["model"], test_ds, 256)
  log(f"{model} test accuracy {accuracy:.4f} ({step} steps)")
  if kind is None:  # the judge
    from tfinpaint import judge  # pylint: disable=g-import-not-at-top
    return judge.Judge(nets["model"], dict(test_accuracy=accuracy, steps=step,
                                           dataset=settings.dataset, seed_note="see flags.txt",
                                           class_names=list(info.class_names))), \
        dict(step=step, accuracy=accuracy)
  cls = base.get(kind)
  config = _config(cls, settings, image_shape=shape, num_classes=info.num_classes,
                   class_names=tuple(info.class_names))
  arrays = {}
  if getattr(config, "init", None) == "class_mean":
    arrays["class_means"] = class_means(train_ds, info.num_classes, shape)
  return cls({"classifier": nets["model"]}, config, arrays), dict(step=step, accuracy=accuracy)


def model_card(inpainter, facts, settings, version_dir):
  """A generated MODEL_CARD.md for a new export folder (the user edits it afterwards)."""
  config = base.config_to_json(inpainter.config)
  sigs = inpainter.signatures()
  lines = [f"# {os.path.basename(os.path.normpath(settings.export_dir))}: {inpainter.KIND} "
           "inpainting", "",
           f"- trained: `{settings.model}` on `{settings.dataset}`, {facts.get('step', '?')} steps"
           + (f", test accuracy {facts['accuracy']:.4f}" if "accuracy" in facts else ""),
           f"- exported: {datetime.date.today().isoformat()} to `{version_dir}` "
           f"({'from ' + settings.from_networks if settings.from_networks else 'workdir ' + str(settings.workdir)})",
           "- config: `" + json.dumps(config, sort_keys=True) + "`", "", "## Signatures", ""]
  lines += [f"- `{name}`: {sig.doc}" for name, sig in sigs.items()]
  lines += ["", "Fill in: data, command lines, measured results (bin.evaluate), limitations."]
  return "\n".join(lines) + "\n"


def _previous_facts(networks_path):
  """{"samples", "data"} of the newest export beside a networks/ folder (empty when none)."""
  path = os.path.abspath(os.path.expanduser(networks_path)).rstrip("/")
  if os.path.basename(path) == export_lib.NETWORKS_DIR:
    path = os.path.dirname(path)
  if not export_lib.versions(path):
    return {}
  meta = export_lib.read_metadata(export_lib.version_dir(path))
  return {k: meta[k] for k in ("samples", "data") if k in meta}


def export_model(settings, log=print):
  """The whole export; returns {what: path} of what was written."""
  written = {}
  if settings.from_networks:
    obj = export_lib.load_networks(settings.from_networks, **settings.config)
    facts = {}
  else:
    obj, facts = from_workdir(settings, log)
  if not isinstance(obj, base.Inpainter):  # a judge
    path = os.path.join(settings.export_dir, "judge")
    if os.path.exists(path) and not settings.overwrite:
      raise InputError(f"{path} exists; pass --overwrite to replace the judge")
    written["judge"] = obj.save(path)
    return written
  base_dir = settings.export_dir
  networks = os.path.join(base_dir, export_lib.NETWORKS_DIR)
  same = settings.from_networks and os.path.abspath(settings.from_networks).rstrip("/") in (
      os.path.abspath(base_dir), os.path.abspath(networks))
  if not same:
    written["networks"] = export_lib.save_networks(obj, base_dir, overwrite=settings.overwrite)
  # A re-export keeps what the previous export said about its data and samples.
  extra = _previous_facts(settings.from_networks) if settings.from_networks else {}
  if settings.samples:
    extra["samples"] = settings.samples
  if settings.dataset:
    extra["data"] = settings.dataset
  version = export_lib.export(obj, base_dir, settings.version, overwrite=settings.overwrite,
                              extra=extra)
  written["version"] = version
  card = os.path.join(base_dir, "MODEL_CARD.md")
  if not os.path.exists(card):
    fileio.write_text(card, model_card(obj, facts, settings, version))
    written["card"] = card
  return written
