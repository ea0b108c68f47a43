"""Measuring helpers that every benchmark uses: a clock, FLOPs from layer shapes, a matmul
reference, a sample batch and the peak memory.

Why a module of its own: bin.benchmark's loops and serving rows and the paper-scale timings
(tfinpaint/paper_scale.py) time things the same way; with the helpers here neither benchmark
imports the other.
"""

import resource
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import masks as masks_lib


def timed(fn, repeats=1):
  """(best wall-clock seconds of `repeats` calls of fn(), last result forced to numpy)."""
  best, out = float("inf"), None
  for _ in range(max(1, repeats)):
    start = time.perf_counter()
    out = tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
    best = min(best, time.perf_counter() - start)
  return best, out


def matmul_gflops(n=1024, repeats=10):
  """GFLOP/s of an n x n float32 tf.matmul (2 n^3 FLOPs), best of `repeats`."""
  a = tf.random.stateless_uniform([n, n], seed=[1, 2])
  b = tf.random.stateless_uniform([n, n], seed=[3, 4])
  mm = tf.function(tf.matmul)
  mm(a, b).numpy()  # warm-up / trace
  seconds, _ = timed(lambda: mm(a, b), repeats)
  return 2.0 * n ** 3 / seconds / 1e9, seconds


def _shape(tensor):
  return tuple(int(d) for d in tensor.shape[1:])


def forward_flops(model, batch):
  """Multiply-adds x 2 of one forward pass of `model` on `batch` inputs, from its layer shapes.

  Counts the dense and convolution layers (Conv2D, Conv2DTranspose, Dense), which carry all
  but a few percent of the arithmetic of these networks; element-wise layers, pooling and
  normalisation are left out. Nested models are counted through their layers.
  """
  total = 0
  for layer in model.layers:
    if isinstance(layer, keras.Model):
      total += forward_flops(layer, 1)
      continue
    if isinstance(layer, keras.layers.Conv2DTranspose):
      h, w, cin = _shape(layer.input)
      kh, kw = layer.kernel_size
      total += 2 * h * w * cin * kh * kw * layer.filters
    elif isinstance(layer, keras.layers.Conv2D):
      h, w, cout = _shape(layer.output)
      kh, kw = layer.kernel_size
      cin = _shape(layer.input)[-1] // layer.groups
      total += 2 * h * w * cout * kh * kw * cin
    elif isinstance(layer, keras.layers.Dense):
      out_shape = _shape(layer.output)
      cin = _shape(layer.input)[-1]
      total += 2 * int(np.prod(out_shape)) * cin
  return int(total) * int(batch)


def sample_batch(n, shape, seed=0):
  """n smooth random images in [-1, 1] with `center` masks (speed does not depend on content)."""
  h, w, c = shape
  rng = np.random.default_rng(seed)
  low = rng.uniform(-1, 1, (n, max(2, h // 4), max(2, w // 4), c)).astype(np.float32)
  images = tf.image.resize(low, (h, w)).numpy().clip(-1, 1)
  return images, masks_lib.make("center", n, h, w)


def peak_rss_mb():
  """Peak resident memory of this process so far, MiB."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
