"""In-graph checks of a served request: a valid result or an InvalidArgument that names the problem.

A server cannot raise a Python exception to its client, and TF Serving batches requests from
many clients, so every signature checks its request inside the graph and fails with
InvalidArgumentError "assertion failed: [<one-line message>] [...]" for the first real problem,
in this order: ranks and shapes, NaN/Inf, value ranges. The checks are plain boolean tensors
defined for any input (no check ever runs an op that could itself fail on bad input), and the
outputs are computed only in the branch of a tf.cond where all hold, so the message is always
about the first real problem whatever order the runtime runs the ops in.

Neither TF Serving nor a signature called through tf.saved_model.load checks a fed tensor
against the declared shape, but Grappler optimises the graph as if it did: with a label
declared [None], `Rank(label)` folds to 1 and a reshape to [-1] is dropped, so a [2, 1] label
would get past its check and fail later with TensorFlow's own words. Every request tensor
therefore first goes through `opaque` (SerializeTensor / ParseTensor: a copy whose shape no
optimiser knows); the checks see only what came, and the validated tensors get their declared
shapes back by a reshape inside the guarded branch.

Conventions (README, "Serving"):
  * image [N, H, W, C] float in [0, 1]; mask [N, H, W, 1] in [0, 1], >= 0.5 = known;
    label int32 [N] in [-1, K) (-1 = try every label);
  * scalar options must be scalars (a vector is refused) and finite; a value outside an
    option's range is refused, except for counts marked `clamp` (iterations, starts), which
    are clipped: a negative iteration count runs 0 iterations (the starting fill);
  * an empty batch (N = 0) returns empty outputs of the right rank.
"""

import tensorflow as tf

from tfinpaint import images


def _shape(x, rank):
  """The runtime shape of x padded / cut to `rank` entries (comparisons defined for any rank).

  Raw Shape/Rank ops: tf.shape and tf.rank return constants when the traced shape is known,
  but a served request may feed any shape (TF Serving does not check it against the
  signature), so the checks must look at what actually came.
  """
  return tf.concat([tf.raw_ops.Shape(input=x), tf.fill([rank], -1)], axis=0)[:rank]


def opaque(x, dtype):
  """`x` as `dtype` with no static shape: a copy whose shape only the runtime knows."""
  x = tf.convert_to_tensor(x, dtype)
  return tf.raw_ops.ParseTensor(serialized=tf.raw_ops.SerializeTensor(tensor=x), out_type=dtype)


def guard(checks, outputs, details=()):
  """Returns `outputs()` if every check holds, else fails with the first failing message.

  Args:
    checks: list of (scalar bool tensor, message) in priority order.
    outputs: zero-argument function returning the validated tensors.
    details: extra tensors printed after the message (e.g. the shapes received).
  """
  if not checks:
    return outputs()
  message = tf.constant("")
  for ok, text in reversed(checks):
    message = tf.where(ok, message, tf.constant(text))
  all_ok = tf.reduce_all(tf.stack([ok for ok, _ in checks]))

  def fail():
    # Empty outputs of the declared dtypes and ranks, made from nothing the request sent (the
    # ops `outputs()` builds here only tell their static shapes; nothing uses them, so they are
    # pruned and cannot fail before the Assert does).
    specs = tf.nest.map_structure(lambda t: tf.TensorSpec(
        [0 if d is None else d for d in t.shape], t.dtype), outputs())
    with tf.control_dependencies([tf.debugging.Assert(False, [message, *details], summarize=8)]):
      return tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), specs)

  return tf.cond(all_ok, outputs, fail)


def _all(x):
  """reduce_all over every element, whatever the runtime rank (the static rank of a fed input
  may be wrong, and reduce_all without axes would keep the static rank's axes)."""
  return tf.reduce_all(tf.reshape(x, [-1]))


def _is_scalar(x):
  return tf.equal(tf.raw_ops.Rank(input=x), 0)


def _all_finite(x):
  return _all(tf.math.is_finite(tf.cast(x, tf.float32)))


def check_request(inputs, options, sig, image_shape, num_classes=None):
  """Validates one request of Signature `sig`; returns (inputs, options) to compute with.

  Images come back in [-1, 1] with static shapes [None, H, W, C]; masks [None, H, W, 1];
  options as scalars, clamped where the option says so. See the module docstring.
  """
  h, w, c = (int(d) for d in image_shape)
  checks, details = [], []
  dtypes = {"label": tf.int32}
  dtypes.update({o.name: o.dtype for o in sig.options})
  dtypes.update({s.name: s.dtype for s in sig.inputs})
  inputs = {k: opaque(v, dtypes.get(k, tf.float32)) for k, v in inputs.items()}
  options = {k: opaque(v, dtypes[k]) for k, v in options.items()}
  image = inputs["image"]
  n = _shape(image, 4)[0]
  checks.append((tf.equal(tf.raw_ops.Rank(input=image), 4),
                 "image must have rank 4 [batch, height, width, channels]"))
  checks.append((_all(tf.equal(_shape(image, 4)[1:], [h, w, c])),
                 f"image must be [batch, {h}, {w}, {c}] (height, width, channels of the model)"))
  details += ["image shape:", tf.raw_ops.Shape(input=image)]
  mask = None
  if "mask" in inputs:
    mask = inputs["mask"]
    mshape = _shape(mask, 4)
    checks += [
        (tf.equal(tf.raw_ops.Rank(input=mask), 4), "mask must have rank 4 [batch, height, width, 1]"),
        (_all(tf.equal(mshape[:3], _shape(image, 4)[:3])),
         "mask must have the same batch, height and width as image"),
        (tf.equal(mshape[3], 1), "mask must have 1 channel"),
    ]
    details += ["mask shape:", tf.raw_ops.Shape(input=mask)]
  label = None
  if "label" in inputs:
    label = inputs["label"]
    checks += [(tf.equal(tf.raw_ops.Rank(input=label), 1), "label must have rank 1 [batch]"),
               (tf.equal(tf.raw_ops.Size(input=label), n), "label must have one entry per image")]
    details += ["label shape:", tf.raw_ops.Shape(input=label)]
  scalars = {k: v for k, v in inputs.items() if k not in ("image", "mask", "label")}
  for name, value in list(scalars.items()) + list(options.items()):
    checks.append((_is_scalar(value), f"{name} must be a scalar"))
  # Values, once every shape is known to be right.
  checks.append((_all_finite(image), "image contains NaN or Inf"))
  if mask is not None:
    checks.append((_all_finite(mask), "mask contains NaN or Inf"))
  checks.append((_all((image >= 0.0) & (image <= 1.0)), "image values must be in [0, 1]"))
  if mask is not None:
    checks.append((_all((mask >= 0.0) & (mask <= 1.0)), "mask values must be in [0, 1]"))
  if label is not None and num_classes is not None:
    checks.append((_all((label >= -1) & (label < num_classes)),
                   f"label must be -1 (all labels) or in [0, {num_classes})"))
  by_name = {o.name: o for o in sig.options}
  for name, value in list(scalars.items()) + list(options.items()):
    checks.append((_all_finite(value), f"{name} must be finite"))
    option = by_name.get(name)
    low = getattr(option, "low", None)
    high = getattr(option, "high", None)
    if option is not None and option.clamp:
      continue
    # The bounds are compared in the dtype the request sends: a documented limit such as
    # step_size >= 1e-6 must admit float32(1e-6), which is a little below the float64 1e-6.
    if low is not None:
      checks.append((_all(value >= tf.cast(low, value.dtype)), f"{name} must be >= {low:g}"))
    if high is not None:
      checks.append((_all(value <= tf.cast(high, value.dtype)), f"{name} must be <= {high:g}"))
  for name, value in scalars.items():
    if name == "threshold":
      checks.append((_all((value > 0.0) & (value <= 1.0)), "threshold must be in (0, 1]"))

  def outputs():
    out_inputs = {"image": images.to_signed(tf.reshape(image, [-1, h, w, c]))}
    if mask is not None:
      out_inputs["mask"] = tf.reshape(mask, [-1, h, w, 1])
    if label is not None:
      out_inputs["label"] = tf.reshape(label, [-1])
    for name, value in scalars.items():
      out_inputs[name] = tf.reshape(value, [])
    out_options = {}
    for name, value in options.items():
      value = tf.reshape(value, [])
      option = by_name[name]
      if option.clamp:
        low = value.dtype.min if option.low is None else option.low
        high = value.dtype.max if option.high is None else option.high
        value = tf.clip_by_value(value, tf.cast(low, value.dtype), tf.cast(high, value.dtype))
      out_options[name] = value
    return out_inputs, out_options

  return guard(checks, outputs, details)
