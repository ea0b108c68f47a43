"""Image folders with one sub-folder per class (Cropped Extended Yale B, Stanford Cars).

Files are listed once and read lazily in the tf.data pipeline, so a 16k-image
car folder costs no memory up front. Unless the folder already has `train/`
and `test/` sub-folders, the split is a stable hash of each file's relative
path: adding or removing files never moves another file between splits, and
the splits can never overlap. Yale B's `*_Ambient.pgm` (unlit) images and
`*.bad` files are skipped.
"""

import os
import zlib

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from tfinpaint.data.common import DatasetInfo
from tfinpaint.images import read_image
from tfinpaint.errors import InputError

TEST_PERCENT = 20


def is_test(relpath):
  """True for ~20 % of relative paths, fixed forever by the path alone."""
  return zlib.crc32(relpath.replace(os.sep, "/").encode("utf-8")) % 100 < TEST_PERCENT


def image_extensions():
  Image.init()
  return frozenset(ext.lower() for ext in Image.registered_extensions())


def wanted(name, extensions):
  stem, ext = os.path.splitext(name)
  return (not name.startswith(".") and ext.lower() in extensions
          and not stem.endswith("_Ambient"))


def list_classes(root):
  try:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
  except OSError as e:
    raise InputError(f"cannot list {root}: {e}") from None


def list_files(class_dir, extensions):
  found = []
  for parent, dirs, names in os.walk(class_dir):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    found.extend(os.path.join(parent, n) for n in sorted(names) if wanted(n, extensions))
  return found


def unreadable(path):
  """Why `path` cannot be used as an image (None when it decodes): checked before training, so
  a damaged file is named at load time instead of failing mid-run inside the pipeline."""
  try:
    with Image.open(path) as img:
      img.load()
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    return " ".join(str(e).split()) or type(e).__name__
  return None


def load(directory, split, channels, skip_bad=False):
  """Returns (raw dataset of (float [0, 1] [H, W, C], int32 label), DatasetInfo).

  `channels` is what each file is converted to on read (grey PGMs stay grey,
  JPEGs become grey when channels == 1), so all examples agree. Every file is decoded once up
  front: a damaged one is an InputError naming it, or, with skip_bad, left out with a printed
  count.
  """
  if not os.path.isdir(directory):
    raise InputError(f"image folder not found: {directory}")
  extensions = image_extensions()
  top = list_classes(directory)
  presplit = "train" in top and "test" in top
  roots = [os.path.join(directory, s) for s in ("train", "test")] if presplit else [directory]
  classes = sorted(set().union(*(list_classes(r) for r in roots)))
  if not classes:
    raise InputError(f"no class sub-folders in {directory} (want DIR/<class>/<image files>)")
  root = os.path.join(directory, split) if presplit else directory
  paths, labels = [], []
  for label, name in enumerate(classes):
    class_dir = os.path.join(root, name)
    if not os.path.isdir(class_dir):
      continue
    for path in list_files(class_dir, extensions):
      if presplit or is_test(os.path.relpath(path, directory)) == (split == "test"):
        paths.append(path)
        labels.append(label)
  if not paths:
    raise InputError(f"no image files for split {split!r} in {directory}")
  bad = [(i, why) for i, why in enumerate(unreadable(p) for p in paths) if why]
  if bad and not skip_bad:
    i, why = bad[0]
    raise InputError(f"cannot read image {paths[i]}: {why} ({len(bad)} unreadable file(s) in "
                     f"{directory}; --config.data.skip_bad_files=true leaves them out)")
  if bad:
    drop = {i for i, _ in bad}
    print(f"skipped {len(bad)} unreadable image file(s) of {len(paths)} in {directory} "
          f"({split} split)", flush=True)
    paths = [p for i, p in enumerate(paths) if i not in drop]
    labels = [l for i, l in enumerate(labels) if i not in drop]
    if not paths:
      raise InputError(f"no readable image files for split {split!r} in {directory}")

  def read(path):
    return read_image(path.decode("utf-8"), channels=channels)  # decoded once above: no error

  def read_tf(path, label):
    image = tf.numpy_function(read, [path], tf.float32, stateful=False)
    return tf.ensure_shape(image, (None, None, channels)), label

  ds = tf.data.Dataset.from_tensor_slices((np.array(paths), np.array(labels, np.int32)))
  ds = ds.map(read_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds, DatasetInfo(len(classes), tuple(classes), len(paths))
