"""Writing an Inpainter as the SavedModel that TF Serving, the CLIs and the evaluation all run.

One `export()` for every kind of inpainter (the contract of tfinpaint.inpainting.base), in the
manner of tensorflow/models `official/core/export_base.py`:

  exported/<name>/
    <version>/                 what TF Serving loads (integer folder), and what bin.inpaint,
      saved_model.pb, variables/   bin.evaluate, bin.benchmark and bin.client run
      assets.extra/tfinpaint.json        kind, config, methods, signatures (for the CLIs)
      assets.extra/tf_serving_warmup_requests   one PredictionLog per signature (TF Serving
                                                replays them at load)
    networks/                  the Keras networks + inpainter.json: only for re-export and
                               fine-tuning (`load_networks`), never run by the CLIs
    MODEL_CARD.md

Why keras.export.ExportArchive: a tf.Module that merely holds Keras 3 models saves and reloads
with `tf.saved_model.load`, but the C++ loader that TF Serving uses fails with "Could not find
variable ..."; ExportArchive tracks the models' variables itself. Versions are written to a
temporary folder beside the target and renamed, so TF Serving (which polls the base folder)
never sees a half-written version. Only core TF ops reach the graph: no py_function, no
jit_compile.
"""

import dataclasses
import json
import os

import keras
import numpy as np

from tfinpaint import config
from tfinpaint import fileio
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.serving import warmup

ASSETS_EXTRA = "assets.extra"
METADATA_FILE = "tfinpaint.json"
NETWORKS_DIR = "networks"
NETWORKS_CONFIG = "inpainter.json"
FORMAT = 2  # version of the metadata layout


@dataclasses.dataclass(frozen=True)
class ExportConfig(config.Config):
  """The export section of an experiment: where the servable model goes, from which networks."""
  export_dir: str | None = config.field(
      None, help="export folder exported/<name> (TF Serving's --model_base_path): <version>/ "
      "SavedModels, networks/, judge/, MODEL_CARD.md")
  version: int | None = config.field(None, help="version folder to write (default: the next "
                                     "free one)", low=1, high=10**9)
  overwrite: bool = config.field(False, help="replace an existing version, networks/ or judge/")
  samples: str | None = config.field(
      None, help="shipped sample set the model fits (digits, fashion), shown by bin.inpaint by "
      "default")
  from_networks: str | None = config.field(
      None, help="re-export the trained networks of this networks/ folder (or export folder) "
      "instead of restoring the training workdir")
  networks: dict[str, str] = config.field(
      factory=dict, help="training workdirs of the method's other networks, by role (e.g. "
      "classifier=workdirs/fashion_googlenet for the semantic losses)")


def versions(base_dir):
  """Sorted integer versions present in base_dir (what TF Serving would see)."""
  if not os.path.isdir(base_dir):
    return []
  return sorted(int(d) for d in os.listdir(base_dir)
                if d.isdigit() and os.path.isdir(os.path.join(base_dir, d)))


def next_version(base_dir):
  """1 + the largest existing integer version in base_dir (1 when there is none)."""
  existing = versions(base_dir)
  return existing[-1] + 1 if existing else 1


def metadata(inpainter, extra=None):
  """What the CLIs need to know about an export without rebuilding it (assets.extra JSON).

  extra: more JSON-able facts about the model, e.g. {"samples": "digits"} (the shipped sample
  set bin.inpaint shows by default) or {"data": "<dataset spec>"}.
  """
  sigs = {}
  for name, sig in inpainter.signatures().items():
    sigs[name] = dict(doc=sig.doc, inputs=[s.name for s in sig.inputs],
                      options={o.name: dict(default=o.default, low=o.low, high=o.high,
                                            clamp=o.clamp, help=o.help) for o in sig.options})
  return dict(extra or {}, format=FORMAT, kind=inpainter.KIND,
              config=config.to_json(inpainter.config),
              methods={k: [s, dict(v)] for k, (s, v) in inpainter.methods().items()},
              default_method=inpainter.default_method, signatures=sigs)


def export(inpainter, base_dir, version=None, *, overwrite=False, warmup_records=True,
           extra=None):
  """Writes `inpainter` as `<base_dir>/<version>/` for TF Serving.

  Args:
    inpainter: any registered Inpainter.
    base_dir: e.g. exported/<name>; TF Serving's --model_base_path.
    version: positive int (default: the next free version).
    overwrite: replace an existing version instead of refusing.
    warmup_records: write assets.extra/tf_serving_warmup_requests.
    extra: more metadata (see `metadata`).
  Returns:
    The absolute path of the version directory.
  """
  if not isinstance(inpainter, base.Inpainter):
    raise TypeError(f"export takes an Inpainter, got {type(inpainter).__name__}")
  version = next_version(base_dir) if version is None else int(version)
  if version < 1:
    raise InputError(f"the export version must be a positive integer, got {version}")
  archive = keras.export.ExportArchive()
  for model in inpainter.networks.values():
    archive.track(model)
  names = list(inpainter.signatures())
  # serving_default first, so Keras' own "first endpoint is the default" rule agrees.
  for name in ["serving_default"] + sorted(n for n in names if n != "serving_default"):
    archive.add_endpoint(name, inpainter.python_function(name),
                         input_signature=inpainter.input_signature(name))

  def fill(tmp):
    archive.write_out(tmp, verbose=False)
    assets = os.path.join(tmp, ASSETS_EXTRA)
    os.makedirs(assets, exist_ok=True)
    fileio.write_text(os.path.join(assets, METADATA_FILE),
                      json.dumps(metadata(inpainter, extra), indent=2, sort_keys=True) + "\n")
    if warmup_records:
      warmup.write(os.path.join(assets, warmup.FILE_NAME), warmup.requests(inpainter))

  return fileio.atomic_dir(os.path.join(base_dir, str(version)), fill, overwrite=overwrite)


def read_metadata(version_dir):
  """assets.extra/tfinpaint.json of an exported version, with one-line errors."""
  path = os.path.join(version_dir, ASSETS_EXTRA, METADATA_FILE)
  try:
    with open(path) as f:
      meta = json.load(f)
  except FileNotFoundError:
    raise InputError(f"{version_dir} is not a tfinpaint export (no {ASSETS_EXTRA}/"
                     f"{METADATA_FILE}); export one with bin.export") from None
  except (OSError, ValueError) as e:
    raise InputError(f"cannot read {path}: {e}") from None
  if not isinstance(meta, dict) or meta.get("format") != FORMAT or "kind" not in meta:
    raise InputError(f"{path} is not a format-{FORMAT} tfinpaint export; re-export it with "
                     "this version (python -m bin.export --config.export.from_networks=...)")
  return meta


# ---------------------------------------------------------------------------------------------
# networks/: the trained Keras networks, for re-export and fine-tuning only.
# ---------------------------------------------------------------------------------------------


def save_networks(inpainter, base_dir, *, overwrite=False):
  """Writes `<base_dir>/networks/` (one .keras per network, arrays as .npy, inpainter.json).

  An existing networks/ is replaced only with overwrite=True: it may hold the only copy of
  trained weights.
  """
  path = os.path.join(base_dir, NETWORKS_DIR)
  if os.path.exists(path) and not overwrite:
    raise InputError(f"{path} exists (trained networks); pass --config.export.overwrite=true to replace it")
  payload = dict(kind=inpainter.KIND, config=config.to_json(inpainter.config),
                 networks=sorted(inpainter.networks), arrays=sorted(inpainter.arrays))

  def fill(tmp):
    for name, model in inpainter.networks.items():
      model.save(os.path.join(tmp, f"{name}.keras"))
    for name, array in inpainter.arrays.items():
      np.save(os.path.join(tmp, f"{name}.npy"), np.asarray(array))
    fileio.write_text(os.path.join(tmp, NETWORKS_CONFIG),
                      json.dumps(payload, indent=2, sort_keys=True) + "\n")

  return fileio.atomic_dir(path, fill, overwrite=True)


def load_networks(path):
  """Rebuilds the inpainter saved by save_networks (path: the export folder or networks/); the
  kind is looked up in the registry."""
  from tfinpaint.models import registered_layers  # pylint: disable=g-import-not-at-top
  registered_layers()  # custom layers the .keras files may contain
  path = os.path.expanduser(str(path))
  if not os.path.isfile(os.path.join(path, NETWORKS_CONFIG)):
    path = os.path.join(path, NETWORKS_DIR)
  config_path = os.path.join(path, NETWORKS_CONFIG)
  try:
    with open(config_path) as f:
      payload = json.load(f)
  except FileNotFoundError:
    raise InputError(f"no {NETWORKS_CONFIG} in {path}: not a networks folder") from None
  except (OSError, ValueError) as e:
    raise InputError(f"cannot read {config_path}: {e}") from None
  if not isinstance(payload, dict) or not {"kind", "config", "networks", "arrays"} <= set(payload):
    raise InputError(f"{config_path} is not a tfinpaint networks description")
  cls = base.get(payload.get("kind"))
  saved = config.from_json(cls.Config, payload["config"], what=config_path)
  try:
    networks = {name: keras.saving.load_model(os.path.join(path, f"{name}.keras"), compile=False)
                for name in payload["networks"]}
    arrays = {name: np.load(os.path.join(path, f"{name}.npy")) for name in payload["arrays"]}
  except (OSError, ValueError) as e:
    raise InputError(f"cannot load the networks in {path}: {e}") from None
  return cls(networks, saved, arrays)


def version_dir(model_dir, version=None):
  """exported/<name>[/<version>] -> the version folder to run (the latest by default)."""
  model_dir = os.path.expanduser(str(model_dir))
  if not os.path.isdir(model_dir):
    raise InputError(f"no such model folder: {model_dir}")
  if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
    return model_dir
  found = versions(model_dir)
  if version is not None:
    if int(version) not in found:
      raise InputError(f"{model_dir} has no version {version} (it has "
                       f"{', '.join(map(str, found)) or 'none'})")
    return os.path.join(model_dir, str(int(version)))
  if not found:
    raise InputError(f"{model_dir} holds no exported version (<integer>/saved_model.pb); "
                     "export one with bin.export")
  return os.path.join(model_dir, str(found[-1]))

