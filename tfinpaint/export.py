"""Writing inpainters as SavedModels that TF Serving loads, and reading their networks back.

Why this module exists: a tf.Module that merely holds Keras 3 models saves and
reloads with `tf.saved_model.load`, but the C++/TF1 loader that TF Serving and
`saved_model_cli` use fails with "Could not find variable ...". Exporting
through `keras.export.ExportArchive`, which tracks the models' underlying
tf.Variables itself, gives a SavedModel both loaders accept. Everything here is
generic so that every inpainter (classifier-guided, semantic GAN) is exported
the same way:

  * `validate_inputs` / `validate_label`: in-graph checks that turn bad
    requests into InvalidArgument errors with a clear message, because a
    server cannot raise a Python exception to its client.
  * `write_savedmodel`: Keras models + endpoints -> `<base>/<version>/`,
    written to a temp dir beside it and renamed, so TF Serving (which polls
    `<base>`) never sees a half-written version.
  * `write_inpainter`: the two signatures every inpainter serves
    (`serving_default` with the iteration count and seed fixed at export,
    `inpaint_with_options` with them as inputs, iterations clamped), on top of
    `write_savedmodel`.
  * `write_networks` / `read_networks`: the trained Keras models as `.keras`
    files plus the inpainter's constructor config (`inpainter.json`) and numpy
    extras (`*.npy`) in `<base>/networks/`, so the CLIs rebuild exactly the
    module that is served.

Only core TF ops reach the exported graph: no py_function, no jit_compile.
"""

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfinpaint.errors import InputError

NETWORKS_DIR = "networks"
CONFIG_FILE = "inpainter.json"


# ---------------------------------------------------------------------------------------------
# In-graph input validation.
# ---------------------------------------------------------------------------------------------


def _shape4(x):
  """tf.shape(x) padded / cut to 4 entries, so comparisons are defined for any rank."""
  return tf.concat([tf.shape(x), tf.fill([4], -1)], axis=0)[:4]


def _guard(checks, outputs, details=()):
  """Returns `outputs()` if every check holds, else fails with the first failing message.

  The checks are plain boolean tensors that are well defined for any input, and
  the outputs are only computed in the branch of a tf.cond where all hold: the
  error is always about the first real problem, whatever order the runtime (or
  Grappler, which moves control dependencies) runs the ops in.

  Args:
    checks: list of (scalar bool tensor, message) in priority order.
    outputs: zero-argument function returning the validated tensors.
    details: extra tensors printed after the message (e.g. the shapes received).
  """
  message = tf.constant("")
  for ok, text in reversed(checks):
    message = tf.where(ok, message, tf.constant(text))
  all_ok = tf.reduce_all(tf.stack([ok for ok, _ in checks]))

  def fail():
    with tf.control_dependencies([tf.debugging.Assert(False, [message, *details], summarize=8)]):
      return tf.nest.map_structure(lambda t: tf.zeros_like(t)[:0], outputs())

  return tf.cond(all_ok, outputs, fail)


def validate_inputs(image, mask, image_shape=None):
  """Checks a request's image and mask inside the graph.

  A bad request fails with InvalidArgumentError "assertion failed: [<one-line
  message>] [image shape: ...]", naming the first problem in this order: rank,
  image size/channels, mask shape, NaN/Inf, value range.

  Args:
    image: float32 tensor, expected [N, H, W, C] with values in [0, 1].
    mask: float32 tensor, expected [N, H, W, 1] with values in [0, 1].
    image_shape: optional (H, W, C) the image must have.
  Returns:
    (image, mask), with static shapes [None, H, W, C] / [None, H, W, 1] when
    image_shape is given.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  mask = tf.convert_to_tensor(mask, tf.float32)
  ishape, mshape = _shape4(image), _shape4(mask)
  checks = [
      (tf.equal(tf.rank(image), 4), "image must have rank 4 [batch, height, width, channels]"),
      (tf.equal(tf.rank(mask), 4), "mask must have rank 4 [batch, height, width, 1]"),
  ]
  static = [None, None, None, None]
  if image_shape is not None:
    h, w, c = (int(d) for d in image_shape)
    static = [-1, h, w, c]
    checks.append((tf.reduce_all(tf.equal(ishape[1:], [h, w, c])),
                   f"image must be [batch, {h}, {w}, {c}] (height, width, channels of the model)"))
  checks += [
      (tf.reduce_all(tf.equal(mshape[:3], ishape[:3])),
       "mask must have the same batch, height and width as image"),
      (tf.equal(mshape[3], 1), "mask must have 1 channel"),
      (tf.reduce_all(tf.math.is_finite(image)), "image contains NaN or Inf"),
      (tf.reduce_all(tf.math.is_finite(mask)), "mask contains NaN or Inf"),
      (tf.reduce_all((image >= 0.0) & (image <= 1.0)), "image values must be in [0, 1]"),
      (tf.reduce_all((mask >= 0.0) & (mask <= 1.0)), "mask values must be in [0, 1]"),
  ]

  def outputs():
    if image_shape is None:
      return image, mask
    return tf.reshape(image, static), tf.reshape(mask, static[:3] + [1])

  return _guard(checks, outputs, ["image shape:", tf.shape(image), "mask shape:", tf.shape(mask)])


def validate_label(label, batch_size, num_classes):
  """Checks label int32 [N] with values in [-1, num_classes) inside the graph."""
  label = tf.convert_to_tensor(label, tf.int32)
  range_message = f"label must be -1 (all labels) or in [0, {num_classes})"
  checks = [
      (tf.equal(tf.rank(label), 1), "label must have rank 1 [batch]"),
      (tf.equal(tf.size(label), batch_size), "label must have one entry per image"),
      (tf.reduce_all((label >= -1) & (label < num_classes)), range_message),
  ]
  return _guard(checks, lambda: tf.reshape(label, [-1]), ["label shape:", tf.shape(label)])


def clamp_iterations(iterations, maximum):
  """int32 scalar clipped to [0, maximum] so no request can hold the server for long."""
  return tf.clip_by_value(tf.cast(iterations, tf.int32), 0, int(maximum))


def iteration_limits(module_max, iterations=None, max_iterations=None):
  """(cap, fixed): the inpaint_with_options cap and the serving_default iteration count.

  Args:
    module_max: the inpainter's own max_iterations (an upper bound for both).
    iterations: iterations of serving_default (default: the cap).
    max_iterations: cap of inpaint_with_options (default: module_max).
  """
  cap = module_max if max_iterations is None else min(int(max_iterations), module_max)
  fixed = cap if iterations is None else min(int(iterations), cap)
  return int(cap), int(fixed)


# ---------------------------------------------------------------------------------------------
# Atomic directories.
# ---------------------------------------------------------------------------------------------


def _atomic_dir(path, fill_fn, overwrite):
  """Calls fill_fn(tmp_dir) on a temp dir beside `path`, then renames it to `path`."""
  path = os.path.abspath(os.fspath(path))
  parent, name = os.path.dirname(path), os.path.basename(path)
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(f"{path} already exists (pass overwrite=True to replace it)")
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=f".tmp-{name}-")
  old = None
  try:
    fill_fn(tmp)
    if os.path.exists(path):
      old = tempfile.mkdtemp(dir=parent, prefix=f".old-{name}-")
      os.rename(path, os.path.join(old, name))
    os.rename(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    if old is not None and not os.path.exists(path):
      os.rename(os.path.join(old, name), path)  # Put the previous version back.
    raise
  finally:
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  return path


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


# ---------------------------------------------------------------------------------------------
# SavedModel writer.
# ---------------------------------------------------------------------------------------------


def write_savedmodel(base_dir, version, *, models, endpoints, variables=(), overwrite=False):
  """Writes a SavedModel to `<base_dir>/<version>/` atomically.

  Args:
    base_dir: e.g. exported/<name>; TF Serving's --model_base_path.
    version: positive int (TF Serving ignores non-integer directories).
    models: Keras models (or layers) whose variables the endpoints use.
    endpoints: dict name -> (fn, input_signature). fn is a python function or
      tf.function using only core TF ops; input_signature a list of
      tf.TensorSpec. Must contain "serving_default". Endpoints should not set
      jit_compile.
    variables: extra tf.Variables the endpoints read (e.g. held by a tf.Module).
    overwrite: replace an existing version instead of refusing.
  Returns:
    The absolute path of the written version directory.
  """
  version = int(version)
  if version < 1:
    raise ValueError(f"version must be a positive integer, got {version}")
  if "serving_default" not in endpoints:
    raise ValueError("endpoints must include 'serving_default' (TF Serving's default signature)")
  archive = keras.export.ExportArchive()
  for model in models:
    archive.track(model)
  # serving_default first, so Keras' own "first endpoint is the default" rule agrees.
  names = ["serving_default"] + sorted(n for n in endpoints if n != "serving_default")
  for name in names:
    fn, signature = endpoints[name]
    archive.add_endpoint(name, fn, input_signature=list(signature))
  if variables:
    archive.add_variable_collection("extra_variables", list(variables))
  return _atomic_dir(os.path.join(base_dir, str(version)),
                     lambda tmp: archive.write_out(tmp, verbose=False), overwrite)


def write_inpainter(base_dir, version, *, run, input_specs, models, module_max, iterations=None,
                    max_iterations=None, seed=0, overwrite=False):
  """Writes an inpainter's two serving signatures to `<base_dir>/<version>/`.

    serving_default(*inputs): `iterations` and `seed` fixed here;
    inpaint_with_options(*inputs, iterations int32 scalar, seed int32 scalar):
      iterations clamped to the cap, so no request can hold the server for long.

  Args:
    base_dir, version, models, overwrite: as for write_savedmodel.
    run: fn(*inputs, iterations int32 scalar in [0, cap], seed int32 scalar) -> dict of
      tensors; validates the inputs and converts pixel ranges itself.
    input_specs: tf.TensorSpec per input of `run` (named: the signature's input names).
    module_max, iterations, max_iterations: see iteration_limits.
    seed: seed of serving_default.
  Returns:
    The version directory.
  """
  cap, fixed = iteration_limits(module_max, iterations, max_iterations)

  def serving_default(*inputs):  # The signature's input names are the specs' names.
    return run(*inputs, tf.constant(fixed, tf.int32), tf.constant(int(seed), tf.int32))

  def inpaint_with_options(*args):
    *inputs, iters, seed_ = args
    return run(*inputs, clamp_iterations(iters, cap), tf.cast(seed_, tf.int32))

  options = list(input_specs) + [tf.TensorSpec([], tf.int32, name="iterations"),
                                 tf.TensorSpec([], tf.int32, name="seed")]
  return write_savedmodel(
      base_dir, version, models=models, overwrite=overwrite,
      endpoints={"serving_default": (serving_default, input_specs),
                 "inpaint_with_options": (inpaint_with_options, options)})


# ---------------------------------------------------------------------------------------------
# networks/: the Keras models + constructor config, for CLIs to rebuild the served module.
# ---------------------------------------------------------------------------------------------


def write_networks(base_dir, *, models, config, arrays=None, overwrite=True):
  """Writes `<base_dir>/networks/` atomically.

  Args:
    base_dir: e.g. exported/<name>.
    models: dict name -> keras.Model, saved as `<name>.keras`.
    config: JSON-serialisable dict (the inpainter's constructor config and a
      "kind" key), saved as inpainter.json.
    arrays: dict name -> numpy array, saved as `<name>.npy`.
    overwrite: replace an existing networks/ directory.
  Returns:
    The absolute path of the networks directory.
  """
  arrays = arrays or {}

  def fill(tmp):
    for name, model in models.items():
      model.save(os.path.join(tmp, f"{name}.keras"))
    for name, array in arrays.items():
      np.save(os.path.join(tmp, f"{name}.npy"), np.asarray(array))
    payload = dict(config, models=sorted(models), arrays=sorted(arrays))
    with open(os.path.join(tmp, CONFIG_FILE), "w") as f:
      json.dump(payload, f, indent=2, sort_keys=True)
      f.write("\n")

  return _atomic_dir(os.path.join(base_dir, NETWORKS_DIR), fill, overwrite)


def read_networks(path, custom_objects=None, kind=None):
  """Inverse of write_networks.

  Args:
    path: `<base_dir>` or `<base_dir>/networks`.
    custom_objects: passed to keras.saving.load_model for custom layers.
    kind: when given, the "kind" the config must name (the inpainter's KIND).
  Returns:
    (models dict name -> keras.Model, config dict, arrays dict name -> np array).
  Raises:
    FileNotFoundError when there is no inpainter.json; InputError when it names
    another kind of inpainter.
  """
  if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
    path = os.path.join(path, NETWORKS_DIR)
  config_path = os.path.join(path, CONFIG_FILE)
  if not os.path.isfile(config_path):
    raise FileNotFoundError(f"no {CONFIG_FILE} in {path}")
  with open(config_path) as f:
    config = json.load(f)
  if kind is not None and config.get("kind") != kind:
    raise InputError(f"{path} holds a {config.get('kind')!r} inpainter, not {kind!r}")
  models = {name: keras.saving.load_model(os.path.join(path, f"{name}.keras"),
                                          custom_objects=custom_objects, compile=False)
            for name in config.pop("models")}
  arrays = {name: np.load(os.path.join(path, f"{name}.npy")) for name in config.pop("arrays")}
  return models, config, arrays
