"""MNIST-format idx files (MNIST, Fashion-MNIST, EMNIST, KMNIST) from a directory.

Reading the files ourselves avoids any download: point `idx:DIR` at the four
files, gzipped or not. The header is checked against the data length so a
truncated or foreign file fails with one clear line instead of garbage
images.
"""

import gzip
import os
import struct
import zlib

import numpy as np
import tensorflow as tf

from tfinpaint.data.common import DatasetInfo
from tfinpaint.errors import InputError

PREFIX = {"train": "train", "test": "t10k"}
NAMES_FILE = "class_names.txt"  # Optional, one name per line.


def find(directory, split, kind):
  """Path of `<prefix>-<kind>-idxN-ubyte[.gz]` (also the `.idxN-ubyte` spelling)."""
  rank = 3 if kind == "images" else 1
  stem = f"{PREFIX[split]}-{kind}"
  for sep in ("-", "."):
    for ext in ("", ".gz"):
      path = os.path.join(directory, f"{stem}{sep}idx{rank}-ubyte{ext}")
      if os.path.isfile(path):
        return path
  raise InputError(f"no {stem}-idx{rank}-ubyte[.gz] in {directory}")


def read_idx(path):
  """Reads an unsigned-byte idx file -> uint8 array with the header's shape."""
  try:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise InputError(f"cannot read idx file {path}: {e}") from None
  if len(data) < 4 or data[0] != 0 or data[1] != 0:
    raise InputError(f"not an idx file (bad magic number): {path}")
  dtype, rank = data[2], data[3]
  if dtype != 0x08:
    raise InputError(f"unsupported idx element type 0x{dtype:02x} (want unsigned bytes): {path}")
  if rank not in (1, 3) or len(data) < 4 + 4 * rank:
    raise InputError(f"idx file has rank {rank}, want 1 (labels) or 3 (images): {path}")
  shape = struct.unpack(f">{rank}I", data[4:4 + 4 * rank])
  body = memoryview(data)[4 + 4 * rank:]
  if len(body) != int(np.prod(shape, dtype=np.int64)):
    raise InputError(f"idx file truncated or padded: header says {shape}, "
                     f"{len(body)} data bytes: {path}")
  return np.frombuffer(body, np.uint8).reshape(shape)


def load(directory, split):
  """Returns (raw dataset of (uint8 [H, W, 1], uint8 label), DatasetInfo)."""
  if not os.path.isdir(directory):
    raise InputError(f"idx directory not found: {directory}")
  pixels = read_idx(find(directory, split, "images"))
  labels = read_idx(find(directory, split, "labels"))
  if pixels.ndim != 3 or labels.ndim != 1:
    raise InputError(f"idx images must have rank 3 and labels rank 1 in {directory}")
  if len(pixels) != len(labels):
    raise InputError(f"{len(pixels)} images but {len(labels)} labels for split {split!r} "
                     f"in {directory}")
  if len(labels) == 0:
    raise InputError(f"split {split!r} in {directory} is empty")
  num_classes = int(labels.max()) + 1
  other = "test" if split == "train" else "train"
  try:  # Both splits' labels are tiny: read both so the class count agrees.
    num_classes = max(num_classes, int(read_idx(find(directory, other, "labels")).max()) + 1)
  except (InputError, ValueError):
    pass
  names_path = os.path.join(directory, NAMES_FILE)
  if os.path.isfile(names_path):
    with open(names_path, encoding="utf-8") as f:
      names = tuple(line.strip() for line in f if line.strip())
    if len(names) < num_classes:
      raise InputError(f"{names_path} names {len(names)} classes, labels need {num_classes}")
    num_classes = len(names)
  else:
    names = tuple(str(i) for i in range(num_classes))
  ds = tf.data.Dataset.from_tensor_slices((pixels[..., None], labels))
  return ds, DatasetInfo(num_classes, names, len(labels))
