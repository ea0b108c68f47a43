"""Inpainting by gradient descent on the missing pixels against a trained classifier (paper 003).

Kerzhner, Elad & Romano fill a hole by minimising, over the missing pixels of X,

  E(X) = ||softmax(CNN(X)) - onehot(label)||^2
         + lambda_tv (||M_TV D_h X||_1 + ||M_TV D_v X||_1)
         + binary_weight * sum_missing (1 - x^2)

starting from a diffusion / class-mean / black fill, with random jitter of the
image before each gradient (Section 3.4). A classifier trained on patches
(not whole images) "remembers" local detail, and the descent draws it back.

`ClassifierInpainter` is a pure tf.Module (DESIGN.md): the whole optimisation
is ONE tf.while_loop around a GradientTape inside a tf.function with an input
signature; no tf.Variable is written; jitter is stateless from (seed,
iteration) and identical for every image; energies are per image and the
gradient is taken of their sum, so an image's result never depends on the
other images of its batch (TF Serving batches requests together).

Design choices the paper leaves open (documented here once):
  * Pixels live in [-1, 1]; the mask is binarised at 0.5 (1 = known). Known
    pixels are copied from the input and never change.
  * The update is projected gradient descent: free pixels are clipped to
    [-1, 1] after each step. The stopping criterion uses the norm of the
    projected gradient (||x - clip(x - mu g)|| / mu over the missing pixels),
    which equals ||g|| away from the bounds and vanishes at a bound-constrained
    minimum (a black background pixel pushed further towards black is
    converged, not moving).
  * Jitter: the classifier sees tf.roll(X, s); the tape differentiates through
    the roll, which is exactly "shift, take the gradient, shift it back". TV
    and the binary penalty are evaluated on the unshifted X (no wrap-around
    edges). The reported energies are evaluated without jitter.
  * M_TV: tv_band=None uses every difference of the image; tv_band=b keeps
    differences touching a pixel within b pixels of the hole (the hole
    dilated by max_pool with a (2b+1)^2 window).
  * init="zeros" follows the paper's "zero gray level values": black, i.e.
    -1 in our signed range (0 would be mid-grey).
  * Label -1 means "try every label" (Section 4.4.3): such an image runs as K
    rows (one per label) in the same loop and the lowest final energy wins.
    An image with a given label runs one row only, and its `energies` are +inf
    for the labels that were not tried (so they do not depend on the batch).
    Measured on digits with a central 14x14 hole, the winner is the true label
    about as often as the classifier is right on the masked image (~30 %):
    every label reaches a small content energy, so TV decides (cf. Figure 10).
"""

import numpy as np
import tensorflow as tf

from tfinpaint import export as export_lib
from tfinpaint import images
from tfinpaint import masks as masks_lib
from tfinpaint.errors import InputError

INITS = ("diffusion", "class_mean", "zeros")
KIND = "classifier_guided"

# Recommended constructor arguments per kind of data (see defaults_for).
PRESETS = {
    # Tuned on 28x28 digits (OpenCV digits.png test split, central 14x14 hole) with the
    # patch-trained LeNet: an independent whole-image LeNet recognises 84 % of the inpainted
    # digits (24 % with the hole black, 37 % after the diffusion init; 300 digits). Jitter makes
    # strokes appear instead of an adversarial texture (53 % without it). The L1 TV keeps the
    # projected gradient norm near 0.05, so epsilon only stops images that have nothing to fill
    # and the iteration cap is the real stop (100 iterations give nearly the same results).
    "digits": dict(step_size=1.0, lambda_tv=0.002, tv_band=None, epsilon=1e-3,
                   max_iterations=300, init="diffusion", jitter=2, binary_weight=0.0),
    # Paper 003's advice for faces (class-average init, TV on a band around the hole, jitter);
    # NOT tuned here: a starting point, with the step size that suited class-mean digits.
    "faces": dict(step_size=0.3, lambda_tv=0.002, tv_band=3, epsilon=1e-3, max_iterations=300,
                  init="class_mean", jitter=2, binary_weight=0.0),
}


def defaults_for(kind):
  """Recommended constructor arguments for "digits" or "faces" (a fresh dict)."""
  if kind not in PRESETS:
    raise InputError(f"no preset for {kind!r}: expected one of {', '.join(PRESETS)}")
  return dict(PRESETS[kind])


# ---------------------------------------------------------------------------------------------
# Pure tensor helpers (public so that tests and the CLI can use them on their own).
# ---------------------------------------------------------------------------------------------


def illumination_mask(image, threshold):
  """Mask for the illumination mode (Section 4.4.2): pixels darker than `threshold` are missing.

  Args:
    image: [N, H, W, C] in [-1, 1] (colour images use the mean over channels).
    threshold: brightness in [0, 1] (0 = black, 1 = white).
  Returns:
    float32 [N, H, W, 1], 1 = known (bright enough), 0 = to inpaint.
  """
  brightness = images.to_unit(tf.reduce_mean(tf.convert_to_tensor(image, tf.float32), axis=-1,
                                             keepdims=True))
  return tf.cast(brightness >= threshold, tf.float32)


def tv_band_mask(mask, width):
  """Pixels within `width` pixels (Chebyshev distance) of the hole: max_pool dilation.

  Args:
    mask: [N, H, W, 1], 1 = known.
    width: int >= 0, or None for the whole image.
  Returns:
    float32 [N, H, W, 1], 1 = inside M_TV.
  """
  hole = 1.0 - masks_lib.binarize(mask)
  if width is None:
    return tf.ones_like(hole)
  k = 2 * int(width) + 1
  return tf.nn.max_pool2d(hole, ksize=k, strides=1, padding="SAME")


def total_variation(x, band=None):
  """Anisotropic masked TV per image: ||M_TV D_h X||_1 + ||M_TV D_v X||_1 -> [N].

  A difference between two neighbours counts when either of them is in the
  band (so the hole's border is always penalised).
  """
  dh = tf.abs(x[:, :, 1:, :] - x[:, :, :-1, :])
  dv = tf.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
  if band is not None:
    dh *= tf.maximum(band[:, :, 1:, :], band[:, :, :-1, :])
    dv *= tf.maximum(band[:, 1:, :, :], band[:, :-1, :, :])
  return tf.reduce_sum(dh, axis=[1, 2, 3]) + tf.reduce_sum(dv, axis=[1, 2, 3])


def binary_penalty(x, mask):
  """sum over missing pixels of (1 - x^2): 0 at black/white (+-1), 1 at mid-grey -> [N]."""
  return tf.reduce_sum((1.0 - masks_lib.binarize(mask)) * (1.0 - tf.square(x)), axis=[1, 2, 3])


def _jacobi(image, known, iterations):
  """`iterations` Jacobi sweeps of the 4-neighbour average on the unknown pixels."""
  channels = image.shape[-1]
  cross = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)
  kernel = tf.constant(np.tile(cross[:, :, None, None], [1, 1, channels, 1]))
  ones = tf.ones([1, image.shape[1], image.shape[2], channels])
  count = tf.nn.depthwise_conv2d(ones, kernel, [1, 1, 1, 1], "SAME")  # Neighbours inside image.

  def body(i, x):
    avg = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME") / count
    return i + 1, known * image + (1.0 - known) * avg

  _, x = tf.while_loop(lambda i, x: i < iterations, body, (tf.constant(0), image))
  return x


def diffuse(image, mask, iterations=100, min_size=8):
  """Harmonic fill of the hole from its boundary (initialisation (i) of Section 3.3).

  Coarse-to-fine: the known pixels are averaged down a 2x pyramid until the
  image is at most `min_size` pixels on a side; the coarsest hole starts at
  the mean of the known pixels (0 when nothing is known), and each level is
  upsampled as the starting point of `iterations` Jacobi sweeps at the next
  finer level. Known pixels are kept exactly; image borders are reflecting.

  Args:
    image: [N, H, W, C] float32 (static H, W, C).
    mask: [N, H, W, 1], 1 = known.
    iterations: Jacobi sweeps per pyramid level.
  Returns:
    [N, H, W, C] with the hole filled.
  """
  image = tf.convert_to_tensor(image, tf.float32)
  known = masks_lib.binarize(mask)
  h, w = image.shape[1], image.shape[2]
  if min(h, w) > min_size:
    weight = tf.nn.avg_pool2d(known, 2, 2, "SAME")
    coarse = tf.nn.avg_pool2d(image * known, 2, 2, "SAME") / tf.maximum(weight, 1e-12)
    coarse = diffuse(coarse, tf.cast(weight > 0, tf.float32), iterations, min_size)
    start = tf.image.resize(coarse, [h, w], method="bilinear")
  else:
    total = tf.reduce_sum(image * known, axis=[1, 2], keepdims=True)
    start = total / tf.maximum(tf.reduce_sum(known, axis=[1, 2], keepdims=True), 1.0)
    start = tf.broadcast_to(start, tf.shape(image))
  x = known * image + (1.0 - known) * start
  return _jacobi(x, known, iterations)


# ---------------------------------------------------------------------------------------------
# The inpainter.
# ---------------------------------------------------------------------------------------------


class ClassifierInpainter(tf.Module):
  """Classifier-guided inpainting (paper 003) as a pure, batched tf.Module.

  Usage:
    inpainter = ClassifierInpainter(lenet, num_classes=10, image_shape=(28, 28, 1))
    out = inpainter.inpaint(image, mask, label, iterations, seed)

  `inpaint(image [N,H,W,C] in [-1,1], mask [N,H,W,1] 1 = known, label int32 [N]
  (-1 = all labels), iterations int32 scalar (clamped to max_iterations), seed
  int32 scalar)` returns a dict of tensors:
    inpainted [N,H,W,C] in [-1,1]; label int32 [N] (the given or best label);
    energy [N] (final, without jitter); energies [N,K] (+inf for labels not
    tried); grad_norm_trace [N,T] (projected gradient norm per iteration, 0
    after the image converged, T = clamped iterations); iterations int32 [N]
    (gradient steps the image took); snapshots [N,S,H,W,C] (only when
    snapshot_every > 0: the image after every snapshot_every iterations,
    S = T // snapshot_every).
  """

  def __init__(self, classifier, *, num_classes, image_shape, class_means=None, step_size=1.0,
               lambda_tv=0.002, tv_band=None, epsilon=1e-3, max_iterations=300,
               init="diffusion", jitter=0, binary_weight=0.0, snapshot_every=0,
               diffusion_iterations=100, name=None):
    """Builds the inpainter.

    Args:
      classifier: keras.Model image [N,H,W,C] in [-1,1] -> logits [N,K] (or a
        dict with "logits"). Called with training=False; never modified.
      num_classes: K.
      image_shape: (H, W, C).
      class_means: optional np array [K,H,W,C] in [-1,1], the average training
        image per label (needed for init="class_mean"). Stored as a constant.
      step_size: gradient-descent step mu.
      lambda_tv: weight of the masked total variation.
      tv_band: None = TV over the whole image; int = band width in pixels around the hole.
      epsilon: per-image stop when the projected gradient norm is below it.
      max_iterations: hard cap on the iterations of any call.
      init: "diffusion" | "class_mean" | "zeros" (black).
      jitter: max shift in pixels along each axis (0 = off).
      binary_weight: weight of the binary penalty (1 - x^2) on missing pixels.
      snapshot_every: record the image every this many iterations (0 = off).
      diffusion_iterations: Jacobi sweeps per pyramid level of the diffusion init.
      name: tf.Module name.
    """
    super().__init__(name=name)
    if init not in INITS:
      raise InputError(f"init must be one of {INITS}, got {init!r}")
    if init == "class_mean" and class_means is None:
      raise InputError("init='class_mean' needs class_means [num_classes, H, W, C]")
    self.classifier = classifier
    self.num_classes = int(num_classes)
    self.image_shape = tuple(int(d) for d in image_shape)
    self.class_means = None
    if class_means is not None:
      class_means = np.asarray(class_means, np.float32)
      if class_means.shape != (self.num_classes,) + self.image_shape:
        raise InputError(f"class_means must be {(self.num_classes,) + self.image_shape}, "
                         f"got {class_means.shape}")
      self.class_means = tf.constant(class_means)
    self.step_size = float(step_size)
    self.lambda_tv = float(lambda_tv)
    self.tv_band = None if tv_band is None else int(tv_band)
    self.epsilon = float(epsilon)
    self.max_iterations = int(max_iterations)
    self.init = init
    self.jitter = int(jitter)
    self.binary_weight = float(binary_weight)
    self.snapshot_every = int(snapshot_every)
    self.diffusion_iterations = int(diffusion_iterations)
    h, w, c = self.image_shape
    self.inpaint = tf.function(self._inpaint, input_signature=[
        tf.TensorSpec([None, h, w, c], tf.float32, name="image"),
        tf.TensorSpec([None, h, w, 1], tf.float32, name="mask"),
        tf.TensorSpec([None], tf.int32, name="label"),
        tf.TensorSpec([], tf.int32, name="iterations"),
        tf.TensorSpec([], tf.int32, name="seed"),
    ])

  def get_config(self):
    """Plain-python constructor arguments (everything but classifier and class_means)."""
    names = ("num_classes", "step_size", "lambda_tv", "tv_band", "epsilon", "max_iterations",
             "init", "jitter", "binary_weight", "snapshot_every", "diffusion_iterations")
    return dict({n: getattr(self, n) for n in names}, image_shape=list(self.image_shape))

  # -- energy ---------------------------------------------------------------------------------

  def logits(self, x):
    out = self.classifier(x, training=False)
    return out["logits"] if isinstance(out, dict) else out

  def energy_terms(self, x, label, mask, shift=None):
    """Per-image energy and its terms for images x [N,H,W,C] in [-1,1].

    Args:
      x: current images (known pixels included).
      label: int32 [N], each in [0, K).
      mask: [N,H,W,1], 1 = known (for M_TV and the binary penalty).
      shift: optional int32 [2] jitter (dy, dx) applied before the classifier.
    Returns:
      dict of [N] tensors: energy, content, tv, binary.
    """
    return self._energy(x, label, mask, self._band(mask), shift)

  def _band(self, mask):
    """M_TV for this mask (None = whole image); depends on the mask only, so the descent
    computes it once rather than in every iteration."""
    return None if self.tv_band is None else tv_band_mask(mask, self.tv_band)

  def _energy(self, x, label, mask, band, shift=None):
    """energy_terms with M_TV given."""
    x = tf.convert_to_tensor(x, tf.float32)
    seen = x if shift is None else tf.roll(x, shift, axis=[1, 2])
    probs = tf.nn.softmax(self.logits(seen), axis=-1)
    onehot = tf.one_hot(label, self.num_classes, dtype=probs.dtype)
    content = tf.reduce_sum(tf.square(probs - onehot), axis=-1)
    tv = total_variation(x, band)
    binary = binary_penalty(x, mask)
    energy = content + self.lambda_tv * tv + self.binary_weight * binary
    return dict(energy=energy, content=content, tv=tv, binary=binary)

  def initial_fill(self, image, mask, label):
    """The starting image: known pixels from `image`, the hole per `init`."""
    known = masks_lib.binarize(mask)
    if self.init == "diffusion":
      fill = diffuse(image, known, self.diffusion_iterations)
    elif self.init == "class_mean":
      fill = tf.gather(self.class_means, label)
    else:
      fill = -tf.ones_like(image)
    return known * image + (1.0 - known) * fill

  def jitter_shift(self, seed, iteration):
    """int32 [2] shift for this iteration, the same for every image: stateless in (seed, it)."""
    if not self.jitter:
      return None
    return tf.random.stateless_uniform([2], seed=tf.stack([seed, iteration]),
                                       minval=-self.jitter, maxval=self.jitter + 1, dtype=tf.int32)

  # -- optimisation ---------------------------------------------------------------------------

  def _descend(self, image, mask, label, iterations, seed):
    """Projected gradient descent on rows (image, mask, label >= 0); see the module docstring."""
    known = masks_lib.binarize(mask)
    free = 1.0 - known
    mu, eps = self.step_size, self.epsilon
    x0 = self.initial_fill(image, known, label)
    band = self._band(known)
    rows = tf.shape(image)[0]
    h, w, c = self.image_shape
    every = self.snapshot_every
    num_snaps = iterations // every if every else tf.constant(0)
    snaps0 = tf.zeros(tf.stack([num_snaps, rows, h, w, c])) if every else tf.zeros([0])

    def cond(t, x, converged, steps, trace, snaps):
      return tf.logical_and(t < iterations, tf.logical_not(tf.reduce_all(converged)))

    def body(t, x, converged, steps, trace, snaps):
      shift = self.jitter_shift(seed, t)
      with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(self._energy(x, label, known, band, shift)["energy"])
      # ZERO: with the classifier term off (tv_only) and no TV / binary weight, no term
      # depends on x and the gradient is zero, not None.
      grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO) * free
      moved = known * image + free * tf.clip_by_value(x - mu * grad, -1.0, 1.0)
      gnorm = tf.sqrt(tf.reduce_sum(tf.square(moved - x), axis=[1, 2, 3])) / mu
      active = tf.logical_and(tf.logical_not(converged), gnorm >= eps)
      trace = trace.write(t, tf.where(converged, 0.0, gnorm))
      x = tf.where(active[:, None, None, None], moved, x)
      if every:
        index = [[(t + 1) // every - 1]]
        snaps = tf.cond((t + 1) % every == 0,
                        lambda: tf.tensor_scatter_nd_update(snaps, index, x[None]),
                        lambda: snaps)
      return (t + 1, x, tf.logical_not(active), steps + tf.cast(active, tf.int32), trace, snaps)

    trace0 = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None])
    t, x, _, steps, trace, snaps = tf.while_loop(
        cond, body,
        (tf.constant(0), x0, tf.zeros([rows], tf.bool), tf.zeros([rows], tf.int32), trace0, snaps0))
    trace = tf.reshape(trace.stack(), [t, rows])
    trace = tf.transpose(tf.pad(trace, [[0, iterations - t], [0, 0]]))
    out = dict(inpainted=x, energy=self._energy(x, label, known, band)["energy"],
               iterations=steps, grad_norm_trace=trace)
    if every:
      # Snapshots after the loop ended early are the (frozen) final images.
      taken = tf.range(num_snaps) < t // every
      snaps = tf.where(taken[:, None, None, None, None], snaps, x[None])
      out["snapshots"] = tf.transpose(snaps, [1, 0, 2, 3, 4])
    return out

  def _inpaint(self, image, mask, label, iterations, seed):
    n, k = tf.shape(image)[0], self.num_classes
    label = export_lib.validate_label(label, n, k)
    iterations = tf.clip_by_value(iterations, 0, self.max_iterations)
    # One row per (image, label) to try: the given label, or all K for label -1.
    keep = tf.logical_or(label[:, None] < 0, label[:, None] == tf.range(k)[None, :])  # [N, K]
    pairs = tf.cast(tf.where(keep), tf.int32)  # [R, 2] (image, label), row-major.
    row_image = pairs[:, 0]
    rows = self._descend(tf.gather(image, row_image), tf.gather(mask, row_image), pairs[:, 1],
                         iterations, seed)
    energies = tf.tensor_scatter_nd_update(tf.fill([n, k], np.float32(np.inf)), pairs,
                                           rows["energy"])
    best = tf.argmin(energies, axis=1, output_type=tf.int32)
    row_of = tf.tensor_scatter_nd_update(tf.fill([n, k], -1), pairs, tf.range(tf.shape(pairs)[0]))
    chosen = tf.gather_nd(row_of, tf.stack([tf.range(n), best], axis=1))
    out = {key: tf.gather(value, chosen) for key, value in rows.items()}
    out.update(label=best, energies=energies)
    return out


# ---------------------------------------------------------------------------------------------
# networks/ and SavedModel export.
# ---------------------------------------------------------------------------------------------


def save_networks(inpainter, base_dir, overwrite=True, serving_iterations=None):
  """Writes `<base_dir>/networks/` (classifier.keras, inpainter.json, class_means.npy).

  serving_iterations: the serving_default iteration count, recorded so that the CLIs
  run what the server runs.
  """
  arrays = {}
  if inpainter.class_means is not None:
    arrays["class_means"] = inpainter.class_means.numpy()
  return export_lib.write_networks(
      base_dir, models={"classifier": inpainter.classifier},
      config=dict(kind=KIND, config=inpainter.get_config(), serving_iterations=serving_iterations),
      arrays=arrays, overwrite=overwrite)


def load_networks(path, custom_objects=None, **overrides):
  """Rebuilds the ClassifierInpainter saved by save_networks (path: base dir or networks/).

  `overrides` replace constructor arguments (e.g. snapshot_every for a CLI plot).
  """
  models, config, arrays = export_lib.read_networks(path, custom_objects, kind=KIND)
  kwargs = dict(config["config"], **overrides)
  return ClassifierInpainter(models["classifier"], class_means=arrays.get("class_means"),
                             **kwargs)


def export(inpainter, base_dir, version, *, iterations=None, max_iterations=None, seed=0,
           overwrite=False):
  """Writes the inpainter as `<base_dir>/<version>/` for TF Serving.

  Signatures (images in [0, 1] at this boundary):
    serving_default(image [N,H,W,C], mask [N,H,W,1], label int32 [N]) with
      `iterations` and `seed` fixed here;
    inpaint_with_options(image, mask, label, iterations int32 scalar, seed
      int32 scalar) with iterations clamped to `max_iterations`.
  Outputs: inpainted (and snapshots) in [0, 1], label, energy, energies,
  grad_norm_trace, iterations.

  Args:
    inpainter: a ClassifierInpainter.
    base_dir: exported/<name>.
    version: positive int.
    iterations: iterations of serving_default (default: inpainter.max_iterations).
    max_iterations: cap of inpaint_with_options (default and upper bound:
      inpainter.max_iterations).
    seed: jitter seed of serving_default.
    overwrite: replace an existing version.
  Returns:
    The version directory.
  """
  def run(image, mask, label, iters, seed_):
    image, mask = export_lib.validate_inputs(image, mask, inpainter.image_shape)
    # The label is checked inside inpaint (_inpaint), for library callers too.
    out = dict(inpainter.inpaint(images.to_signed(image), mask, label, iters, seed_))
    out["inpainted"] = images.to_unit(out["inpainted"])
    if "snapshots" in out:
      out["snapshots"] = images.to_unit(out["snapshots"])
    return out

  specs = [tf.TensorSpec(None, tf.float32, name="image"),
           tf.TensorSpec(None, tf.float32, name="mask"),
           tf.TensorSpec(None, tf.int32, name="label")]
  return export_lib.write_inpainter(
      base_dir, version, run=run, input_specs=specs, models=[inpainter.classifier],
      module_max=inpainter.max_iterations, iterations=iterations, max_iterations=max_iterations,
      seed=seed, overwrite=overwrite)
