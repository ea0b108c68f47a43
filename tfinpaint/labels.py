"""Labels of the user's images for the methods that take them: a labels CSV or file names.

`from_files` gives per-image labels from a CSV of `file,label` rows beside the inputs
(labels.csv) or named by --labels_file, else from a leading "<label>_" in the file name, else
-1 (try every label). The CSV is read strictly: a row that cannot be read is refused with its
line number, never skipped (a skipped row would silently turn a label into -1).
"""

import csv
import io
import os
import re

import numpy as np

from tfinpaint.errors import InputError, printable

LABELS_FILE = "labels.csv"
LOW, HIGH = -1, 10**6  # the labels a user may give (-1: try every label)
HEADER_WORDS = ("label", "labels", "class", "category", "target")  # a header row's 2nd cell


def _looks_like_a_file(text):
  return bool(os.path.splitext(text)[1])


def _label_value(text):
  """An integer label from its text ("3", "+3", "-1", "3.0"), or None if it is not one."""
  match = re.fullmatch(r"\s*([+-]?[0-9]+)(?:\.0*)?\s*", text)
  return int(match.group(1)) if match else None


def read_file(path):
  """{file name: label} of a labels CSV: rows `file,label` (a header row is allowed).

  Read with the csv module: UTF-8 with or without a BOM, and the delimiter sniffed among ",",
  ";", tab and "|". A row that is not `file,label` with an integer label in
  [LOW, HIGH], or a file given two labels, is refused with its line number: nothing is ignored.
  """
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except IsADirectoryError:
    raise InputError(f"labels file {printable(path)} is a folder") from None
  except OSError as e:
    raise InputError(f"cannot read labels file {printable(path)}: {e.strerror}") from None
  shown = printable(path)
  if b"\0" in raw[:65536]:
    raise InputError(f"labels file {shown} is not a text file (expected CSV rows file,label)")
  try:
    text = raw.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b"\n") + 1
    raise InputError(f"labels file {shown} is not UTF-8 text (line {line}); save it as "
                     "UTF-8") from None
  try:
    dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
  except csv.Error:
    dialect = csv.excel
  low, high = LOW, HIGH
  table, first = {}, True
  try:
    rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
  except csv.Error as e:
    raise InputError(f"labels file {shown} is not CSV: {e}") from None
  for line, row in enumerate(rows, 1):
    cells = [c.strip() for c in row]
    if not any(cells):
      continue
    header, first = first, False
    if len(cells) < 2 or not cells[0]:
      raise InputError(f"labels file {shown} line {line}: expected file,label, got "
                       f"{printable(','.join(row))!r}")
    label = _label_value(cells[1])
    if label is None:
      if header and not _looks_like_a_file(cells[0]) and cells[1].lower() in HEADER_WORDS:
        continue  # a header row such as "file,label"
      raise InputError(f"labels file {shown} line {line}: label {printable(cells[1])!r} is not "
                       "an integer")
    if not low <= label <= high:
      raise InputError(f"labels file {shown} line {line}: label {label} is outside "
                       f"[{low}, {high}]")
    name = os.path.basename(cells[0])
    if table.get(name, label) != label:
      raise InputError(f"labels file {shown} line {line}: {printable(name)} has two labels, "
                       f"{table[name]} and {label}")
    table[name] = label
  if not table:
    raise InputError(f"labels file {shown} has no file,label row")
  return table


def from_files(paths, labels_file=None):
  """Per-image labels from a CSV (file,label) or a leading "<label>_" in the file name.

  Returns (int32 [N] with -1 where unknown, a note naming the source) or (None, None).
  """
  table = {}
  csv_path = labels_file
  if csv_path is None and paths:
    candidate = os.path.join(os.path.dirname(paths[0]), LABELS_FILE)
    csv_path = candidate if os.path.isfile(candidate) else None
  if csv_path is not None:
    table = read_file(csv_path)
  low, high = LOW, HIGH
  labels = []
  for p in paths:
    name = os.path.basename(p)
    label = table.get(name)
    match = re.match(r"([0-9]+)_", name)
    if label is None and match:
      label = int(match.group(1))
      if label > high:
        raise InputError(f"{printable(name)} starts with label {label}, outside [{low}, "
                         f"{high}]; rename it or pass --label or --labels_file")
    labels.append(-1 if label is None else label)
  if all(l == -1 for l in labels):
    return None, None
  source = f"labels from {printable(csv_path)}" if table else \
      "labels from file names (<label>_...)"
  return np.asarray(labels, np.int32), source
