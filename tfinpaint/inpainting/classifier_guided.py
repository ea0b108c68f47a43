"""Inpainting by gradient descent on the missing pixels against a trained classifier (paper 003).

Kerzhner, Elad & Romano fill a hole by minimising, over the missing pixels of X,

  E(X) = ||softmax(CNN(X)) - onehot(label)||^2
         + lambda_tv (||M_TV D_h X||_1 + ||M_TV D_v X||_1)
         + binary_weight * sum_missing (1 - x^2)

starting from a diffusion / class-mean / black fill, with random jitter of the image before each
gradient (Section 3.4). A classifier trained on patches (not whole images) "remembers" local
detail, and the descent draws it back.

`ClassifierInpainter` implements the Inpainter contract (tfinpaint.inpainting.base): the whole
optimisation is one tf.while_loop around a GradientTape; no tf.Variable is written; jitter is
stateless from (seed, iteration) and identical for every image; energies are per image and the
gradient is taken of their sum, so an image's result does not depend on the other images of
its batch (TF Serving batches requests together). Every number the paper tunes is a request
option with the exported value as default.

Design choices the paper leaves open (documented here once):
  * Pixels live in [-1, 1]; the mask is binarised at 0.5 (1 = known). Known pixels are copied
    from the input and never change.
  * The update is projected gradient descent: free pixels are clipped to [-1, 1] after each
    step. The stopping criterion uses the norm of the projected gradient
    (||x - clip(x - mu g)|| / mu over the missing pixels), which equals ||g|| away from the
    bounds and vanishes at a bound-constrained minimum.
  * Jitter: the classifier sees tf.roll(X, s); the tape differentiates through the roll,
    which is exactly "shift, take the gradient, shift it back". TV and the binary penalty are
    evaluated on the unshifted X. The reported energies are evaluated without jitter.
  * M_TV: tv_band = -1 uses every difference of the image; tv_band = b keeps differences
    touching a pixel within b pixels (Chebyshev distance) of the hole.
  * init="zeros" follows the paper's "zero gray level values": black, -1 in our signed range.
  * Label -1 means "try every label" (Section 4.4.3): such an image runs as K rows (one per
    label) in the same loop and the lowest final energy wins. An image with a given label runs
    one row only; its `energies` are +inf for the labels that were not tried.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from tfinpaint import config
from tfinpaint import masks as masks_lib
from tfinpaint.errors import InputError
from tfinpaint.inpainting import base
from tfinpaint.inpainting import pixel_terms

INITS = ("diffusion", "class_mean", "zeros")
MAX_SNAPSHOTS = 64


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(config.Config):
  """What fixes a ClassifierInpainter: shapes, caps, and the default of every request option.

  The first three fields come from the trained classifier and its data (`assemble`); the
  option fields are each option's only default, help text and range.
  """
  image_shape: tuple[int, ...] = config.field((28, 28, 1), help="image shape (H, W, C)",
                                              derived=True)
  num_classes: int = config.field(10, help="classes of the guide", low=2, derived=True)
  class_names: tuple[str, ...] = config.field((), help="names of the classes", derived=True)
  iterations: int = config.field(300, help="gradient steps of a request (clipped to "
                                 "max_iterations)", low=0, high=10**6)
  max_iterations: int = config.field(1000, help="no request runs more iterations (TF Serving "
                                     "must not be held for long)", low=1, high=10**6)
  seed: int = config.field(0, help="seed of the jitter shifts", low=0, high=2**31 - 1)
  step_size: float = config.field(1.0, help="step size mu of the projected gradient descent",
                                  low=1e-6, high=1e3)
  lambda_tv: float = config.field(0.002, help="weight of the masked total variation", low=0.0,
                                  high=1e3)
  tv_band: int = config.field(-1, help="TV only within this many pixels of the hole; -1 = the "
                              "whole image", low=-1, high=10**4)
  epsilon: float = config.field(1e-3, help="an image stops when its projected gradient norm "
                                "is below this (0 = never)", low=0.0, high=1e3)
  patience: int = config.field(0, help="stop an image after this many iterations without "
                               "improvement of its energy (0 = never)", low=0, high=10**6)
  tolerance: float = config.field(1e-3, help="relative improvement that counts for patience",
                                  low=0.0, high=1.0)
  init: str = config.field("diffusion", help="initial fill of the hole (paper 003, 3.3)",
                           choices=INITS)
  jitter: int = config.field(2, help="largest random shift in pixels per iteration", low=0,
                             high=64)
  binary_weight: float = config.field(0.0, help="weight of the black/white penalty on missing "
                                      "pixels", low=0.0, high=1e3)
  diffusion_iterations: int = config.field(100, help="Jacobi sweeps per pyramid level of the "
                                           "diffusion start", low=1, high=10**4)
  block_rows: int = config.field(16, help="rows per fixed-size block of the descent, so that "
                                 "results do not depend on the batch (the last row of each block "
                                 "is a filler, base.in_blocks); a single image pays for a whole "
                                 "block (smaller blocks answer one image faster, larger ones "
                                 "batches)", low=1, high=1024)
  block_fillers: int = base.block_fillers_field(1)

  def __post_init__(self):
    super().__post_init__()
    if self.iterations > self.max_iterations:
      raise ValueError(f"iterations ({self.iterations}) must not exceed max_iterations "
                       f"({self.max_iterations})")


# ---------------------------------------------------------------------------------------------
# The inpainter.
# ---------------------------------------------------------------------------------------------


@base.register
class ClassifierInpainter(base.Inpainter):
  """Classifier-guided inpainting (paper 003) as a pure, batched tf.Module.

    inpainter = ClassifierInpainter({"classifier": lenet}, ClassifierConfig((28, 28, 1), 10))
    out = inpainter.function("serving_default")(image=x01, mask=m, label=labels)

  Signatures (images in [0, 1]):
    serving_default(image, mask, label, **options): label int32 [N], -1 = try every label;
    illumination(image, threshold, label, **options): the hole is every pixel darker than
      `threshold` (Section 4.4.2).
  Options (scalars, default = the config's value): iterations (clamped to [0,
  max_iterations]), seed, step_size, lambda_tv, tv_band, epsilon, jitter, binary_weight,
  content_weight (1 = the paper; 0 = TV only), snapshot_every (0 = off).
  Outputs: inpainted [N,H,W,C]; label [N] (given or best); energy [N] (final, no jitter);
  energies [N,K] (+inf for labels not tried); grad_norm_trace [N,T] (projected gradient norm
  per iteration, 0 after the image stopped; T = iterations run); iterations [N] (steps the image
  took); snapshots [N,S,H,W,C] (every snapshot_every iterations, S <= 64); illumination also
  returns the mask it used.
  """

  KIND = "classifier_guided"
  Config = ClassifierConfig
  OPTIONS = (
      base.Option("iterations", tf.int32, clamp=True, high=lambda c: c.max_iterations),
      base.Option("seed", tf.int32),
      base.Option("step_size", tf.float32),
      base.Option("lambda_tv", tf.float32),
      base.Option("tv_band", tf.int32, high=lambda c: max(c.image_shape[:2])),
      base.Option("epsilon", tf.float32),
      base.Option("jitter", tf.int32, high=lambda c: min(c.image_shape[:2]) // 2),
      base.Option("binary_weight", tf.float32),
      base.Option("content_weight", tf.float32, default=1.0, low=0.0, high=1e3,
                  help="weight of the classifier term (0 = TV only: the ablation)"),
      base.Option("snapshot_every", tf.int32, default=0, low=0, high=lambda c: c.max_iterations,
                  help="keep the image every this many iterations (paper 003, Figure 6; 0 = "
                  "off)"),
      base.Option("patience", tf.int32),
      base.Option("tolerance", tf.float32),
  )
  NETWORKS = ("classifier",)
  ARRAYS = ("class_means",)
  ROLES = ("classifier",)
  METHODS = {
      "classifier": ("serving_default", {}),
      "tv_only": ("serving_default", {"content_weight": 0.0}),  # ablation: no classifier term
      "init_only": ("serving_default", {"iterations": 0}),  # ablation: the starting fill alone
      "illumination": ("illumination", {}),  # the hole is every pixel darker than a threshold
  }

  def __init__(self, networks, config, arrays=None):
    super().__init__(networks, config, arrays)
    c = config
    shape = (int(c.num_classes),) + tuple(int(d) for d in c.image_shape)
    means = self.arrays.get("class_means")
    if c.init == "class_mean" and means is None:
      raise InputError("init='class_mean' needs class_means [num_classes, H, W, C]")
    if means is not None and means.shape != shape:
      raise InputError(f"class_means must be {shape}, got {means.shape}")
    self.num_classes = int(c.num_classes)
    self.classifier = networks["classifier"]
    self.class_means = None if means is None else tf.constant(means)

  # -- the contract ---------------------------------------------------------------------------

  def signatures(self):
    h, w, c = self.image_shape
    image = tf.TensorSpec([None, h, w, c], tf.float32, name="image")
    mask = tf.TensorSpec([None, h, w, 1], tf.float32, name="mask")
    label = tf.TensorSpec([None], tf.int32, name="label")
    threshold = tf.TensorSpec([], tf.float32, name="threshold")
    options = self.options()

    def run(inputs, opts):
      return self.inpaint(inputs["image"], inputs["mask"], inputs["label"], opts)

    def run_illumination(inputs, opts):
      mask = pixel_terms.illumination_mask(inputs["image"], inputs["threshold"])
      return dict(self.inpaint(inputs["image"], mask, inputs["label"], opts), mask=mask)

    return {
        "serving_default": base.Signature(
            "serving_default", (image, mask, label), options, run,
            "fill the hole of mask (1 = known) towards label (-1 = try every label)",
            image_outputs=("inpainted", "snapshots")),
        "illumination": base.Signature(
            "illumination", (image, threshold, label), options, run_illumination,
            "fill every pixel darker than threshold (paper 003, Section 4.4.2)",
            image_outputs=("inpainted", "snapshots")),
    }

  # -- energy ---------------------------------------------------------------------------------

  def logits(self, x):
    out = self.classifier(x, training=False)
    return out["logits"] if isinstance(out, dict) else out

  def energy_terms(self, x, label, mask, band=None, shift=None, options=None):
    """Per-image energy and its terms for images x [N,H,W,C] in [-1,1].

    Args:
      x: current images (known pixels included).
      label: int32 [N], each in [0, K).
      mask: [N,H,W,1], 1 = known (for the binary penalty).
      band: M_TV [N,H,W,1] (None = the whole image).
      shift: optional int32 [2] jitter (dy, dx) applied before the classifier.
      options: resolved options (self.resolve) for the weights.
    Returns:
      dict of [N] tensors: energy, content, tv, binary.
    """
    opts = options if options is not None else self.resolve()
    x = tf.convert_to_tensor(x, tf.float32)
    seen = x if shift is None else tf.roll(x, shift, axis=[1, 2])
    probs = tf.nn.softmax(self.logits(seen), axis=-1)
    onehot = tf.one_hot(label, self.num_classes, dtype=probs.dtype)
    content = tf.reduce_sum(tf.square(probs - onehot), axis=-1)
    tv = pixel_terms.total_variation(x, band)
    binary = pixel_terms.binary_penalty(x, mask)
    energy = (opts["content_weight"] * content + opts["lambda_tv"] * tv
              + opts["binary_weight"] * binary)
    return dict(energy=energy, content=content, tv=tv, binary=binary)

  def initial_fill(self, image, mask, label):
    """The starting image: known pixels from `image`, the hole per the configured init."""
    known = masks_lib.binarize(mask)
    init = self.config.init
    if init == "diffusion":
      fill = pixel_terms.diffuse(image, known, self.config.diffusion_iterations)
    elif init == "class_mean":
      fill = tf.gather(self.class_means, label)
    else:
      fill = -tf.ones_like(image)
    return masks_lib.composite(image, fill, known)

  @staticmethod
  def jitter_shift(seed, iteration, jitter):
    """int32 [2] shift for this iteration, the same for every image: stateless in (seed, it)."""
    return tf.random.stateless_uniform([2], seed=tf.stack([seed, iteration]), minval=-jitter,
                                       maxval=jitter + 1, dtype=tf.int32)

  # -- optimisation ---------------------------------------------------------------------------

  def step(self, x, t, rows, opts):
    """One projected gradient step, the only place the update is written.

    Args:
      x: [R,H,W,C] current rows. t: int32 iteration (picks the jitter shift).
      rows: dict(image, known, label, band) of the rows being inpainted.
      opts: resolved options.
    Returns:
      (moved [R,H,W,C], projected gradient norm [R], energy at x [R] (with the jitter)).
    """
    shift = self.jitter_shift(opts["seed"], t, opts["jitter"])
    with tf.GradientTape() as tape:
      tape.watch(x)
      energy = self.energy_terms(x, rows["label"], rows["known"], rows["band"], shift, opts)
      total = tf.reduce_sum(energy["energy"])
    # ZERO: with the classifier term off and no TV / binary weight no term depends on x.
    grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grad = tf.where(tf.math.is_finite(grad), grad, 0.0)
    mu = opts["step_size"]
    moved = masks_lib.composite(rows["image"], tf.clip_by_value(x - mu * grad, -1.0, 1.0),
                                rows["known"])
    gnorm = tf.sqrt(tf.reduce_sum(tf.square(moved - x), axis=[1, 2, 3])) / mu
    return moved, gnorm, energy["energy"]

  def problem(self, image, mask, label, opts):
    """The fixed data of a descent on rows (image, mask, label >= 0), and the starting image."""
    known = masks_lib.binarize(mask)
    rows = dict(image=image, known=known, label=label,
                band=pixel_terms.tv_band_mask(known, opts["tv_band"]))
    return rows, self.initial_fill(image, known, label)

  def _descend(self, image, mask, label, opts):
    """Projected gradient descent on rows (image, mask, label >= 0), in fixed-size blocks of
    rows (base.in_blocks: a row's result does not depend on its batch)."""
    h, w, c = self.image_shape
    f32 = tf.float32
    block = self.config.block_rows
    signature = dict(inpainted=tf.TensorSpec([block, h, w, c], f32),
                     energy=tf.TensorSpec([block], f32),
                     iterations=tf.TensorSpec([block], tf.int32),
                     grad_norm_trace=tf.TensorSpec([block, None], f32),
                     snapshots=tf.TensorSpec([block, None, h, w, c], f32))
    # Filler rows: nothing to fill (mask all known), so they converge at once.
    return base.in_blocks(lambda rows: self._descend_block(*rows, opts), (image, mask, label),
                          (0.0, 1.0, 0), block, signature,
                          sentinels=self.config.block_fillers)

  def _descend_block(self, image, mask, label, opts):
    """Projected gradient descent on one block of rows; see the module docstring."""
    rows, x0 = self.problem(image, mask, label, opts)
    known = rows["known"]
    iterations, eps = opts["iterations"], opts["epsilon"]
    count = tf.shape(image)[0]
    every = opts["snapshot_every"]
    safe_every = tf.maximum(every, 1)
    num_snaps = tf.where(every > 0, tf.minimum(iterations // safe_every, MAX_SNAPSHOTS), 0)
    snaps0 = tf.zeros(tf.concat([[num_snaps, count], tf.shape(image)[1:]], 0))

    def cond(t, x, converged, steps, trace, snaps, best, last):
      return tf.logical_and(t < iterations, tf.logical_not(tf.reduce_all(converged)))

    def body(t, x, converged, steps, trace, snaps, best, last):
      moved, gnorm, energy = self.step(x, t, rows, opts)
      best, last, stalled = base.plateau(energy, best, last, t, opts["patience"],
                                         opts["tolerance"])
      active = tf.logical_not(converged) & (gnorm >= eps) & tf.logical_not(stalled)
      trace = trace.write(t, tf.where(converged, 0.0, gnorm))
      x = tf.where(active[:, None, None, None], moved, x)
      slot = (t + 1) // safe_every - 1
      take = (every > 0) & ((t + 1) % safe_every == 0) & (slot < num_snaps)
      snaps = tf.cond(take, lambda: tf.tensor_scatter_nd_update(snaps, [[slot]], x[None]),
                      lambda: snaps)
      return (t + 1, x, tf.logical_not(active), steps + tf.cast(active, tf.int32), trace, snaps,
              best, last)

    trace0 = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None])
    t, x, _, steps, trace, snaps, _, _ = tf.while_loop(
        cond, body, (tf.constant(0), x0, tf.zeros([count], tf.bool),
                     tf.zeros([count], tf.int32), trace0, snaps0,
                     tf.fill([count], np.float32(np.inf)), tf.zeros([count], tf.int32)))
    # [t, R] -> [R, iterations]: zeros after the loop ended (an empty trace when it never ran).
    stacked = tf.cond(t > 0, trace.stack, lambda: tf.zeros([0, count]))
    trace = tf.transpose(tf.pad(tf.reshape(stacked, [t, count]), [[0, iterations - t], [0, 0]]))
    # Snapshots after the loop ended early are the (frozen) final images.
    taken = tf.range(num_snaps) < t // safe_every
    snaps = tf.where(taken[:, None, None, None, None], snaps, x[None])
    energy = self.energy_terms(x, label, known, rows["band"], None, opts)["energy"]
    return dict(inpainted=x, energy=energy, iterations=steps, grad_norm_trace=trace,
                snapshots=tf.transpose(snaps, [1, 0, 2, 3, 4]))

  def inpaint(self, image, mask, label, options=None):
    """Inpaints a batch in [-1, 1] (the signatures' work after validation).

    Args:
      image: [N,H,W,C] in [-1, 1]; mask [N,H,W,1], 1 = known; label int32 [N], -1 = all.
      options: {option: value} over the config defaults (see `options()`).
    Returns:
      the outputs listed in the class docstring, images in [-1, 1].
    """
    opts = self.resolve(options)
    image = tf.convert_to_tensor(image, tf.float32)
    label = tf.convert_to_tensor(label, tf.int32)
    n, k = tf.shape(image)[0], self.num_classes
    # One row per (image, label) to try: the given label, or all K for label -1.
    keep = tf.logical_or(label[:, None] < 0, label[:, None] == tf.range(k)[None, :])  # [N, K]
    pairs = tf.cast(tf.where(keep), tf.int32)  # [R, 2] (image, label), row-major.
    row_image = pairs[:, 0]
    rows = self._descend(tf.gather(image, row_image), tf.gather(mask, row_image), pairs[:, 1],
                         opts)
    energies = tf.tensor_scatter_nd_update(tf.fill([n, k], np.float32(np.inf)), pairs,
                                           rows["energy"])
    best = tf.argmin(energies, axis=1, output_type=tf.int32)
    row_of = tf.tensor_scatter_nd_update(tf.fill([n, k], -1), pairs, tf.range(tf.shape(pairs)[0]))
    chosen = tf.gather_nd(row_of, tf.stack([tf.range(n), best], axis=1))
    out = {key: tf.gather(value, chosen) for key, value in rows.items()}
    out.update(label=best, energies=energies)
    return out

  # -- the method's life beyond serving --------------------------------------------------------

  @classmethod
  def assemble(cls, trained, config, log=print):
    """From the trained classifier (role "classifier": a LeNet or GoogLeNet of bin.train)."""
    t = trained["classifier"]
    data = t.experiment.data
    config = dataclasses.replace(config, image_shape=data.image_shape,
                                 num_classes=int(t.num_classes),
                                 class_names=tuple(t.class_names))
    arrays = {}
    if config.init == "class_mean":
      train_ds, _ = data.load("train")
      arrays["class_means"] = class_means(train_ds, config.num_classes, data.image_shape)
      log(f"class means of {config.num_classes} classes for init=class_mean")
    return cls({"classifier": t.networks["model"]}, config, arrays)

  @classmethod
  def example(cls, size="tiny", **config):
    """tiny: a random 16x16x1 classifier of 3 classes (one strided conv, one dense layer) and a
    few cheap iterations; benchmark: a random LeNet-5 at 28x28x1, 10 classes (the shipped
    digits model's shape; speed does not depend on the weights)."""
    import keras  # pylint: disable=g-import-not-at-top
    from tfinpaint.models import lenet  # pylint: disable=g-import-not-at-top
    keras.utils.set_random_seed(config.pop("seed_weights", 0))
    if size == "tiny":
      inputs = keras.Input((16, 16, 1))
      x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(inputs)
      net = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
      base_config = dict(image_shape=(16, 16, 1), num_classes=3, class_names=("a", "b", "c"),
                         step_size=2.0, lambda_tv=0.05, epsilon=0.0, iterations=3,
                         max_iterations=6, jitter=1, diffusion_iterations=20)
    elif size == "benchmark":
      net = lenet.LeNetConfig().build((28, 28, 1), 10)["model"]
      base_config = dict(image_shape=(28, 28, 1), num_classes=10, epsilon=0.0,
                         max_iterations=5000)
    else:
      raise ValueError(f"example size must be tiny or benchmark, got {size!r}")
    return cls({"classifier": net}, ClassifierConfig(**dict(base_config, **config)))

  def reference(self, inputs, options=None):
    """Per-image eager loop over `step` for inputs {image [-1, 1], mask, label >= 0}."""
    opts = self.resolve(options)
    image, mask, label = (np.asarray(inputs[k]) for k in ("image", "mask", "label"))
    out = []
    for i in range(len(image)):
      rows, x = self.problem(tf.constant(image[i:i + 1]), tf.constant(mask[i:i + 1]),
                             tf.constant(label[i:i + 1], tf.int32), opts)
      for t in range(int(opts["iterations"])):
        moved, gnorm, _ = self.step(x, tf.constant(t), rows, opts)
        if float(gnorm[0]) < float(opts["epsilon"]):
          break
        x = moved
      out.append(x.numpy()[0])
    return np.stack(out)

  def step_networks(self, images):
    """The classifier, on one row per image (a given label)."""
    return [("classifier", self.classifier, images)]


def class_means(ds, num_classes, shape, limit=20000):
  """Average training image per label ([K, H, W, C] in [-1, 1]) for init=class_mean."""
  sums = np.zeros((num_classes,) + tuple(shape), np.float64)
  counts = np.zeros([num_classes], np.int64)
  for images_, labels in ds.take(limit).batch(1000):
    np.add.at(sums, np.asarray(labels), np.asarray(images_, np.float64))
    np.add.at(counts, np.asarray(labels), 1)
  if (counts == 0).any():
    raise InputError(f"init=class_mean: no training image for label(s) "
                     f"{np.flatnonzero(counts == 0).tolist()}")
  return (sums / counts[:, None, None, None]).astype(np.float32)
