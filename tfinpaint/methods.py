"""Every inpainting method behind one callable, by name: baselines and exported models.

Why: bin.inpaint, bin.evaluate and bin.benchmark all need "the method called X"
and should not each know how a ClassifierInpainter is rebuilt from an export or
that the semantic presets want other loss weights for random masks. A method
is a callable

    fn(images [N,H,W,C] in [-1, 1], masks [N,H,W,1] 1 = known, labels int [N], mask_name)
      -> dict of numpy arrays with at least "inpainted" [N,H,W,C] in [-1, 1]

(mask_name is "center", "random", ... or None for mask files; labels may be
None when unknown). Learned methods come from exported model folders
(`exported/<name>/networks/`, written by tfinpaint.export): a classifier-guided
export provides "classifier" and its two ablations, a semantic export provides
the three presets of paper 000.

  * classifier: paper 003 with the exported configuration.
  * tv_only: the same descent with the classifier term switched off (a
    classifier that outputs constant logits has zero input gradient), so only
    masked TV (and the binary penalty, if configured) shape the fill.
  * diffusion_only: the diffusion initialisation, no iterations.
  * yeh / semantic / full: SemanticInpainter presets; unless the caller fixes
    the loss weights, each mask kind gets the paper's weights (Section 3).
"""

import dataclasses
import importlib
import json
import os

import numpy as np

from tfinpaint import masks as masks_lib
from tfinpaint.errors import InputError

BASELINES = ("telea", "navier_stokes", "patchmatch")
CLASSIFIER_METHODS = ("classifier", "tv_only", "diffusion_only")
SEMANTIC_METHODS = ("yeh", "semantic", "full")
LEARNED = CLASSIFIER_METHODS + SEMANTIC_METHODS
NAMES = LEARNED + BASELINES

# The same names as tfinpaint.export.NETWORKS_DIR / CONFIG_FILE and the inpainters' KIND,
# repeated so that a wrong --model_dir fails before TensorFlow is imported (tested equal).
NETWORKS_DIR = "networks"
CONFIG_FILE = "inpainter.json"
CLASSIFIER_KIND = "classifier_guided"
SEMANTIC_KIND = "semantic"
_INPAINTER_MODULES = {CLASSIFIER_KIND: "tfinpaint.inpainting.classifier_guided",
                      SEMANTIC_KIND: "tfinpaint.inpainting.semantic"}


def baseline(name):
  """A classical baseline (telea, navier_stokes, patchmatch) as a method."""
  from tfinpaint.inpainting import baselines  # pylint: disable=g-import-not-at-top
  if name not in baselines.NAMES:
    raise InputError(f"unknown baseline {name!r}; expected one of {', '.join(baselines.NAMES)}")

  def fn(images, masks, labels=None, mask_name=None):
    del labels, mask_name
    return {"inpainted": baselines.inpaint(name, images, masks)}

  return fn


def available_baselines():
  """Baselines whose optional libraries are installed (probed on a tiny image)."""
  probe = np.zeros((1, 8, 8, 1), np.float32)
  mask = np.ones((1, 8, 8, 1), np.float32)
  mask[0, 3:5, 3:5] = 0.0
  found = []
  for name in BASELINES:
    try:
      baseline(name)(probe, mask)
      found.append(name)
    except InputError:
      pass
  return found


# ----------------------------------------------------------------------------- exported models


@dataclasses.dataclass
class Exported:
  """An exported model folder, its kind and its rebuilt inpainter."""
  path: str
  kind: str
  inpainter: object
  overrides: dict
  iterations: int  # default iteration count: serving_default's, else the module's cap

  @property
  def name(self):
    return os.path.basename(os.path.normpath(self.path))

  @property
  def methods(self):
    return CLASSIFIER_METHODS if self.kind == CLASSIFIER_KIND else SEMANTIC_METHODS

  @property
  def image_shape(self):
    return tuple(self.inpainter.image_shape)

  def logits(self, images):
    """Classifier logits for [-1, 1] images (label accuracy), numpy [N, K]."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    if self.kind == CLASSIFIER_KIND:
      return self.inpainter.logits(x).numpy()
    if getattr(self.inpainter, "classifier", None) is None:
      raise InputError(f"{self.path} has no classifier")
    return self.inpainter.classifier(x, training=False)["logits"].numpy()

  @property
  def has_classifier(self):
    return self.kind == CLASSIFIER_KIND or getattr(self.inpainter, "classifier", None) is not None


def read_config(path):
  """<path>/networks/inpainter.json as a dict (kind, config, ...), with one-line errors."""
  config_path = os.path.join(path, NETWORKS_DIR, CONFIG_FILE)
  if not os.path.isdir(path):
    raise InputError(f"no such model folder: {path}")
  try:
    with open(config_path) as f:
      config = json.load(f)
  except FileNotFoundError:
    raise InputError(f"{path} is not an exported model (no {NETWORKS_DIR}/{CONFIG_FILE}); "
                     "export one with bin.export") from None
  except (OSError, ValueError) as e:
    raise InputError(f"cannot read {config_path}: {e}") from None
  if not isinstance(config, dict) or not config.get("kind"):
    raise InputError(f"{config_path} names no inpainter kind")
  return config


def read_kind(path):
  """The "kind" recorded in <path>/networks/inpainter.json, with a one-line error if absent."""
  return read_config(path)["kind"]


def load(path, *, iterations=None, **overrides):
  """Rebuilds the inpainter exported in `path` (exported/<name>).

  Args:
    path: the export folder (holding networks/).
    iterations: iterations the caller will ask for; raises the module's
      max_iterations cap when larger, so the request is not silently clamped.
    **overrides: constructor arguments replacing the exported ones (step_size,
      jitter, learning_rate, ...). Semantic loss weights go in `weights`.

  Returns:
    an Exported.
  """
  config = read_config(path)
  kind = config["kind"]
  if kind not in _INPAINTER_MODULES:
    raise InputError(f"{path}: inpainter kind {kind!r} is not supported by this version")
  overrides = {k: v for k, v in overrides.items() if v is not None}
  exported_cap = (config.get("config") or {}).get("max_iterations", 0)
  if iterations is not None and iterations > exported_cap:
    overrides.setdefault("max_iterations", int(iterations))
  try:
    module = importlib.import_module(_INPAINTER_MODULES[kind])
    inpainter = module.load_networks(path, **overrides)
  except (ValueError, TypeError, OSError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f"cannot rebuild the inpainter in {path}: {e}") from None
  default_iterations = config.get("serving_iterations") or inpainter.max_iterations
  return Exported(path=path, kind=kind, inpainter=inpainter, overrides=overrides,
                  iterations=int(default_iterations))


def _np(out):
  result = {}
  for k, v in out.items():
    result[k] = {kk: np.asarray(vv) for kk, vv in v.items()} if isinstance(v, dict) else (
        np.asarray(v))
  return result


def classifier(exported, *, iterations=None, seed=0, label=-1, true_labels=True):
  """Paper 003 with the exported configuration.

  Labels: with true_labels and known labels, each image is inpainted towards its
  own label (the paper's setting); otherwise towards `label` (-1 = every label,
  lowest energy wins).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  inp = exported.inpainter
  its = exported.iterations if iterations is None else int(iterations)
  if not -1 <= int(label) < inp.num_classes:
    raise InputError(f"label {label} is out of range: the model has {inp.num_classes} classes "
                     "(-1 = try every label)")

  def fn(images, masks, labels=None, mask_name=None):
    del mask_name
    n = len(images)
    if true_labels and labels is not None:
      lab = np.asarray(labels, np.int32).reshape(n)
    else:
      lab = np.full([n], label, np.int32)
    out = inp.inpaint(tf.constant(images, tf.float32), tf.constant(masks, tf.float32),
                      tf.constant(lab), tf.constant(its, tf.int32), tf.constant(seed, tf.int32))
    return _np(out)

  return fn


class _ConstantLogits:
  """Stands in for the classifier: constant logits, so the content term has no gradient."""

  def __init__(self, num_classes):
    self.num_classes = num_classes

  def __call__(self, x, training=False):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    del training
    return tf.zeros([tf.shape(x)[0], self.num_classes], x.dtype)


def tv_only(exported, *, iterations=None, seed=0):
  """Ablation: the classifier-guided descent with the classifier term switched off."""
  from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
  inp = exported.inpainter
  config = inp.get_config()
  config.pop("image_shape")
  means = None if inp.class_means is None else inp.class_means.numpy()
  ablated = classifier_guided.ClassifierInpainter(
      _ConstantLogits(inp.num_classes), image_shape=inp.image_shape, class_means=means, **config)
  ablated_export = dataclasses.replace(exported, inpainter=ablated)
  # Every label has the same energy, so one row per image is enough: the true label when known
  # (it picks the class-mean init, if that is the exported init), else label 0.
  return classifier(ablated_export, iterations=iterations, seed=seed, label=0, true_labels=True)


def diffusion_only(exported):
  """Ablation: the diffusion initialisation of the classifier method, no iterations."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import classifier_guided  # pylint: disable=g-import-not-at-top
  inp = exported.inpainter
  config = inp.get_config()
  config.pop("image_shape")
  config["init"] = "diffusion"
  init_only = classifier_guided.ClassifierInpainter(
      inp.classifier, image_shape=inp.image_shape, **config)
  h, w, c = inp.image_shape
  fill = tf.function(lambda x, m: init_only.initial_fill(x, masks_lib.binarize(m), None),
                     input_signature=[tf.TensorSpec([None, h, w, c], tf.float32),
                                      tf.TensorSpec([None, h, w, 1], tf.float32)])

  def fn(images, masks, labels=None, mask_name=None):
    del labels, mask_name
    return {"inpainted": fill(tf.constant(images, tf.float32),
                              tf.constant(masks, tf.float32)).numpy()}

  return fn


def semantic(exported, preset, *, iterations=None, seed=0, weights=None):
  """A paper-000 preset.

  Loss weights: the exported (center/left) ones, scaled for each mask kind by the paper's
  rule (random masks: 10x inpainting, semantic and categorical weights; see
  losses.weights_for_mask). `weights` overrides the result.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import losses  # pylint: disable=g-import-not-at-top
  base = exported.inpainter
  config = base.config()
  cache = {}

  def module_for(mask_name):
    kind = mask_name if mask_name in masks_lib.NAMES else "file"
    w = losses.weights_for_mask(config["weights"], kind)
    w.update(weights or {})
    key = json.dumps(w, sort_keys=True)
    if key not in cache:
      cfg = dict(config, preset=preset, weights=w)
      if iterations is not None:
        cfg["max_iterations"] = max(int(iterations), cfg["max_iterations"])
      cache[key] = type(base)(base.generator, base.discriminator, base.classifier, **cfg)
    return cache[key]

  def fn(images, masks, labels=None, mask_name=None):
    del labels
    module = module_for(mask_name)
    its = exported.iterations if iterations is None else int(iterations)
    out = module.inpaint(tf.constant(images, tf.float32), tf.constant(masks, tf.float32),
                         tf.constant(its, tf.int32), tf.constant(seed, tf.int32))
    return _np(out)

  return fn


def make(name, exported=(), *, iterations=None, seed=0, label=-1, true_labels=True,
         weights=None):
  """The method called `name`, using the first export that provides it.

  Args:
    name: one of NAMES.
    exported: sequence of Exported (from `load`).
    iterations, seed: optimisation length and stateless seed for learned methods.
    label, true_labels: see `classifier`.
    weights: semantic loss-weight overrides (None = paper weights per mask kind).
  """
  if name in BASELINES:
    return baseline(name)
  if name not in NAMES:
    raise InputError(f"unknown method {name!r}; expected one of {', '.join(NAMES)}")
  providers = [e for e in exported if name in e.methods]
  if not providers:
    need = "a classifier-guided" if name in CLASSIFIER_METHODS else "a semantic (DCGAN)"
    raise InputError(f"method {name} needs {need} export in --model_dir")
  e = providers[0]
  if name == "classifier":
    return classifier(e, iterations=iterations, seed=seed, label=label, true_labels=true_labels)
  if name == "tv_only":
    return tv_only(e, iterations=iterations, seed=seed)
  if name == "diffusion_only":
    return diffusion_only(e)
  if name != "yeh" and getattr(e.inpainter, "classifier", None) is None:
    raise InputError(f"method {name} needs the GoogLeNet classifier, which {e.path} lacks")
  return semantic(e, name, iterations=iterations, seed=seed, weights=weights)
