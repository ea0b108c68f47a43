"""TensorFlow Datasets sources: MNIST, Fashion-MNIST and Stanford Cars (cars196).

tfds does the download and caching; this module only picks the split, crops
Cars196 to the provided bounding box (the semantic-inpainting paper trains
on the car, not the car park) and reports class names. The cars196 source
URLs are dead, so a failed prepare becomes one line telling the user which
archives to fetch by hand for --config.data.manual_dir.
"""

import tensorflow as tf

from tfinpaint.data.common import DatasetInfo
from tfinpaint.errors import InputError

NAMES = ("mnist", "fashion_mnist", "cars196")
HOSTS = {"mnist": "storage.googleapis.com", "fashion_mnist": "storage.googleapis.com",
         "cars196": "ai.stanford.edu"}  # where tfds downloads each from
PROBE_SECONDS = 3.0


def reachable(host, port=443):
  """Whether a TCP connection to host can be opened within PROBE_SECONDS: tfds would otherwise
  spend minutes retrying a download that cannot work (offline machines, closed networks)."""
  import socket  # pylint: disable=g-import-not-at-top
  try:
    with socket.create_connection((host, port), timeout=PROBE_SECONDS):
      return True
  except OSError:
    return False
CARS196_FILES = ("cars_train.tgz", "cars_test.tgz", "car_devkit.tgz",
                 "cars_test_annos_withlabels.mat")


def load(name, split, *, manual_dir=None, data_dir=None):
  """Returns (raw dataset of (uint8 HWC image, int64 label), DatasetInfo)."""
  if name not in NAMES:
    raise InputError(f"unknown tfds dataset {name!r}: expected one of {', '.join(NAMES)}")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(name, data_dir=data_dir)
  where = data_dir or "~/tensorflow_datasets"
  if not builder.is_prepared():
    if name == "cars196" and not manual_dir:
      raise InputError(
          f"tfds:cars196 is not prepared in {where} and its download URLs are dead: download "
          f"{', '.join(CARS196_FILES)} by hand into one folder and pass "
          "--config.data.manual_dir=FOLDER")
    if not manual_dir and not reachable(HOSTS[name]):
      raise InputError(
          f"tfds:{name} is not prepared in {where} and {HOSTS[name]} cannot be reached from "
          f"here: prepare it on a machine with internet (tfds.builder('{name}')."
          "download_and_prepare()) and copy its data folder here with --config.data.data_dir, or pass "
          "idx:DIR with the MNIST-format files")
  config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
  try:
    builder.download_and_prepare(download_config=config)
  except Exception as e:  # pylint: disable=broad-except  # tfds raises many types.
    cause = " ".join(str(e).split())[:300] or type(e).__name__
    if name == "cars196":
      raise InputError(
          "tfds:cars196 could not be prepared (its download URLs are dead): download "
          f"{', '.join(CARS196_FILES)} by hand into one directory and pass "
          f"--config.data.manual_dir=DIR ({type(e).__name__}: {cause})") from None
    raise InputError(f"tfds:{name} could not be downloaded or prepared "
                     f"({type(e).__name__}: {cause})") from None
  ds = builder.as_dataset(split=split, shuffle_files=False)
  if name == "cars196":
    ds = ds.map(lambda ex: (crop_to_bbox(ex["image"], ex["bbox"]), ex["label"]),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  else:
    ds = ds.map(lambda ex: (ex["image"], ex["label"]))
  label = builder.info.features["label"]
  splits = builder.info.splits
  num_examples = splits[split].num_examples if split in splits else None
  return ds, DatasetInfo(label.num_classes, tuple(label.names), num_examples)


def crop_to_bbox(image, bbox):
  """Crops an HWC image to a tfds BBox [ymin, xmin, ymax, xmax] (normalised).

  Pixels partly covered by the box are kept (floor/ceil), coordinates are
  sorted and clipped, and the crop is at least one pixel, so an odd box
  never produces an empty image.
  """
  shape = tf.shape(image)
  h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  bbox = tf.clip_by_value(tf.cast(bbox, tf.float32), 0.0, 1.0)
  y0, y1 = tf.minimum(bbox[0], bbox[2]) * h, tf.maximum(bbox[0], bbox[2]) * h
  x0, x1 = tf.minimum(bbox[1], bbox[3]) * w, tf.maximum(bbox[1], bbox[3]) * w
  y0 = tf.minimum(tf.cast(tf.floor(y0), tf.int32), shape[0] - 1)
  x0 = tf.minimum(tf.cast(tf.floor(x0), tf.int32), shape[1] - 1)
  y1 = tf.maximum(tf.cast(tf.math.ceil(y1), tf.int32), y0 + 1)
  x1 = tf.maximum(tf.cast(tf.math.ceil(x1), tf.int32), x0 + 1)
  return image[y0:y1, x0:x1]
