"""The one contract every inpainting method implements, and the registry of methods.

An inpainter is a pure, batched tf.Module (no tf.Variable is written while inpainting, optimiser
state lives in loop tensors, randomness is stateless from a `seed` input, losses are per image)
that turns trained Keras networks into serving signatures. A method's module owns its whole
life, in the manner of tensorflow/models' `register_task_cls` (the config's type picks the
class) and `ExportModule`:

  * `KIND` names it; `@register` puts the class in the one registry and registers its `Config`
    as a "method" kind (tfinpaint.config), so an experiment's `request` section picks the class
    (`for_config`) and JSON naming the kind rebuilds the config. Nothing else names a kind.
  * `Config` is a dataclass of everything that fixes the module: shapes (derived from the data
    and the networks), caps, and the default, help text and range of every request option. It
    is saved beside the weights and in the SavedModel's `assets.extra/`.
  * `OPTIONS` is the option table: every scalar request option of the signatures, its dtype and
    whether it is clamped; default, range and help come from the Config field of the same name
    (the only home of each), or from the Option for request-only options.
  * `ROLES` names the trained networks it is made from (the experiment's own network first) and
    `assemble` makes the inpainter from them; `example` builds a small random-weight instance
    for tests and benchmarks; `reference` is its per-image eager loop over the same `step`.
  * `signatures()` describes the serving signatures: per-image inputs with declared shapes
    ([None, H, W, C] images, [None, H, W, 1] masks, [None] labels) and scalar options that carry
    their defaults, so TF Serving's metadata shows both and a client may leave any option out.
    `function(name)` turns one into the tf.function that is exported and that tests call
    in-process: [0, 1] pixels at the boundary, validation, options checked.
  * `METHODS` maps the method names users pick (`classifier`, `tv_only`, `yeh`, ...) to a
    signature and fixed option values, so no caller chooses a signature by kind.
"""

import dataclasses
import importlib
import inspect

import numpy as np
import tensorflow as tf

from tfinpaint import config as config_lib
from tfinpaint import images
from tfinpaint import masks
from tfinpaint import measure
from tfinpaint.errors import InputError
from tfinpaint.inpainting import validation

_KINDS = {}
# Modules that register the built-in methods; imported on the first lookup, so that importing
# the contract does not build every inpainter. Another method registers itself when its module
# is imported: a new method is its module and one line here (or an import in its config file).
BUILTIN = ("tfinpaint.inpainting.classifier_guided", "tfinpaint.inpainting.semantic")


def _import_builtin():
  for module in BUILTIN:
    importlib.import_module(module)


def register(cls):
  """Class decorator: makes `cls` (an Inpainter subclass with a unique KIND) known by kind, and
  its Config a "method" config kind. The same class loaded again replaces its entry."""
  if not (isinstance(cls, type) and issubclass(cls, Inpainter)):
    raise TypeError(f"{cls!r} is not an Inpainter subclass")
  if not cls.KIND or cls.Config is None:
    raise TypeError(f"{cls.__name__} must set KIND and Config")
  known = _KINDS.get(cls.KIND)
  if known is not None and config_lib.identity(known) != config_lib.identity(cls):
    raise ValueError(f"inpainter kind {cls.KIND!r} is already registered by {known.__name__}")
  config_lib.kind("method", cls.KIND)(cls.Config)
  _KINDS[cls.KIND] = cls
  return cls


def get(kind):
  """The registered class of `kind` (a kind read from a model folder: InputError if unknown)."""
  _import_builtin()
  if kind not in _KINDS:
    raise InputError(f"unknown inpainter kind {kind!r}; this version knows "
                     f"{', '.join(sorted(_KINDS)) or 'none'}")
  return _KINDS[kind]


def for_config(config):
  """The inpainter class whose Config `config` is (an experiment's request section)."""
  _import_builtin()
  for cls in _KINDS.values():
    if type(config) is cls.Config:  # pylint: disable=unidiomatic-typecheck
      return cls
  raise ValueError(f"{type(config).__name__} is no registered inpainter's Config")


def kinds():
  _import_builtin()
  return tuple(sorted(_KINDS))


def classes():
  """Every registered inpainter class, by kind."""
  _import_builtin()
  return tuple(_KINDS[k] for k in sorted(_KINDS))


def request_options():
  """{option name: (dtype, help, kinds)} over every registered method's option table: the
  per-request flags of bin.inpaint, bin.evaluate and bin.client."""
  out = {}
  for cls in classes():
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    for option in cls.OPTIONS:
      text = option.help or fields[option.name].metadata.get("help", "")
      if option.name in out:
        dtype, first, owners = out[option.name]
        if dtype != option.dtype:
          raise TypeError(f"option {option.name} is {dtype.name} in {owners[0]} and "
                          f"{option.dtype.name} in {cls.KIND}")
        out[option.name] = (dtype, first, owners + (cls.KIND,))
      else:
        out[option.name] = (option.dtype, text, (cls.KIND,))
  return out


@dataclasses.dataclass(frozen=True)
class Option:
  """A scalar request option of a signature: its dtype, default and valid range.

  In an inpainter's OPTIONS table, `default`, `low`, `high` and `help` left as None come from
  the Config field of the same name; `high` may also be a function of the config (a bound set
  by another field, e.g. iterations <= max_iterations). `resolved(config)` gives the numbers.
  A value outside [low, high] is refused with an InvalidArgument naming the option, unless
  `clamp` is set (then it is clipped into the range: iteration counts, number of starts).
  """
  name: str
  dtype: tf.DType
  default: float | None = None
  low: float | None = None
  high: object = None
  clamp: bool = False
  help: str | None = None

  def resolved(self, config):
    """This option with the numbers of `config` (its field's default, range and help)."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    meta = fields[self.name].metadata if self.name in fields else {}
    default = self.default if self.default is not None else getattr(config, self.name)
    low = self.low if self.low is not None else meta.get("low")
    high = self.high(config) if callable(self.high) else (
        self.high if self.high is not None else meta.get("high"))
    text = self.help if self.help is not None else meta.get("help", "")
    return dataclasses.replace(self, default=default, low=low, high=high, help=text)

  def spec(self):
    return tf.TensorSpec([], self.dtype, name=self.name)


@dataclasses.dataclass(frozen=True)
class Signature:
  """One serving signature.

  inputs: per-request tensors without defaults (image, mask, label, threshold), as named
    tf.TensorSpec with declared shapes.
  options: scalar Options with defaults.
  run: fn(inputs: dict of validated tensors, images in [-1, 1]; options: dict of checked
    scalar tensors) -> dict of output tensors (images in [-1, 1], converted to [0, 1] at the
    boundary: every output listed in `image_outputs`).
  doc: one line for the README table and --help.
  """
  name: str
  inputs: tuple
  options: tuple
  run: object
  doc: str = ""
  image_outputs: tuple = ("inpainted",)


@dataclasses.dataclass
class Trained:
  """Trained networks of one role, as `assemble` gets them: the models by name, the experiment
  that trained them (its data and network sections), the data's classes and the step."""
  networks: dict
  experiment: object
  num_classes: int
  class_names: tuple
  step: int = 0
  facts: dict = dataclasses.field(default_factory=dict)  # e.g. test accuracy, for model cards


class Inpainter(tf.Module):
  """Base class of every inpainting method; see the module docstring for the contract.

  Subclasses set KIND, Config, OPTIONS, NETWORKS (required Keras networks by name),
  OPTIONAL_NETWORKS, ARRAYS (numpy constants by name, e.g. class means), ROLES and METHODS, and
  implement `signatures()`, `step`, `assemble`, `example` and `reference`.
  """

  KIND = ""
  Config = None
  OPTIONS = ()
  NETWORKS = ()
  OPTIONAL_NETWORKS = ()
  ARRAYS = ()
  ROLES = ()  # trained networks by role (see assemble); ROLES[0] is the experiment's own
  METHODS = {}  # method name -> (signature name, {option: fixed value})

  def __init__(self, networks, config, arrays=None):
    super().__init__(name=self.KIND)
    if not isinstance(config, self.Config):
      raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, "
                      f"got {type(config).__name__}")
    missing = [n for n in self.NETWORKS if networks.get(n) is None]
    if missing:
      raise InputError(f"{self.KIND} inpainter needs network(s) {', '.join(missing)}")
    unknown = sorted(set(networks) - set(self.NETWORKS) - set(self.OPTIONAL_NETWORKS))
    if unknown:
      raise ValueError(f"{self.KIND} inpainter takes no network(s) {', '.join(unknown)}")
    unknown = sorted(set(arrays or {}) - set(self.ARRAYS))
    if unknown:
      raise ValueError(f"{self.KIND} inpainter takes no array(s) {', '.join(unknown)}")
    self._config = config
    self._networks = tuple((n, m) for n, m in networks.items() if m is not None)
    self._arrays = tuple((n, np.asarray(a, np.float32)) for n, a in (arrays or {}).items()
                         if a is not None)
    self._functions = {}

  # -- what every inpainter has ---------------------------------------------------------------

  @property
  def config(self):
    return self._config

  @property
  def networks(self):
    """{name: keras.Model} (what export tracks and save_networks writes)."""
    return dict(self._networks)

  @property
  def arrays(self):
    return dict(self._arrays)

  @property
  def image_shape(self):
    return tuple(self._config.image_shape)

  def signatures(self):
    """{name: Signature}; must include "serving_default"."""
    raise NotImplementedError

  def options(self):
    """The request options (Option) the signatures take, with the config's numbers."""
    return tuple(option.resolved(self._config) for option in self.OPTIONS)

  # -- a method's life beyond serving ----------------------------------------------------------

  @classmethod
  def assemble(cls, trained, config, log=print):
    """The inpainter made of trained networks: `trained` {role: Trained} for every role of
    ROLES that the config needs; `config` the experiment's request section, whose derived
    fields (shapes, classes) are filled in here from the networks and their data."""
    raise NotImplementedError

  @classmethod
  def example(cls, size="tiny", **config):
    """A random-weight instance for tests ("tiny": 16x16x1, 3 classes) and benchmarks
    ("benchmark": the shipped models' sizes), with `config` fields set."""
    raise NotImplementedError

  def reference(self, inputs, options=None):
    """The per-image eager Python loop over the same `step` (no tf.function): inpainted
    [N, H, W, C] in [-1, 1] for the serving_default inputs {image in [-1, 1], mask, ...}; what
    the batched loop is checked and timed against (bin.benchmark)."""
    raise NotImplementedError

  def step_networks(self, images):
    """[(label, keras model, batch)]: the networks one `step` runs, for `images` images with
    the default options, each on `batch` inputs, forward and backward to its input."""
    raise NotImplementedError

  def step_flops(self, images):
    """Floating-point operations of one `step` for `images` images, counted from the layer
    shapes of the networks it runs (forward, and backward to the input: about as much again;
    no weight gradient is taken)."""
    return sum(2 * measure.forward_flops(model, batch)
               for _, model, batch in self.step_networks(images))

  def resolve(self, options=None):
    """{option: scalar tensor}: `options` (python values or tensors) over the config defaults."""
    options = dict(options or {})
    unknown = sorted(set(options) - {o.name for o in self.options()})
    if unknown:
      raise ValueError(f"{self.KIND} inpainter has no option(s) {', '.join(unknown)}")
    return {o.name: tf.cast(options.get(o.name, o.default), o.dtype) for o in self.options()}

  @classmethod
  def methods(cls):
    return dict(cls.METHODS)

  @property
  def default_method(self):
    """The method serving_default runs (what a user gets without naming one)."""
    for name, (signature, fixed) in self.METHODS.items():
      if signature == "serving_default" and not fixed:
        return name
    raise NotImplementedError(f"{type(self).__name__} must define default_method")

  # -- the served functions --------------------------------------------------------------------

  def function(self, name):
    """The tf.function of signature `name`: [0, 1] pixels, declared shapes, defaulted options.

    Call it with keyword arguments; options left out take their defaults, as in TF Serving.
    """
    if name not in self._functions:
      self._functions[name] = tf.function(self.python_function(name),
                                          input_signature=self.input_signature(name),
                                          autograph=False)
    return self._functions[name]

  def python_function(self, name):
    """The undecorated function of signature `name` (export wraps it itself: the SignatureDef
    records option defaults only for a function given with its input signature)."""
    signatures = self.signatures()
    if name not in signatures:
      raise InputError(f"{self.KIND} inpainter has no signature {name!r}; it has "
                       f"{', '.join(signatures)}")
    return _served_function(self, signatures[name])

  def input_signature(self, name):
    """The tf.TensorSpecs of signature `name`, inputs then options, in call order."""
    sig = self.signatures()[name]
    return list(sig.inputs) + [o.spec() for o in sig.options]


def _served_function(inpainter, sig):
  """Builds the exported function of one Signature: validation, range conversion, defaults."""
  image_shape = inpainter.image_shape
  params = [inspect.Parameter(s.name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for s in sig.inputs]
  params += [inspect.Parameter(o.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                               default=tf.constant(o.default, o.dtype)) for o in sig.options]
  signature = inspect.Signature(params)

  def served(*args, **kwargs):
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    inputs = {s.name: values[s.name] for s in sig.inputs}
    options = {o.name: values[o.name] for o in sig.options}
    image_unit = tf.convert_to_tensor(values["image"], tf.float32)
    inputs, options = validation.check_request(inputs, options, sig, image_shape,
                                               getattr(inpainter.config, "num_classes", None))
    # An empty batch runs one placeholder image (nothing to fill, no iterations) so that the
    # outputs have their ranks and dtypes, then returns none of it: every output is batch-major.
    n = tf.shape(inputs["image"])[0]
    pad = tf.cast(tf.equal(n, 0), tf.int32)
    filler = {"image": 0.0, "mask": 1.0, "label": 0}
    inputs = {k: (tf.concat([v, tf.fill(tf.concat([[pad], tf.shape(v)[1:]], 0),
                                        tf.cast(filler[k], v.dtype))], 0) if k in filler else v)
              for k, v in inputs.items()}
    if "iterations" in options:
      options["iterations"] = options["iterations"] * (1 - pad)
    out = sig.run(inputs, options)
    out = {k: (images.to_unit(v) if k in sig.image_outputs else v)[:n] for k, v in out.items()}
    # Known pixels come back exactly as they were sent ([0, 1] -> [-1, 1] -> [0, 1] rounds).
    # The reshape to the validated shape orders this after validation.
    mask = out.get("mask", inputs.get("mask"))
    if mask is not None and "inpainted" in out:
      exact = tf.reshape(image_unit, tf.shape(out["inpainted"]))
      out["inpainted"] = masks.composite(exact, out["inpainted"], mask[:n])
    return out

  served.__signature__ = signature
  served.__name__ = f"{inpainter.KIND}_{sig.name}"
  return served


def block_fillers_field(default):
  """The `block_fillers` config field of a method that runs `in_blocks` (its `sentinels`): one
  help text and range for every method, each with its own measured default."""
  return config_lib.field(default, help="filler rows at the end of every block: the kernels' "
                          "tail arithmetic falls on them, so a request row computes the same "
                          "bits at every position (issue 23); at most block_rows - 1 are used",
                          low=0, high=1023)


def in_blocks(fn, rows, fillers, block, output_signature, sentinels=1, parallel_iterations=2):
  """Runs `fn` on fixed-size blocks of rows, so a row's arithmetic never depends on its batch.

  Why: CPU kernels (Eigen's and oneDNN's convolutions and matrix products) pick their blocking,
  and so their order of summation, from the batch size; the difference is one rounding, and a
  few hundred steps of a non-convex descent turn it into another fill. Every descent therefore
  runs on blocks of exactly `block` rows. TF Serving batches requests of several clients
  together; with this, a client's result does not depend on its companions in a block.

  The last `sentinels` rows of every block are fillers, never a request's rows: Eigen's
  kernels compute the last elements of an output with their tail code, whose rounding differs
  (issue 23: on the shipped digits model, an image as the last row of a block differed from the
  same image as row 0 in 183 of 784 pixels after 300 steps, while every other position gave row
  0's bits; a network with small deep layers has a tail longer than one row). So
  `block - sentinels` request rows go in each block, and each is computed as if it were alone:
  its position in its block and its companions change nothing.

  Args:
    fn: block -> dict of tensors with leading dimension `block` (a tuple of tensors of the
      same structure as `rows`, each [block, ...]).
    rows: tuple of tensors with a common leading dimension R.
    fillers: one python scalar per tensor of `rows`, the value of filler rows.
    block: rows per block.
    output_signature: dict of tf.TensorSpec of fn's outputs (leading dimension `block`).
    sentinels: filler rows at the end of every block (at most block - 1: a block of one row
      has one position, so nothing to absorb).
    parallel_iterations: blocks in flight at once.
  Returns:
    fn's outputs for the R rows, concatenated (the filler rows dropped).
  """
  if sentinels < 0 or block < 1:
    raise ValueError(f"need sentinels >= 0 and block >= 1, got {sentinels} and {block}")
  per = block - min(sentinels, block - 1)  # request rows per block
  count = tf.shape(rows[0])[0]
  blocks = (count + per - 1) // per
  pad = blocks * per - count

  def split(x, filler):
    shape = tf.shape(x)
    static = x.shape[1:]
    x = tf.concat([x, tf.fill(tf.concat([[pad], shape[1:]], 0), tf.cast(filler, x.dtype))], 0)
    x = tf.reshape(x, tf.concat([[blocks, per], shape[1:]], 0))
    if per < block:  # the sentinel rows
      x = tf.concat([x, tf.fill(tf.concat([[blocks, block - per], shape[1:]], 0),
                                tf.cast(filler, x.dtype))], 1)
    x.set_shape([None, block] + static.as_list())
    return x

  blocked = tuple(split(x, f) for x, f in zip(rows, fillers))
  out = tf.map_fn(fn, blocked, fn_output_signature=output_signature,
                  parallel_iterations=parallel_iterations)

  def join(y):
    shape = tf.shape(y)
    return tf.reshape(y[:, :per], tf.concat([[blocks * per], shape[2:]], 0))[:count]

  return {k: join(v) for k, v in out.items()}


def plateau(value, best, last, t, patience, tolerance):
  """Per-row stopping on a plateau: the rule both descents use besides their gradient norm.

  A row has stalled when its objective has not improved on its best so far by more than
  `tolerance` (relative to |best|) for `patience` iterations (patience 0: never). The objective
  is what the step evaluates (with jitter, for the classifier-guided method, so it is noisy:
  the best so far, not the last value, is the reference).

  Args:
    value: [R] objective at iteration t; best, last: [R] best value so far and the iteration
      that set it (start: +inf and 0); t: int32 iteration; patience: int32; tolerance: float.
  Returns:
    (best, last, stalled [R] bool).
  """
  improved = value < best - tolerance * tf.abs(best)
  best = tf.where(improved, value, best)
  last = tf.where(improved, t, last)
  stalled = tf.logical_and(patience > 0, t - last >= patience)
  return best, last, stalled
