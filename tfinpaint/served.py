"""The exported SavedModel as tfinpaint runs it: one loader and one way to call a signature.

bin.inpaint, bin.evaluate and bin.benchmark run exactly what TF Serving runs: the version
folder `exported/<name>/<version>/` (the latest by default), through its signatures. Nothing is
rebuilt from `networks/`, so a damaged export fails everywhere alike and a result measured from
the CLI is a result of the served model.

`Model.run(signature, inputs, options)` behaves like a TF Serving predict request: options left
out take the defaults recorded in the SignatureDef, unknown names and wrong shapes are refused
with one line naming what was expected, and an InvalidArgument raised by the graph's own
validation becomes an InputError carrying its message.
"""

import dataclasses
import os
import re

import numpy as np
import tensorflow as tf

from tfinpaint import export as export_lib
from tfinpaint.errors import InputError
from tfinpaint.serving import records
from tfinpaint.serving import tfprotos


REQUEST_INPUTS = ("image", "mask", "label", "threshold")  # the contract's per-request inputs
BATCH_SIZE = 64  # images per call of a model, unless a command's settings say otherwise
SHIPPED = ("digits_lenet", "fashion_semantic")  # the shipped models: the default demo, in order
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_shipped(name):
  """exported/<name> in the current folder or beside the package source, else None."""
  for root in (os.getcwd(), REPO_ROOT):
    path = os.path.join(root, "exported", name)
    if os.path.isdir(path):
      return path
  return None


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
  """What a SignatureDef declares: inputs {name: (dtype, shape)}, defaults, output names."""
  inputs: dict
  defaults: dict
  outputs: tuple

  @property
  def required(self):
    """The per-request inputs (every other input is an option with a default)."""
    return tuple(n for n in REQUEST_INPUTS if n in self.inputs)


def read_signatures(version_dir):
  """{signature name: SignatureInfo} read from saved_model.pb (as TF Serving's metadata shows)."""
  path = os.path.join(version_dir, "saved_model.pb")
  proto = tfprotos.saved_model_pb2.SavedModel()
  try:
    with open(path, "rb") as f:
      proto.ParseFromString(f.read())
  except (OSError, Exception) as e:  # pylint: disable=broad-except  # protobuf DecodeError
    raise InputError(f"cannot read {path}: {e}") from None
  out = {}
  for name, sig in proto.meta_graphs[0].signature_def.items():
    if name.startswith("__"):  # __saved_model_init_op
      continue
    inputs = {k: (tf.dtypes.as_dtype(v.dtype).as_numpy_dtype,
                  tuple(None if d.size < 0 else d.size for d in v.tensor_shape.dim))
              for k, v in sig.inputs.items()}
    defaults = {k: records.from_tensor_proto(v) for k, v in sig.defaults.items()}
    out[name] = SignatureInfo(inputs, defaults, tuple(sorted(sig.outputs)))
  return out


def _shape_text(shape):
  return "[" + ", ".join("batch" if d is None else str(d) for d in shape) + "]"


def error_message(e):
  """The project's one-line message inside a TF InvalidArgument (an exception or its text, e.g.
  what TF Serving or the C API answered), else the text's first line."""
  text = e if isinstance(e, str) else getattr(e, "message", str(e))
  # The message may itself hold brackets ("image values must be in [0, 1]"): it ends at the
  # "]" that the Assert's next printed item (" [") or the end of its line follows.
  match = re.search(r"assertion failed: \[(.*?)\](?= \[|\s*$|\n)", text, re.MULTILINE)
  return match.group(1) if match else text.strip().splitlines()[0]


@dataclasses.dataclass
class Model:
  """An exported version, loaded with tf.saved_model.load, with its tfinpaint metadata."""
  base_dir: str
  version_dir: str
  kind: str
  config: dict
  methods: dict  # method name -> (signature, {option: value})
  signatures: dict  # name -> SignatureInfo
  loaded: object = dataclasses.field(repr=False)
  default_method: str = ""
  samples: str | None = None  # the shipped sample set that fits the model
  data: str | None = None  # the dataset spec the model was trained on

  @property
  def name(self):
    return os.path.basename(os.path.normpath(self.base_dir))

  @property
  def version(self):
    return int(os.path.basename(os.path.normpath(self.version_dir)))

  @property
  def image_shape(self):
    return tuple(self.config["image_shape"])

  @property
  def num_classes(self):
    return self.config.get("num_classes")

  def options(self, signature):
    """{option name: default} of a signature (its defaulted inputs)."""
    return dict(self.signatures[signature].defaults)

  def run(self, signature, inputs, options=None):
    """One call of `signature`; returns {output: numpy array}.

    Args:
      signature: a signature name (see `signatures`).
      inputs: {name: array} for the required inputs (image, mask, label, threshold).
      options: {option: value}; options left out take the SignatureDef's defaults.
    """
    if signature not in self.signatures:
      raise InputError(f"{self.name} has no signature {signature!r}; it has "
                       f"{', '.join(sorted(self.signatures))}")
    info = self.signatures[signature]
    options = {k: v for k, v in (options or {}).items() if v is not None}
    feeds = dict(info.defaults)
    unknown = sorted(set(options) - set(info.defaults))
    if unknown:
      raise InputError(f"signature {signature} of {self.name} takes no option "
                       f"{', '.join(unknown)}; its options are "
                       f"{', '.join(sorted(info.defaults))}")
    feeds.update(options)
    missing = [n for n in info.required if n not in inputs]
    if missing:
      raise InputError(f"signature {signature} needs input(s) {', '.join(missing)}")
    feeds.update({k: v for k, v in inputs.items() if k in info.inputs})
    tensors = {}
    for name, value in feeds.items():
      dtype, shape = info.inputs[name]
      array = np.asarray(value)
      if array.ndim != len(shape) or any(d is not None and d != a
                                         for d, a in zip(shape, array.shape)):
        raise InputError(f"{name} must be {_shape_text(shape)}, got {list(array.shape)}")
      tensors[name] = tf.constant(array, dtype)
    try:
      out = self.loaded.signatures[signature](**tensors)
    except tf.errors.InvalidArgumentError as e:
      raise InputError(f"{self.name}: {error_message(e)}") from None
    return {k: v.numpy() for k, v in out.items()}

  def run_batches(self, signature, inputs, options=None, batch_size=BATCH_SIZE):
    """`run` over chunks of at most batch_size images; outputs concatenated (all batch-major)."""
    n = len(inputs["image"])
    per_image = {k for k, v in inputs.items() if np.ndim(v) and len(v) == n}
    chunks = []
    for start in range(0, max(n, 1), batch_size):
      chunk = {k: (v[start:start + batch_size] if k in per_image else v)
               for k, v in inputs.items()}
      chunks.append(self.run(signature, chunk, options))
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def load(model_dir, version=None):
  """Loads exported/<name> (its latest version, or `version`) or a version folder."""
  version_dir = export_lib.version_dir(model_dir, version)
  meta = export_lib.read_metadata(version_dir)
  signatures = read_signatures(version_dir)
  try:
    loaded = tf.saved_model.load(version_dir)
  except (tf.errors.OpError, ValueError, OSError, IndexError) as e:  # IndexError: truncated
    raise InputError(f"cannot load the SavedModel in {version_dir}: "  # variables.data
                     f"{error_message(e) or type(e).__name__}") from None
  base_dir = os.path.dirname(os.path.normpath(version_dir))
  methods = {k: (v[0], dict(v[1])) for k, v in meta["methods"].items()}
  return Model(base_dir=base_dir, version_dir=version_dir, kind=meta["kind"],
               config=meta["config"], methods=methods, signatures=signatures, loaded=loaded,
               default_method=meta["default_method"], samples=meta.get("samples"),
               data=meta.get("data"))
