"""Tests for tfinpaint.masks: coverage, reproducibility and the file convention."""

import numpy as np
import pytest
from PIL import Image

from tfinpaint import masks
from tfinpaint.errors import InputError


def _missing(m):
  return 1.0 - m.mean(axis=(1, 2, 3))


@pytest.mark.parametrize("name", masks.NAMES)
def test_shape_dtype_and_binary(name):
  m = masks.make(name, 3, 28, 20)
  assert m.shape == (3, 28, 20, 1)
  assert m.dtype == np.float32
  assert set(np.unique(m)) <= {0.0, 1.0}


def test_center_is_central_quarter():
  m = masks.make("center", 2, 28, 28)
  expected = np.ones((28, 28), np.float32)
  expected[7:21, 7:21] = 0.0
  np.testing.assert_array_equal(m[0, ..., 0], expected)
  np.testing.assert_array_equal(m[1], m[0])
  assert _missing(m)[0] == 0.25


def test_center_non_square_is_half_height_half_width():
  m = masks.make("center", 1, 64, 32)[0, ..., 0]
  rows, cols = np.nonzero(m == 0)
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 47, 8, 23)
  assert (m == 0).sum() == 64 * 32 // 4


def test_left_half():
  m = masks.make("left", 1, 10, 8)[0, ..., 0]
  assert (m[:, :4] == 0).all() and (m[:, 4:] == 1).all()
  assert (masks.make("left", 1, 5, 5)[0, :, :3, 0] == 0).all()  # Odd widths round up.


def test_random_ratio_and_seed():
  m = masks.make("random", 4, 64, 64, seed=3)
  assert np.allclose(_missing(m), 0.8, atol=0.03)
  m2 = masks.make("random", 4, 64, 64, seed=3, ratio=0.3)
  assert np.allclose(_missing(m2), 0.3, atol=0.03)
  np.testing.assert_array_equal(m, masks.make("random", 4, 64, 64, seed=3))
  assert not np.array_equal(m, masks.make("random", 4, 64, 64, seed=4))
  assert not np.array_equal(m[0], m[1])


@pytest.mark.parametrize("height,width", [(28, 28), (64, 64), (32, 48)])
def test_pattern_coverage_range(height, width):
  m = masks.make("pattern", 25, height, width, seed=7)
  coverage = _missing(m)
  assert coverage.min() >= 0.2 and coverage.max() <= 0.5
  assert coverage.std() > 0.02  # Varies from mask to mask.
  assert len({m[i].tobytes() for i in range(25)}) == 25


def test_pattern_is_blobby_not_noise():
  # Irregular blobs: most hole pixels have hole neighbours, unlike `random`.
  hole = masks.make("pattern", 8, 64, 64, seed=1)[..., 0] == 0
  inner = hole[:, 1:-1, 1:-1]
  neighbours = hole[:, :-2, 1:-1] & hole[:, 2:, 1:-1] & hole[:, 1:-1, :-2] & hole[:, 1:-1, 2:]
  assert (inner & neighbours).sum() / inner.sum() > 0.6


@pytest.mark.parametrize("name", ["random", "pattern"])
def test_mask_i_depends_only_on_seed_and_index(name):
  big = masks.make(name, 5, 32, 32, seed=11)
  small = masks.make(name, 2, 32, 32, seed=11)
  np.testing.assert_array_equal(big[:2], small)
  np.testing.assert_array_equal(big[3], masks.make(name, 4, 32, 32, seed=11)[3])
  assert not np.array_equal(big, masks.make(name, 5, 32, 32, seed=12))


@pytest.mark.parametrize("kwargs", [
    dict(name="square", batch=1, height=8, width=8),
    dict(name="center", batch=0, height=8, width=8),
    dict(name="center", batch=1, height=-1, width=8),
    dict(name="center", batch=1, height=8, width=2.5),
    dict(name="random", batch=1, height=8, width=8, ratio=1.0),
    dict(name="random", batch=1, height=8, width=8, ratio=0.0),
    dict(name="random", batch=1, height=8, width=8, ratio="a"),
    dict(name="random", batch=1, height=8, width=8, seed=-1),
])
def test_make_rejects_bad_input(kwargs):
  with pytest.raises(InputError):
    masks.make(**kwargs)


def test_file_round_trip_and_white_is_fill(tmp_path):
  m = masks.make("pattern", 1, 28, 28, seed=2)[0]
  path = tmp_path / "sub" / "mask.png"
  masks.write_mask_file(str(path), m)
  pixels = np.asarray(Image.open(path))
  np.testing.assert_array_equal(pixels == 255, m[..., 0] == 0)  # White = missing.
  assert set(np.unique(pixels)) == {0, 255}
  back = masks.read_mask_file(str(path), 28, 28)
  assert back.shape == (28, 28, 1) and back.dtype == np.float32
  np.testing.assert_array_equal(back, m)
  assert [p.name for p in path.parent.iterdir()] == ["mask.png"]  # No temp files left.


def test_read_any_nonzero_is_fill_and_resizes_nearest(tmp_path):
  arr = np.zeros((4, 4, 3), np.uint8)
  arr[0, 0] = (1, 0, 0)  # Faint colour still means "fill".
  arr[2:, 2:] = 200
  path = str(tmp_path / "m.png")
  Image.fromarray(arr).save(path)
  m = masks.read_mask_file(path, 4, 4)[..., 0]
  expected = np.ones((4, 4), np.float32)
  expected[0, 0] = 0
  expected[2:, 2:] = 0
  np.testing.assert_array_equal(m, expected)
  big = masks.read_mask_file(path, 8, 8)[..., 0]
  np.testing.assert_array_equal(big, expected.repeat(2, 0).repeat(2, 1))


def test_read_rejects_bad_files(tmp_path):
  with pytest.raises(InputError):
    masks.read_mask_file(str(tmp_path / "missing.png"), 8, 8)
  corrupt = tmp_path / "corrupt.png"
  corrupt.write_bytes(b"not a png")
  with pytest.raises(InputError):
    masks.read_mask_file(str(corrupt), 8, 8)
  black = str(tmp_path / "black.png")
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(black)
  with pytest.raises(InputError, match="no pixel to fill"):
    masks.read_mask_file(black, 8, 8)
  with pytest.raises(InputError):
    masks.read_mask_file(black, 0, 8)


def test_write_rejects_bad_shape(tmp_path):
  with pytest.raises(InputError):
    masks.write_mask_file(str(tmp_path / "m.png"), np.ones((1, 4, 4, 1)))
