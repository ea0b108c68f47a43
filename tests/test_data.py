"""Tests for tfinpaint.data: every source, splits, preprocessing, flips, errors, samples."""

import gzip
import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfinpaint import data
from tfinpaint.data import common, idx, tfds_source
from tfinpaint.errors import InputError

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
DIGITS_PNG = "/usr/share/doc/opencv-doc/examples/data/digits.png"


def arrays(ds):
  xs, ys = zip(*ds.batch(1000).as_numpy_iterator())
  return np.concatenate(xs), np.concatenate(ys)


def check_contract(ds, size, channels):
  spec = ds.element_spec
  assert spec[0].shape == (size, size, channels) and spec[0].dtype == tf.float32
  assert spec[1].shape == () and spec[1].dtype == tf.int32


# ---------------------------------------------------------------- synthetic


def test_synthetic_shapes_range_and_info():
  ds, info = data.load("synthetic", "train")
  check_contract(ds, 28, 1)
  x, y = arrays(ds)
  assert x.shape == (500, 28, 28, 1) and info.num_examples == 500
  assert info.num_classes == 10 and len(info.class_names) == 10
  assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() < -0.99 and x.max() > 0.5
  assert np.bincount(y).tolist() == [50] * 10


def test_synthetic_class_is_recoverable_from_pixels():
  xtr, ytr = arrays(data.load("synthetic", "train", image_size=16)[0])
  xte, yte = arrays(data.load("synthetic", "test", image_size=16)[0])
  means = np.stack([xtr[ytr == k].mean(0).ravel() for k in range(10)])
  dist = ((xte.reshape(len(xte), -1)[:, None, :] - means[None]) ** 2).sum(-1)
  assert (dist.argmin(1) == yte).mean() >= 0.95


def test_synthetic_is_deterministic_and_splits_disjoint():
  a, ya = arrays(data.load("synthetic", "test")[0])
  b, yb = arrays(data.load("synthetic", "test")[0])
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(ya, yb)
  train, _ = arrays(data.load("synthetic", "train")[0])
  train_keys = {t.tobytes() for t in train}
  assert not any(t.tobytes() in train_keys for t in a)


def test_synthetic_rgb_and_size():
  ds, _ = data.load("synthetic", "test", image_size=40, channels=3)
  check_contract(ds, 40, 3)
  x, _ = arrays(ds)
  np.testing.assert_array_equal(x[..., 0], x[..., 2])  # Grey source repeated to RGB.


# ------------------------------------------------------------ preprocessing


def test_preprocess_uint8_is_exact_and_rgb_to_grey_uses_601_weights():
  pixels = np.arange(0, 256, 4, dtype=np.uint8).reshape(8, 8, 1)
  out = common.preprocess(pixels, 8, 1).numpy()
  np.testing.assert_allclose(out, pixels / 255.0 * 2 - 1, atol=1e-6)
  rgb = np.zeros((4, 4, 4), np.uint8)
  rgb[..., 0], rgb[..., 3] = 255, 7  # Pure red with an alpha channel.
  grey = common.preprocess(rgb, 4, 1).numpy()
  np.testing.assert_allclose(grey, 0.2989 * 2 - 1, atol=2e-3)


def test_preprocess_resizes_to_square():
  img = np.full((30, 50, 3), 0.5, np.float32)
  out = common.preprocess(img, 12, 3).numpy()
  assert out.shape == (12, 12, 3)
  np.testing.assert_allclose(out, 0.0, atol=1e-5)


# -------------------------------------------------------------------- flips


def test_flip_is_seeded_mirror_only_and_rerandomised_per_epoch():
  plain, yp = arrays(data.load("synthetic", "test")[0])
  a, ya = arrays(data.load("synthetic", "test", flip=True, seed=3)[0])
  b, _ = arrays(data.load("synthetic", "test", flip=True, seed=3)[0])
  c, _ = arrays(data.load("synthetic", "test", flip=True, seed=4)[0])
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(ya, yp)
  flipped = np.array([not np.array_equal(p, q) for p, q in zip(plain, a)])
  np.testing.assert_array_equal(a[flipped], plain[flipped][:, :, ::-1])
  assert 20 < flipped.sum() < 80
  assert not np.array_equal(a, c)
  ds, _ = data.load("synthetic", "test", flip=True, seed=3)
  two, _ = arrays(ds.repeat(2))
  np.testing.assert_array_equal(two[:100], a)
  assert not np.array_equal(two[100:], a)


# ---------------------------------------------------------------------- idx


def write_idx(path, array, gz=False, magic=None, count=None):
  array = np.asarray(array, np.uint8)
  shape = list(array.shape)
  if count is not None:
    shape[0] = count
  header = bytes([0, 0, 8, array.ndim]) if magic is None else magic
  body = header + struct.pack(f">{array.ndim}I", *shape) + array.tobytes()
  with (gzip.open if gz else open)(path, "wb") as f:
    f.write(body)


def make_idx_dir(root, gz):
  rng = np.random.default_rng(0)
  imgs = {"train": rng.integers(0, 256, (7, 5, 6)), "t10k": rng.integers(0, 256, (3, 5, 6))}
  labels = {"train": [0, 1, 2, 3, 0, 1, 2], "t10k": [4, 0, 1]}
  ext = ".gz" if gz else ""
  for prefix in ("train", "t10k"):
    write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", imgs[prefix], gz)
    write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels[prefix], gz)
  return imgs, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reads_exact_pixels_and_labels(tmp_path, gz):
  imgs, labels = make_idx_dir(tmp_path, gz)
  ds, info = data.load(f"idx:{tmp_path}", "test", image_size=5)
  x, y = arrays(ds)
  assert x.shape == (3, 5, 5, 1) and y.tolist() == labels["t10k"]
  assert info == data.DatasetInfo(5, ("0", "1", "2", "3", "4"), 3)  # Classes from both splits.
  assert arrays(data.load(f"idx:{tmp_path}", "train")[0])[1].tolist() == labels["train"]
  # The 5x6 images get resized by load(); the raw source must hold the exact bytes.
  raw, _ = idx.load(str(tmp_path), "train")
  got = np.stack([p for p, _ in raw.as_numpy_iterator()])
  np.testing.assert_array_equal(got[..., 0], imgs["train"])


def test_idx_square_values_map_exactly(tmp_path):
  pixels = np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256
  for prefix in ("train", "t10k"):
    write_idx(tmp_path / f"{prefix}-images.idx3-ubyte", pixels)  # Dot spelling.
    write_idx(tmp_path / f"{prefix}-labels.idx1-ubyte", [1, 0])
  (tmp_path / "class_names.txt").write_text("cat\ndog\n")
  ds, info = data.load(f"idx:{tmp_path}", "train")
  x, _ = arrays(ds)
  np.testing.assert_allclose(x[..., 0], pixels / 255.0 * 2 - 1, atol=1e-6)
  assert info.class_names == ("cat", "dog")


@pytest.mark.parametrize("breakage, message", [
    ("magic", "bad magic"), ("truncated", "truncated"), ("count", "labels"),
    ("missing", "no t10k-labels"), ("badgz", "cannot read idx"), ("dtype", "element type"),
])
def test_idx_corrupt_files_raise_input_error(tmp_path, breakage, message):
  make_idx_dir(tmp_path, gz=False)
  images_path = tmp_path / "t10k-images-idx3-ubyte"
  labels_path = tmp_path / "t10k-labels-idx1-ubyte"
  if breakage == "magic":
    images_path.write_bytes(b"\x01\x02" + images_path.read_bytes()[2:])
  elif breakage == "truncated":
    images_path.write_bytes(images_path.read_bytes()[:-7])
  elif breakage == "count":
    write_idx(labels_path, [1, 2])
  elif breakage == "missing":
    labels_path.unlink()
  elif breakage == "badgz":
    images_path.unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 3)
  elif breakage == "dtype":
    write_idx(images_path, np.zeros((3, 5, 6)), magic=bytes([0, 0, 0x0D, 3]))
  with pytest.raises(InputError, match=message):
    data.load(f"idx:{tmp_path}", "test")


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason="Fashion-MNIST not installed")
def test_real_fashion_mnist_test_split():
  ds, info = data.load(f"idx:{FASHION_DIR}", "test")
  assert info.num_classes == 10 and info.num_examples == 10000
  x, y = arrays(ds)
  assert x.shape == (10000, 28, 28, 1) and np.bincount(y).tolist() == [1000] * 10
  assert x.min() == -1.0 and x.max() == 1.0
  samples, labels = data.sample_images("fashion")
  names = sorted(os.listdir(os.path.join(data.SAMPLES_DIR, "fashion")),
                 key=lambda n: tuple(int(p) for p in n[:-4].split("_")))
  for name, image, label in zip(names, samples, labels):
    index = int(name[:-4].split("_")[1])
    assert y[index] == label
    np.testing.assert_allclose(image, x[index], atol=1e-6)


# ------------------------------------------------------------------- folder


def write_pgm(path, value, shape=(12, 10)):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full(shape, value, np.uint8), "L").save(path, "PPM")  # Binary PGM (P5).


def make_yale(root, per_person=12):
  for person in (1, 2, 3):
    d = root / f"yaleB{person:02d}"
    for k in range(per_person):
      write_pgm(d / f"yaleB{person:02d}_P00A+{k:03d}E+00.pgm", 20 * person + k)
    write_pgm(d / f"yaleB{person:02d}_P00_Ambient.pgm", 255)
    write_pgm(d / f"yaleB{person:02d}_P00A-005E+10.pgm.bad", 255)
    (d / "notes.info").write_text("not an image")
  return per_person


def test_folder_yale_layout_skips_ambient_and_bad_and_splits_by_hash(tmp_path):
  per_person = make_yale(tmp_path)
  (tmp_path / "empty_dir_file.txt").write_text("x")
  parts = {}
  for split in ("train", "test"):
    ds, info = data.load(f"folder:{tmp_path}", split, image_size=12)
    check_contract(ds, 12, 1)
    x, y = arrays(ds)
    assert info.class_names == ("yaleB01", "yaleB02", "yaleB03")
    assert info.num_examples == len(y)
    assert x.max() < 1.0  # 255-valued Ambient/.bad files were skipped.
    # Each file is one constant grey level 20 * person + k: recover the identity.
    values = np.round((x[:, 0, 0, 0] + 1) / 2 * 255).astype(int)
    np.testing.assert_allclose(x, ((values / 255 * 2 - 1)[:, None, None, None]) * np.ones_like(x),
                               atol=1e-5)
    parts[split] = {(int(v) // 20, int(v) % 20) for v in values}
    assert [p - 1 for p, _ in sorted(parts[split])] == sorted(y.tolist())
  assert not parts["train"] & parts["test"]
  assert len(parts["train"]) + len(parts["test"]) == 3 * per_person
  expected_test = {(p, k) for p in (1, 2, 3) for k in range(per_person)
                   if zlib.crc32(f"yaleB{p:02d}/yaleB{p:02d}_P00A+{k:03d}E+00.pgm".encode())
                   % 100 < 20}
  assert parts["test"] == expected_test


def test_folder_split_is_stable_when_files_are_added(tmp_path):
  def test_levels():
    x, _ = arrays(data.load(f"folder:{tmp_path}", "test")[0])
    return sorted(np.round((x[:, 0, 0, 0] + 1) / 2 * 255).astype(int).tolist())

  make_yale(tmp_path)
  before = test_levels()
  for k in range(40):
    write_pgm(tmp_path / "yaleB01" / f"extra{k}.pgm", 1)  # Grey level 1 marks new files.
  after = test_levels()
  assert [v for v in after if v != 1] == before and 1 in after


def test_folder_presplit_rgb_cars_layout(tmp_path):
  for split, colour in (("train", (255, 0, 0)), ("test", (0, 0, 255))):
    for cls in ("Audi A4", "BMW M3"):
      d = tmp_path / split / cls
      d.mkdir(parents=True)
      for k in range(2):
        Image.new("RGB", (30, 20), colour).save(d / f"{k:05d}.jpg", quality=100)
  ds, info = data.load(f"folder:{tmp_path}", "test", image_size=16, channels=3)
  x, y = arrays(ds)
  assert info == data.DatasetInfo(2, ("Audi A4", "BMW M3"), 4)
  assert y.tolist() == [0, 0, 1, 1] and x.shape == (4, 16, 16, 3)
  np.testing.assert_allclose(x.mean((0, 1, 2)), [-1, -1, 1], atol=0.03)


def test_folder_errors(tmp_path):
  with pytest.raises(InputError, match="not found"):
    data.load(f"folder:{tmp_path / 'nope'}")
  with pytest.raises(InputError, match="no class sub-folders"):
    data.load(f"folder:{tmp_path}")
  (tmp_path / "a").mkdir()
  with pytest.raises(InputError, match="no image files"):
    data.load(f"folder:{tmp_path}")
  make_yale(tmp_path / "b")
  (tmp_path / "b" / "yaleB01" / "yaleB01_P00A+000E+00.pgm").write_bytes(b"P5 garbage")
  with pytest.raises(InputError, match="cannot read image .*yaleB01_P00A"):
    for split in ("train", "test"):
      data.load(f"folder:{tmp_path / 'b'}", split)


# -------------------------------------------------------------------- sheet


def test_sheet_layout_labels_and_split_without_framing(tmp_path):
  cell, per_class = 4, 12  # 3 classes, 36 cells, laid out 4 rows x 9 columns.
  sheet_img = np.zeros((4 * cell, 9 * cell), np.uint8)
  for i in range(36):
    r, c = divmod(i, 9)
    sheet_img[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = 5 * i + 3
  Image.fromarray(sheet_img).save(tmp_path / "s.png")
  seen = {}
  for split in ("train", "test"):
    ds, info = data.load(f"sheet:{tmp_path}/s.png?cell=4&per_class=12&frame=none", split,
                         image_size=4)
    x, y = arrays(ds)
    idx = (np.round((x[:, 0, 0, 0] + 1) / 2 * 255).astype(int) - 3) // 5
    assert info.num_classes == 3 and info.num_examples == len(y)
    np.testing.assert_array_equal(y, idx // per_class)
    seen[split] = idx.tolist()
  assert seen["test"] == [0, 10, 12, 22, 24, 34]
  assert sorted(seen["train"] + seen["test"]) == list(range(36))


def test_sheet_mnist_framing_of_a_rectangle(tmp_path):
  sheet_img = np.zeros((20, 40), np.uint8)
  sheet_img[3:13, 2:7] = 255  # Cell 0: a 10 tall x 5 wide bar, off centre.
  sheet_img[5:7, 30:38] = 255  # Cell 1: a 2 tall x 8 wide bar.
  Image.fromarray(sheet_img).save(tmp_path / "s.png")
  x, y = arrays(data.load(f"sheet:{tmp_path}/s.png?cell=20&per_class=1", "test")[0])
  assert y.tolist() == [0, 1]
  # 10x5 -> 20x10, centre of mass (9.5, 4.5) moved to (13.5, 13.5): rows 4..23, cols 9..18.
  want = -np.ones((28, 28))
  want[4:24, 9:19] = 1
  np.testing.assert_allclose(x[0, ..., 0], want, atol=1e-5)
  # 2x8 -> 5x20, centre of mass (2, 9.5): 5 rows around row 13.5, cols 4..23.
  ink = x[1, ..., 0] > 0
  rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
  assert cols.tolist() == list(range(4, 24)) and len(rows) == 5 and abs(rows.mean() - 13.5) <= 0.5


def test_sheet_errors(tmp_path):
  Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "s.png")
  with pytest.raises(InputError, match="whole number of 20x20"):
    data.load(f"sheet:{tmp_path}/s.png")
  with pytest.raises(InputError, match="whole number of classes"):
    data.load(f"sheet:{tmp_path}/s.png?cell=10&per_class=4")
  with pytest.raises(InputError, match="unknown sheet option"):
    data.load(f"sheet:{tmp_path}/s.png?cells=10")
  with pytest.raises(InputError, match="integer"):
    data.load(f"sheet:{tmp_path}/s.png?cell=ten")
  with pytest.raises(InputError, match="not found"):
    data.load(f"sheet:{tmp_path}/missing.png")
  (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
  with pytest.raises(InputError, match="cannot read image"):
    data.load(f"sheet:{tmp_path}/bad.png")


@pytest.mark.skipif(not os.path.isfile(DIGITS_PNG), reason="opencv digits.png not installed")
def test_real_digits_sheet():
  train, info = data.load(f"sheet:{DIGITS_PNG}", "train")
  test, test_info = data.load(f"sheet:{DIGITS_PNG}", "test")
  assert info.num_classes == 10 and info.num_examples == 4500 and test_info.num_examples == 500
  x, y = arrays(test)
  assert np.bincount(y).tolist() == [50] * 10
  ink = (x[..., 0] + 1) / 2
  mass = ink.sum((1, 2))
  cy = (ink.sum(2) * np.arange(28)).sum(1) / mass
  cx = (ink.sum(1) * np.arange(28)).sum(1) / mass
  assert np.abs(cy - 13.5).max() <= 1.0 and np.abs(cx - 13.5).max() <= 1.0
  inked = ink > 0.1
  extent = np.maximum(inked.any(2).sum(1), inked.any(1).sum(1))
  assert extent.min() >= 18 and extent.max() == 20  # Scaled into the 20x20 box.
  samples, labels = data.sample_images("digits")
  for name, image, label in zip(sorted(os.listdir(os.path.join(data.SAMPLES_DIR, "digits")),
                                       key=lambda n: tuple(int(p) for p in n[:-4].split("_"))),
                                samples, labels):
    index = int(name[:-4].split("_")[1])
    assert y[index] == label
    np.testing.assert_allclose(image, x[index], atol=1.01 / 255 * 2)


# --------------------------------------------------------------------- tfds


@pytest.fixture()
def tfds_mod(monkeypatch):
  # Mocked builders are "not prepared": pretend the download host is reachable (the offline
  # case has its own test below).
  monkeypatch.setattr(tfds_source, "reachable", lambda host: True)
  return pytest.importorskip("tensorflow_datasets")


@pytest.mark.parametrize("name, first_class", [("mnist", "0"), ("fashion_mnist", "T-shirt/top")])
def test_tfds_mnist_like_mocked(tfds_mod, tmp_path, name, first_class):
  with tfds_mod.testing.mock_data(num_examples=4, policy=tfds_mod.testing.MockPolicy.USE_CODE):
    ds, info = data.load(f"tfds:{name}", "test", image_size=32, data_dir=str(tmp_path))
    check_contract(ds, 32, 1)
    x, y = arrays(ds)
  assert x.shape == (4, 32, 32, 1) and x.min() >= -1 and x.max() <= 1
  assert info.num_classes == 10 and info.class_names[0] == first_class
  assert ((0 <= y) & (y < 10)).all()


def test_tfds_cars196_crops_to_bbox(tfds_mod, tmp_path):
  def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
    del self, split, decoders, read_config, kwargs
    img = np.zeros((40, 60, 3), np.uint8)
    img[10:30, 15:45] = (255, 128, 0)
    boxes = np.float32([[0.25, 0.25, 0.75, 0.75], [0.75, 0.75, 0.25, 0.25]])  # 2nd reversed.
    return tf.data.Dataset.from_tensor_slices({
        "image": np.stack([img, img]), "label": np.int64([5, 195]), "bbox": boxes,
        "id": ["a", "b"]})

  with tfds_mod.testing.mock_data(policy=tfds_mod.testing.MockPolicy.USE_CODE,
                                  as_dataset_fn=as_dataset):
    ds, info = data.load("tfds:cars196", "train", image_size=64, channels=3,
                         data_dir=str(tmp_path), manual_dir=str(tmp_path))
    check_contract(ds, 64, 3)
    x, y = arrays(ds)
  assert info.num_classes == 196 and len(info.class_names) == 196 and y.tolist() == [5, 195]
  want = np.array([1.0, 128 / 255 * 2 - 1, -1.0])
  np.testing.assert_allclose(x, np.broadcast_to(want, x.shape), atol=1e-5)


def test_tfds_cars196_random_mock_has_bbox_and_right_shape(tfds_mod, tmp_path):
  with tfds_mod.testing.mock_data(num_examples=3, policy=tfds_mod.testing.MockPolicy.USE_CODE):
    ds, _ = data.load("tfds:cars196", "test", image_size=64, channels=3, data_dir=str(tmp_path),
                      manual_dir=str(tmp_path))
    x, _ = arrays(ds)
  assert x.shape == (3, 64, 64, 3) and x.min() >= -1 and x.max() <= 1


def test_crop_to_bbox_keeps_partly_covered_pixels():
  img = tf.reshape(tf.range(10 * 10), (10, 10, 1))
  crop = tfds_source.crop_to_bbox(img, tf.constant([0.15, 0.2, 0.5, 0.61]))
  np.testing.assert_array_equal(crop.numpy(), img.numpy()[1:5, 2:7])
  assert tfds_source.crop_to_bbox(img, tf.constant([0.5, 0.5, 0.5, 0.5])).shape == (1, 1, 1)


def test_tfds_failed_prepare_explains_manual_dir(tfds_mod, tmp_path, monkeypatch):
  def fail(self, *args, **kwargs):
    raise ConnectionError("404 for http://ai.stanford.edu/~jkrause/car196/cars_train.tgz")

  monkeypatch.setattr(tfds_mod.core.DatasetBuilder, "download_and_prepare", fail)
  with pytest.raises(InputError) as e:
    data.load("tfds:cars196", data_dir=str(tmp_path))
  message = str(e.value)
  assert "\n" not in message and "--config.data.manual_dir" in message
  for name in tfds_source.CARS196_FILES:
    assert name in message
  with pytest.raises(InputError, match="tfds:mnist could not be downloaded"):
    data.load("tfds:mnist", data_dir=str(tmp_path))


def test_tfds_offline_fails_in_seconds_with_the_fix(tmp_path, monkeypatch):
  import time  # pylint: disable=g-import-not-at-top
  probe = tfds_source.reachable
  monkeypatch.setattr(tfds_source, "reachable", lambda host: False)
  start = time.perf_counter()
  with pytest.raises(InputError, match=r"not prepared .* --config\.data\.data_dir, or pass idx:DIR"):
    data.load("tfds:mnist", data_dir=str(tmp_path))
  with pytest.raises(InputError, match=r"cars196 is not prepared .*--config\.data\.manual_dir"):
    data.load("tfds:cars196", data_dir=str(tmp_path))  # no download attempt without it
  assert time.perf_counter() - start < 10
  assert probe("192.0.2.1", 9) is False  # TEST-NET: unreachable, within the probe's timeout


# ------------------------------------------------------------ errors, samples


@pytest.mark.parametrize("kwargs, message", [
    (dict(spec="imagenet"), "unknown dataset spec"),
    (dict(spec="tfds:"), "unknown dataset spec"),
    (dict(spec="nope:/x"), "unknown dataset spec"),
    (dict(spec="tfds:imagenet2012"), "unknown tfds dataset"),
    (dict(spec="synthetic", split="dev"), "unknown split"),
    (dict(spec="synthetic", channels=2), "channels"),
    (dict(spec="synthetic", image_size=0), "image_size"),
    (dict(spec="idx:/no/such/dir"), "not found"),
])
def test_bad_input_raises_one_line_input_error(kwargs, message):
  with pytest.raises(InputError, match=message) as e:
    data.load(**kwargs)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["digits", "fashion"])
def test_sample_images(name):
  images, labels = data.sample_images(name)
  assert images.shape == (16, 28, 28, 1) and images.dtype == np.float32
  assert labels.dtype == np.int32 and sorted(set(labels.tolist())) == list(range(10))
  assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.3
  with pytest.raises(InputError, match="unknown sample set"):
    data.sample_images("cats")


def test_folder_truncated_image_is_named_at_load_or_skipped(tmp_path, capsys):
  make_yale(tmp_path, per_person=2)
  for person in (1, 2, 3):  # Valid header, missing pixel data: only decoding finds it.
    path = tmp_path / f"yaleB{person:02d}" / f"yaleB{person:02d}_P00A+000E+00.pgm"
    path.write_bytes(path.read_bytes()[:-40])
  counts = {}
  for split in ("train", "test"):
    try:
      data.load(f"folder:{tmp_path}", split)
    except InputError as e:
      assert "cannot read image" in str(e) and "truncated" in str(e) and "_P00A+000E+00.pgm" in str(e)
      assert "--config.data.skip_bad_files=true" in str(e)
      ds, info = data.load(f"folder:{tmp_path}", split, skip_bad=True)
      counts[split] = (len(arrays(ds)[0]), info.num_examples)
  assert counts, "no split held a damaged file"
  assert "skipped" in capsys.readouterr().out
  for n, listed in counts.values():
    assert n == listed
