"""Large-hole inpainting by optimisation against trained networks.

Conventions shared by every module (see DESIGN.md):
  * images are NHWC float32; inside the package pixels are in [-1, 1],
    at the SavedModel boundary and in files they are [0, 1] / 8-bit PNG;
  * a mask M is [N, H, W, 1] with 1 = known pixel, 0 = missing.
"""

__version__ = "0.1.0"
