"""Poisson blending (Perez et al. 2003) inside the graph, batched, core TF ops only.

Why in-graph: the blended composite is the output of an exported SavedModel that TF Serving
runs, so the blend cannot call scipy or pyamg as the reference code does. A conjugate-gradient
solve with a masked 4-neighbour Laplacian needs only pads, slices and reductions.

The discrete problem (Perez et al., Eq. 7) for every hole pixel p (mask = 0), per channel:

    |N_p| x_p - sum_{q in N_p, q in hole} x_q
        = sum_{q in N_p, q known} f_q + sum_{q in N_p} (g_p - g_q)

with f the image (Dirichlet boundary values from the known pixels), g the generated image
(the guidance field is its gradient) and N_p the 4-neighbours of p *inside the image*. Dropping
the neighbours outside the image is the Neumann condition (zero normal derivative, i.e. a
mirrored ghost pixel) at the image border, so holes touching the border are well posed.

We solve for the correction d = x - g, which satisfies the same operator with right-hand side
sum_{q in N_p, q known} (f_q - g_q): d is the membrane that interpolates the colour mismatch
along the hole boundary. If g already equals f on the boundary the correction is exactly zero,
and a hole with no known neighbour at all keeps g unchanged (instead of a singular system).
"""

import tensorflow as tf

from tfinpaint import masks


def _neighbour_sum(u):
  """Sum of the 4 neighbours of every pixel, zero outside the image. u: [N, H, W, C]."""
  p = tf.pad(u, [[0, 0], [1, 1], [1, 1], [0, 0]])
  return p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]


def poisson_blend(generated, image, mask, iterations=500, tolerance=1e-6):
  """Blends the hole of `generated` into `image` with matching gradients.

  Args:
    generated: [N, H, W, C] G(z) (the guidance field).
    image: [N, H, W, C] the image whose known pixels are kept (hole values ignored).
    mask: [N, H, W, 1], 1 = known, 0 = hole (values < 0.5 count as hole).
    iterations: maximum conjugate-gradient iterations (int or int32 scalar tensor); 500 is
      plenty for 64x64 images (a 64x63 hole bounded by one known column needs ~300).
    tolerance: a system (image, channel) stops updating once its residual norm is below
      tolerance * the norm of its right-hand side; the loop ends when every system stopped or
      after `iterations`. Each system's result depends only on its own image.

  Returns:
    [N, H, W, C]: image on known pixels, the Poisson solution in the hole (not clipped).
  """
  generated = tf.convert_to_tensor(generated, tf.float32)
  image = tf.convert_to_tensor(image, tf.float32)
  mask = tf.convert_to_tensor(mask, tf.float32)
  known = masks.binarize(mask)
  hole = 1.0 - known
  count = _neighbour_sum(tf.ones_like(known))  # |N_p|: 4 inside, 3 on edges, 2 at corners.
  known_image = tf.where(known > 0, image, 0.0)

  def apply_a(d):
    return hole * (count * d - _neighbour_sum(hole * d))

  def dot(a, b):
    return tf.reduce_sum(a * b, axis=[1, 2], keepdims=True)  # one per (image, channel)

  b = hole * _neighbour_sum(known * (known_image - generated))
  bb = dot(b, b)
  threshold = tf.square(tf.cast(tolerance, tf.float32)) * bb

  def active_of(rr):
    return tf.cast(rr > threshold, tf.float32)

  def cond(i, d, r, p, rr):
    return tf.logical_and(i < iterations, tf.reduce_any(rr > threshold))

  def body(i, d, r, p, rr):
    active = active_of(rr)
    ap = apply_a(p)
    alpha = active * tf.math.divide_no_nan(rr, dot(p, ap))
    d = d + alpha * p
    r = r - alpha * ap
    rr_new = dot(r, r)
    beta = tf.math.divide_no_nan(rr_new, rr)
    p = tf.where(active > 0, r + beta * p, p)
    rr = tf.where(active > 0, rr_new, rr)
    return i + 1, d, r, p, rr

  d0 = tf.zeros_like(generated)
  _, d, _, _, _ = tf.while_loop(
      cond, body, (tf.constant(0), d0, b, b, bb), maximum_iterations=None)
  return known * known_image + hole * (generated + d)
