"""tfinpaint.images: every bit depth read at its scale, bad pixels refused, inputs fitted honestly."""

import numpy as np
from PIL import Image
import pytest

from tfinpaint import images
from tfinpaint.errors import InputError


def test_16_bit_png_is_read_at_its_depth(tmp_path):
  noise = np.random.default_rng(0).integers(0, 65536, (20, 24), dtype=np.uint16)
  Image.fromarray(noise).save(tmp_path / "deep.png")
  got = images.read_image(str(tmp_path / "deep.png"))
  assert got.shape == (20, 24, 1)
  np.testing.assert_allclose(got[..., 0], noise / 65535.0, atol=1e-6)


def test_float_tiff_with_nan_or_inf_is_refused_with_its_name(tmp_path):
  good = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
  Image.fromarray(good, mode="F").save(tmp_path / "good.tif")
  np.testing.assert_allclose(images.read_image(str(tmp_path / "good.tif"))[..., 0], good)
  for bad in (np.nan, np.inf):
    arr = good.copy()
    arr[3, 3] = bad
    Image.fromarray(arr, mode="F").save(tmp_path / "bad.tif")
    with pytest.raises(InputError, match="bad.tif contains NaN or Inf"):
      images.read_image(str(tmp_path / "bad.tif"))
  Image.fromarray(good * 300, mode="F").save(tmp_path / "hdr.tif")
  with pytest.raises(InputError, match="outside"):
    images.read_image(str(tmp_path / "hdr.tif"))


def test_fit_resizes_a_little_with_a_note_and_refuses_a_lot():
  rgb = np.random.default_rng(1).uniform(0, 1, (56, 56, 3)).astype(np.float32)
  fitted, note = images.fit(rgb, (28, 28, 1))
  assert fitted.shape == (28, 28, 1) and "grey" in note and "56x56 to 28x28" in note
  photo = np.zeros((512, 512, 3), np.float32)
  with pytest.raises(InputError, match="--resize"):
    images.fit(photo, (28, 28, 1), what="image photo.png")
  with pytest.raises(InputError, match="aspect ratio"):
    images.fit(np.zeros((28, 56, 1), np.float32), (28, 28, 1))
  assert images.fit(photo, (28, 28, 1), force=True)[0].shape == (28, 28, 1)
  same, note = images.fit(np.zeros((28, 28, 1), np.float32), (28, 28, 1))
  assert note is None and same.shape == (28, 28, 1)


def _png_header_only(path, width, height):
  """A small PNG that declares width x height (a "decompression bomb")."""
  import struct, zlib  # pylint: disable=g-import-not-at-top,multiple-imports
  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
      ">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) +
                   chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(100000, 100000), (9000, 9000)])
def test_huge_declared_images_are_refused_before_decoding(tmp_path, width, height):
  _png_header_only(tmp_path / "bomb.png", width, height)
  with pytest.raises(InputError, match="bomb.png .*megapixels"):
    images.read_image(str(tmp_path / "bomb.png"))
  with pytest.raises(InputError, match="mask .*bomb.png"):
    images.read_image(str(tmp_path / "bomb.png"), what="mask")


def test_32_bit_integers_beyond_16_bits_are_refused(tmp_path):
  ok = np.arange(64, dtype=np.int32).reshape(8, 8) * 1000
  Image.fromarray(ok, mode="I").save(tmp_path / "ok.tif")
  np.testing.assert_allclose(images.read_image(str(tmp_path / "ok.tif"))[..., 0], ok / 65535.0,
                             atol=1e-6)
  for bad in (70000, -5):
    arr = ok.copy()
    arr[0, 0] = bad
    Image.fromarray(arr, mode="I").save(tmp_path / "wide.tif")
    with pytest.raises(InputError, match=r"wide.tif has values outside \[0, 65535\]"):
      images.read_image(str(tmp_path / "wide.tif"))


def test_binary_pgm_above_its_declared_maximum_is_refused(tmp_path):
  pixels = np.full((4, 5), 100, np.uint8)
  (tmp_path / "ok.pgm").write_bytes(b"P5\n5 4\n200\n" + pixels.tobytes())
  np.testing.assert_allclose(images.read_image(str(tmp_path / "ok.pgm"))[..., 0], 128 / 255.0)
  pixels[2, 3] = 250
  (tmp_path / "bad.pgm").write_bytes(b"P5\n# a comment\n5 4\n200\n" + pixels.tobytes())
  with pytest.raises(InputError, match="bad.pgm has a sample of 250, above its declared "
                     "maximum 200"):
    images.read_image(str(tmp_path / "bad.pgm"))


def test_exif_orientation_is_applied(tmp_path):
  arr = np.zeros((6, 10), np.uint8)
  arr[0, :] = 255  # the top row is white as stored
  img = Image.fromarray(arr)
  exif = img.getexif()
  exif[0x0112] = 6  # shown rotated 90 degrees clockwise
  img.save(tmp_path / "phone.jpg", exif=exif, quality=100)
  got = images.read_image(str(tmp_path / "phone.jpg"))
  assert got.shape == (10, 6, 1) and images.image_size(str(tmp_path / "phone.jpg")) == (10, 6)
  assert got[:, -1, 0].mean() > 0.9 and got[:, 0, 0].mean() < 0.1  # the top row is now right


@pytest.mark.parametrize("name", ["anim.gif", "pages.tif"])
def test_files_of_several_frames_are_refused(tmp_path, name):
  frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 128, 255)]
  frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
  with pytest.raises(InputError, match=f"{name} holds 3 frames or pages"):
    images.read_image(str(tmp_path / name))
  whole = (tmp_path / name).read_bytes()
  for cut in range(8, len(whole), max(1, len(whole) // 60)):  # damaged: one line, any cut
    (tmp_path / "cut").write_bytes(whole[:cut])
    try:  # a cut that leaves one whole frame is a valid image; anything else is an InputError
      images.read_image(str(tmp_path / "cut"))
    except InputError:
      pass


def test_a_dark_16_bit_pgm_is_read_at_its_depth(tmp_path):
  pixels = np.full((4, 5), 200, ">u2")
  (tmp_path / "dark.pgm").write_bytes(b"P5\n5 4\n65535\n" + pixels.tobytes())
  np.testing.assert_allclose(images.read_image(str(tmp_path / "dark.pgm"))[..., 0],
                             200 / 65535.0, rtol=1e-6)
