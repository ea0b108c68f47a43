"""In-graph Poisson blending against a direct sparse solve of the same discrete equation."""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from tfinpaint.inpainting.blending import poisson_blend


def _direct_solve(g, f, m):
  """Perez et al. Eq. 7, one image [H, W, C]: 4-neighbours inside the image only (Neumann)."""
  h, w, c = g.shape
  hole = m[..., 0] < 0.5
  points = np.argwhere(hole)
  index = -np.ones((h, w), int)
  index[hole] = np.arange(len(points))
  a = sp.lil_matrix((len(points), len(points)))
  rhs = np.zeros((len(points), c))
  for k, (y, x) in enumerate(points):
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
      yy, xx = y + dy, x + dx
      if not (0 <= yy < h and 0 <= xx < w):
        continue
      a[k, k] += 1.0
      rhs[k] += g[y, x] - g[yy, xx]
      if hole[yy, xx]:
        a[k, index[yy, xx]] -= 1.0
      else:
        rhs[k] += f[yy, xx]
  out = f.astype(np.float64).copy()
  out[hole] = spl.spsolve(a.tocsc(), rhs).reshape(len(points), c)
  return out


def _images(rng, n, size, c=3):
  g = rng.uniform(-1, 1, (n, size, size, c))
  g = (g + np.roll(g, 1, 1) + np.roll(g, 1, 2)) / 3.0  # some smooth structure
  f = rng.uniform(-1, 1, (n, size, size, c))
  return g.astype(np.float32), f.astype(np.float32)


def _masks(rng, size):
  square = np.ones((size, size, 1), np.float32)
  square[4:12, 4:12] = 0.0  # 8x8 hole inside a 16x16 image
  random = (rng.uniform(size=(size, size, 1)) > 0.6).astype(np.float32)  # irregular holes
  border = np.ones((size, size, 1), np.float32)
  border[:, :10] = 0.0  # hole touching three image borders
  border[0:3, 10:14] = 0.0
  return np.stack([square, random, border])


def test_matches_direct_sparse_solve():
  rng = np.random.default_rng(0)
  g, f = _images(rng, 3, 16)
  m = _masks(rng, 16)
  out = poisson_blend(g, f, m, iterations=300).numpy()
  for i in range(3):
    expected = _direct_solve(g[i].astype(np.float64), f[i].astype(np.float64), m[i])
    assert np.abs(out[i] - expected).max() < 1e-3
    known = m[i, ..., 0] > 0.5
    np.testing.assert_array_equal(out[i][known], f[i][known])


def test_generated_equal_to_image_returns_the_image():
  rng = np.random.default_rng(1)
  _, f = _images(rng, 3, 16)
  m = _masks(rng, 16)
  out = poisson_blend(f, f, m).numpy()
  np.testing.assert_allclose(out, f, atol=1e-6)


def test_constant_offset_is_removed():
  # g = f + 0.3 everywhere: the gradients agree, so the solution is f itself in the hole.
  rng = np.random.default_rng(2)
  _, f = _images(rng, 1, 16)
  m = _masks(rng, 16)[:1]
  out = poisson_blend(f + 0.3, f, m).numpy()
  np.testing.assert_allclose(out, f, atol=1e-4)


def test_hole_without_known_neighbours_keeps_generated():
  rng = np.random.default_rng(3)
  g, f = _images(rng, 1, 8)
  out = poisson_blend(g, f, np.zeros((1, 8, 8, 1), np.float32)).numpy()
  np.testing.assert_allclose(out, g, atol=1e-7)


def test_batch_independence():
  rng = np.random.default_rng(4)
  g, f = _images(rng, 3, 16)
  m = _masks(rng, 16)
  together = poisson_blend(g, f, m).numpy()
  for i in range(3):
    alone = poisson_blend(g[i:i + 1], f[i:i + 1], m[i:i + 1]).numpy()
    np.testing.assert_allclose(alone[0], together[i], atol=1e-6)
