"""Speed of the inpainting procedures, measured next to references in the same run.

A number of images x iterations per second means little on its own (machines
differ by 100x), so every measurement here comes with a reference measured in
the same process:

  * the batched tf.while_loop of an inpainter vs. a per-image eager Python loop
    doing the same arithmetic (the same energy / loss functions of the module,
    the same projected / Nesterov step). Both paths are also run on the same
    few images and their results compared, so the speed-up is not bought by
    computing something else;
  * the achieved GFLOP/s of one optimisation iteration (FLOPs counted by the
    tf.compat.v1 profiler on the graph of one iteration) vs. the GFLOP/s of a
    plain tf.matmul on this machine.

Library only: bin.benchmark chooses the sizes and prints the table.
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from tfinpaint import masks as masks_lib


@dataclasses.dataclass
class Row:
  """One line of the benchmark table."""
  benchmark: str
  variant: str
  images: int
  iterations: int
  seconds: float
  gflops: float | None = None  # achieved GFLOP/s
  note: str = ""

  @property
  def rate(self):
    """images x iterations per second."""
    return self.images * self.iterations / self.seconds if self.seconds > 0 else float("inf")


def timed(fn, repeats=1):
  """(best wall-clock seconds of `repeats` calls of fn(), last result forced to numpy)."""
  best, out = float("inf"), None
  for _ in range(max(1, repeats)):
    start = time.perf_counter()
    out = tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
    best = min(best, time.perf_counter() - start)
  return best, out


def count_flops(concrete_fn):
  """Floating-point operations of one call of a concrete function (static shapes needed).

  Uses the tf.compat.v1 profiler's per-op statistics (Conv2D and its gradients,
  MatMul, element-wise ops, ...); ops without registered statistics count 0,
  so this is a slight under-estimate.
  """
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts["output"] = "none"
  prof = tf.compat.v1.profiler.profile(graph=concrete_fn.graph, options=opts)
  return int(prof.total_float_ops)


def matmul_gflops(n=1024, repeats=10):
  """GFLOP/s of an n x n float32 tf.matmul (2 n^3 FLOPs), best of `repeats`."""
  a = tf.random.stateless_uniform([n, n], seed=[1, 2])
  b = tf.random.stateless_uniform([n, n], seed=[3, 4])
  mm = tf.function(tf.matmul)
  mm(a, b).numpy()  # warm-up / trace
  seconds, _ = timed(lambda: mm(a, b), repeats)
  return 2.0 * n ** 3 / seconds / 1e9, seconds


def sample_batch(n, shape, seed=0):
  """n smooth random images in [-1, 1] with `center` masks (speed does not depend on content)."""
  h, w, c = shape
  rng = np.random.default_rng(seed)
  low = rng.uniform(-1, 1, (n, max(2, h // 4), max(2, w // 4), c)).astype(np.float32)
  images = tf.image.resize(low, (h, w)).numpy().clip(-1, 1)
  return images, masks_lib.make("center", n, h, w)


# ----------------------------------------------------------------------------- classifier (003)


def classifier_reference(inpainter, image, mask, label, iterations, seed=0):
  """Per-image eager loop with the arithmetic of ClassifierInpainter._descend.

  Same initial fill, energy (inpainter.energy_terms), jitter shift, projected
  gradient step and per-image stopping rule; one image at a time, one Python
  iteration per step, no tf.function.
  """
  out = []
  for i in range(len(image)):
    img = tf.constant(image[i:i + 1])
    known = masks_lib.binarize(mask[i:i + 1])
    free = 1.0 - known
    lab = tf.constant(label[i:i + 1], tf.int32)
    x = inpainter.initial_fill(img, known, lab)
    mu = inpainter.step_size
    for t in range(iterations):
      shift = inpainter.jitter_shift(tf.constant(seed, tf.int32), tf.constant(t, tf.int32))
      with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(inpainter.energy_terms(x, lab, known, shift)["energy"])
      grad = tape.gradient(total, x) * free
      moved = known * img + free * tf.clip_by_value(x - mu * grad, -1.0, 1.0)
      gnorm = float(tf.sqrt(tf.reduce_sum(tf.square(moved - x)))) / mu
      if gnorm < inpainter.epsilon:
        break
      x = moved
    out.append(x.numpy()[0])
  return np.stack(out)


def classifier_iteration_flops(inpainter, batch):
  """FLOPs of one descent iteration (energy, gradient, update) for a batch."""
  h, w, c = inpainter.image_shape
  mu = inpainter.step_size

  @tf.function
  def one(x, image, known, label):
    with tf.GradientTape() as tape:
      tape.watch(x)
      total = tf.reduce_sum(inpainter.energy_terms(x, label, known)["energy"])
    grad = tape.gradient(total, x) * (1.0 - known)
    return known * image + (1.0 - known) * tf.clip_by_value(x - mu * grad, -1.0, 1.0)

  spec = tf.TensorSpec([batch, h, w, c], tf.float32)
  concrete = one.get_concrete_function(spec, spec, tf.TensorSpec([batch, h, w, 1], tf.float32),
                                       tf.TensorSpec([batch], tf.int32))
  return count_flops(concrete)


def bench_classifier(inpainter, *, images=32, iterations=100, ref_images=2, ref_iterations=20,
                     seed=0):
  """Batched ClassifierInpainter.inpaint vs the per-image eager reference.

  Returns (rows, max_abs_diff): the difference between the batched module and
  the reference on the reference's images and iteration count.
  """
  x, m = sample_batch(images, inpainter.image_shape, seed)
  labels = (np.arange(images) % inpainter.num_classes).astype(np.int32)

  def args(n, t):
    return (tf.constant(x[:n]), tf.constant(m[:n]), tf.constant(labels[:n]),
            tf.constant(t, tf.int32), tf.constant(seed, tf.int32))

  inpainter.inpaint(*args(images, 1))  # trace once (iterations is a tensor: no retrace)
  batched, _ = timed(lambda: inpainter.inpaint(*args(images, iterations)))
  ref, theirs = timed(lambda: classifier_reference(
      inpainter, x[:ref_images], m[:ref_images], labels[:ref_images], ref_iterations, seed))
  ours = inpainter.inpaint(*args(ref_images, ref_iterations))["inpainted"].numpy()
  diff = float(np.abs(ours - theirs).max())
  flops = classifier_iteration_flops(inpainter, images)
  h, w, c = inpainter.image_shape
  return _pair(f"classifier {h}x{w}x{c}", images, iterations, batched, flops, ref_images,
               ref_iterations, ref), diff


# ----------------------------------------------------------------------------- semantic (000)


def semantic_reference(module, image, mask, iterations, seed=0):
  """Per-image eager loop with the arithmetic of SemanticInpainter._inpaint (no blending).

  Same starts (stateless from seed), loss (module.loss_terms), Nesterov step,
  clipping to [-1, 1], per-start stopping and best-start choice.
  """
  from tfinpaint.inpainting import losses, optimizers  # pylint: disable=g-import-not-at-top
  s = module.num_starts
  z0 = tf.random.stateless_uniform([s, module.z_dim], tf.stack([tf.constant(seed), 0]), -1.0,
                                   1.0)
  out = []
  for i in range(len(image)):
    img = tf.repeat(tf.constant(image[i:i + 1]), s, axis=0)
    msk = tf.repeat(tf.constant(mask[i:i + 1]), s, axis=0)
    weights = losses.context_weights(msk, module.context_window)
    z, v = z0, tf.zeros_like(z0)
    done = tf.zeros([s], tf.bool)
    for _ in range(iterations):
      with tf.GradientTape() as tape:
        tape.watch(z)
        objective, _, _ = module.loss_terms(z, img, msk, weights)
        total = tf.reduce_sum(objective)
      grad = tape.gradient(total, z)
      done = tf.logical_or(done, tf.norm(grad, axis=1) < module.epsilon)
      if bool(tf.reduce_all(done)):
        break
      z_new, v_new = optimizers.nesterov_step(z, v, grad, module.learning_rate, module.momentum)
      z_new = tf.clip_by_value(z_new, -1.0, 1.0)
      move = tf.logical_not(done)[:, None]
      z, v = tf.where(move, z_new, z), tf.where(move, v_new, v)
    objective, _, g = module.loss_terms(z, img, msk, weights)
    best = int(tf.argmin(objective))
    filled = msk[best] * img[best] + (1.0 - msk[best]) * g[best]
    out.append(tf.clip_by_value(filled, -1.0, 1.0).numpy())
  return np.stack(out)


def semantic_iteration_flops(module, batch):
  """FLOPs of one latent update (loss, gradient, Nesterov step) for batch x num_starts rows."""
  from tfinpaint.inpainting import optimizers  # pylint: disable=g-import-not-at-top
  h, w, c = module.image_shape
  rows = batch * module.num_starts

  @tf.function
  def one(z, v, image, mask, weights):
    with tf.GradientTape() as tape:
      tape.watch(z)
      objective, _, _ = module.loss_terms(z, image, mask, weights)
      total = tf.reduce_sum(objective)
    grad = tape.gradient(total, z)
    z_new, v_new = optimizers.nesterov_step(z, v, grad, module.learning_rate, module.momentum)
    return tf.clip_by_value(z_new, -1.0, 1.0), v_new

  zspec = tf.TensorSpec([rows, module.z_dim], tf.float32)
  ispec = tf.TensorSpec([rows, h, w, c], tf.float32)
  mspec = tf.TensorSpec([rows, h, w, 1], tf.float32)
  return count_flops(one.get_concrete_function(zspec, zspec, ispec, mspec, mspec))


def bench_semantic(module, *, images=8, iterations=10, ref_images=2, ref_iterations=5,
                   parity_iterations=2, seed=0):
  """Batched SemanticInpainter.inpaint (blend=False) vs the per-image eager reference.

  Returns (rows, max_abs_diff) with the difference after `parity_iterations`.
  """
  x, m = sample_batch(images, module.image_shape, seed)

  def args(n, t):
    return (tf.constant(x[:n]), tf.constant(m[:n]), tf.constant(t, tf.int32),
            tf.constant(seed, tf.int32))

  module.inpaint(*args(images, 1))
  batched, _ = timed(lambda: module.inpaint(*args(images, iterations)))
  ref, _ = timed(lambda: semantic_reference(module, x[:ref_images], m[:ref_images],
                                            ref_iterations, seed))
  # Same arithmetic, checked over a few iterations: the paper's 1e5-1e7 loss weights amplify
  # float32 rounding (batch-size dependent conv kernels) over many Nesterov steps.
  ours = module.inpaint(*args(ref_images, parity_iterations))["inpainted"].numpy()
  theirs = semantic_reference(module, x[:ref_images], m[:ref_images], parity_iterations, seed)
  diff = float(np.abs(ours - theirs).max())
  flops = semantic_iteration_flops(module, images)
  h, w, c = module.image_shape
  return _pair(f"semantic {module.preset} {h}x{w}x{c}, {module.num_starts} starts", images,
               iterations, batched, flops, ref_images, ref_iterations, ref), diff


def _pair(name, images, iterations, seconds, flops_per_iteration, ref_images, ref_iterations,
          ref_seconds):
  """The two table rows of one benchmark: batched (with its GFLOP/s) and its reference."""
  return [Row(name, "batched tf.while_loop", images, iterations, seconds,
              flops_per_iteration * iterations / seconds / 1e9),
          Row(name, "per-image eager loop", ref_images, ref_iterations, ref_seconds, None,
              "reference")]


# ----------------------------------------------------------------------------- table


def markdown(rows):
  """The benchmark table: rate, speed-up over the reference of the same benchmark, GFLOP/s."""
  refs = {r.benchmark: r.rate for r in rows if r.note == "reference"}
  lines = ["| benchmark | variant | images | iterations | seconds | images x it / s | speed-up "
           "| GFLOP/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
  for r in rows:
    ref = refs.get(r.benchmark)
    speed = f"{r.rate / ref:.1f}x" if ref and r.note != "reference" else (
        "1.0x" if r.note == "reference" else "")
    gflops = "" if r.gflops is None else f"{r.gflops:.2f}"
    rate = "" if r.iterations == 0 else f"{r.rate:.1f}"
    lines.append(f"| {r.benchmark} | {r.variant} | {r.images or ''} | {r.iterations or ''} | "
                 f"{r.seconds:.3f} | {rate} | {speed} | {gflops} |")
  return "\n".join(lines)
