"""The pixel-space terms and fills of classifier-guided inpainting (paper 003), per image.

Plain functions of tensors, no weights and no state, as tfinpaint.inpainting.losses is for
paper 000: the masked total variation and its band M_TV (Section 3.2), the black/white
penalty, the dark-pixel mask of the illumination mode (Section 4.4.2) and the harmonic
diffusion fill that starts the descent (Section 3.3). Each returns one value or image per
batch row, so no row ever depends on another. `ClassifierInpainter` weights and combines them.
"""

import numpy as np
import tensorflow as tf

from tfinpaint import images
from tfinpaint import masks as masks_lib


def illumination_mask(image, threshold):
  """Mask for the illumination mode (Section 4.4.2): pixels darker than `threshold` are missing.

  Args:
    image: [N, H, W, C] in [-1, 1] (colour images use the mean over channels).
    threshold: brightness in (0, 1] (0 = black, 1 = white).
  Returns:
    float32 [N, H, W, 1], 1 = known (bright enough), 0 = to inpaint.
  """
  brightness = images.to_unit(tf.reduce_mean(tf.convert_to_tensor(image, tf.float32), axis=-1,
                                             keepdims=True))
  return tf.cast(brightness >= threshold, tf.float32)


def tv_band_mask(mask, width):
  """M_TV: pixels within `width` pixels (Chebyshev distance) of the hole.

  Args:
    mask: [N, H, W, 1], 1 = known.
    width: int (python or int32 scalar tensor); negative = the whole image.
  Returns:
    float32 [N, H, W, 1], 1 = inside M_TV.
  """
  hole = 1.0 - masks_lib.binarize(mask)
  width = tf.convert_to_tensor(width, tf.int32)

  def dilate(_, band):  # one 3x3 max-pool grows the band by one pixel in every direction
    return _ + 1, tf.nn.max_pool2d(band, ksize=3, strides=1, padding="SAME")

  _, band = tf.while_loop(lambda i, _: i < width, dilate, (tf.constant(0), hole))
  return tf.where(width < 0, tf.ones_like(hole), band)


def total_variation(x, band=None):
  """Anisotropic masked TV per image: ||M_TV D_h X||_1 + ||M_TV D_v X||_1 -> [N].

  A difference between two neighbours counts when either of them is in the band (so the
  hole's border is always penalised).
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
    return i + 1, masks_lib.composite(image, avg, known)

  _, x = tf.while_loop(lambda i, x: i < iterations, body, (tf.constant(0), image))
  return x


def diffuse(image, mask, iterations=100, min_size=8):
  """Harmonic fill of the hole from its boundary (initialisation (i) of Section 3.3).

  Coarse-to-fine: the known pixels are averaged down a 2x pyramid until the image is at most
  `min_size` pixels on a side; the coarsest hole starts at the mean of the known pixels (0 when
  nothing is known), and each level is upsampled as the starting point of `iterations` Jacobi
  sweeps at the next finer level. Known pixels are kept exactly; image borders are reflecting.

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
  return _jacobi(masks_lib.composite(image, start, known), known, iterations)
