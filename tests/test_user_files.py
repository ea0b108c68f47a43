"""What the user owns stays theirs, and every bad file, name, label or flagfile is one line.

bin.inpaint runs in this process with the telea baseline (no model: fast), on inputs named the
way careless users name them; the subprocess cases are the ones that must hold before
TensorFlow is imported (flagfiles, signals).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.test_cli import REPO, run_cli, run_main, write_png
from tfinpaint import fileio, inpaint, labels
from tfinpaint.errors import InputError

pytest.importorskip("cv2")  # the telea baseline


def _digit(seed=0):
  return np.random.default_rng(seed).uniform(0, 1, (28, 28, 1))


def _inpaint(tmp_path, *flags):
  run_main("inpaint", ["--method=telea", *flags])


def test_output_names_never_meet_each_other_or_the_runs_files(tmp_path):
  inputs = tmp_path / "in"
  inputs.mkdir()
  names = ["x.png", "x.jpg", "x_2.png", "X.png", "x_mask.png", "x_large.png", "grid.png",
           "results.png", "grad_norm.png", "MANIFEST.png", ".hidden.png"]
  for i, name in enumerate(names):
    write_png(inputs / name, _digit(i))
  out = tmp_path / "out"
  _inpaint(tmp_path, f"--input={inputs}", f"--output_dir={out}")
  shown = sorted(n for n in names if not n.startswith("."))  # folders skip hidden files
  written = sorted(os.listdir(out / inpaint.INPAINTED))
  assert len(written) == len(shown) == len(set(w.lower() for w in written))
  assert {"grid.png", "results.csv", fileio.MANIFEST} <= set(os.listdir(out))
  rows = (out / "results.csv").read_text().splitlines()[1:]
  assert len(rows) == len(shown)
  for folder in (inpaint.MASKS, inpaint.LARGE_DIR):
    assert sorted(os.listdir(out / folder)) == written
  assert inpaint.unique_names(["a/x.png", "b/x.jpg", "c/x_2.png"]) == ["x", "x_3", "x_2"]


def test_a_file_name_that_is_not_utf8_is_written_and_shown_escaped(tmp_path, capsys):
  inputs = tmp_path / "in"
  inputs.mkdir()
  raw = os.path.join(os.fsencode(inputs), b"caf\xe9.png")
  write_png(os.fsdecode(raw), _digit())
  out = tmp_path / "out"
  _inpaint(tmp_path, f"--input={inputs}", f"--output_dir={out}")
  assert os.listdir(out / inpaint.INPAINTED) == ["caf_.png"]
  assert "caf\\xe9.png" in (out / "results.csv").read_text()


def test_inputs_masks_and_labels_inside_the_output_folder_are_refused(tmp_path):
  out = tmp_path / "out"
  _inpaint(tmp_path, f"--input={_write(tmp_path / 'a.png')}", f"--output_dir={out}")
  earlier = out / inpaint.INPAINTED / "a.png"
  before = earlier.read_bytes()
  with pytest.raises(InputError, match="which this run reads"):
    _inpaint(tmp_path, f"--input={earlier}", f"--output_dir={out}")
  mask = out / inpaint.MASKS / "a.png"
  with pytest.raises(InputError, match="which this run reads"):
    _inpaint(tmp_path, f"--input={_write(tmp_path / 'b.png')}", f"--mask_file={mask}",
             f"--output_dir={out}")
  assert earlier.read_bytes() == before


def test_an_output_folder_in_an_export_root_is_refused(tmp_path):
  root = tmp_path / "exported" / "m"
  (root / "3").mkdir(parents=True)
  (root / "3" / "saved_model.pb").write_bytes(b"")
  with pytest.raises(InputError, match="holds exported models"):
    _inpaint(tmp_path, f"--input={_write(tmp_path / 'a.png')}", f"--output_dir={root / '4'}")
  assert os.listdir(root) == ["3"]


def _write(path, seed=0):
  write_png(path, _digit(seed))
  return path


@pytest.mark.parametrize("text, expected", [
    ("a.png,3\nb.png,5\n", [3, 5]),
    ("\ufefffile,label\na.png,3\nb.png,5\n", [3, 5]),  # BOM and a header
    ("a.png;3\nb.png;+5\n", [3, 5]),  # semicolons, a sign
    ("a.png\t3.0\nb.png\t-1\n", [3, -1]),  # tabs, a float that is an integer
    ("a.png,3\n", [3, -1]),  # an image the file does not name: try every label
])
def test_labels_csv_dialects(tmp_path, text, expected):
  paths = [str(_write(tmp_path / "a.png")), str(_write(tmp_path / "b.png", 1))]
  (tmp_path / "labels.csv").write_bytes(text.encode("utf-8"))
  found, source = labels.from_files(paths)
  assert found.tolist() == expected and "labels.csv" in source


@pytest.mark.parametrize("content, message", [
    ("a.png,3\n".encode("latin-1") + "b.png,\xe9\n".encode("latin-1"), "not UTF-8 text (line 2)"),
    ("a.png,\u00b3\n".encode(), "line 1: label '\u00b3' is not an integer"),
    (b"a.png,3\nb.png,99999999999999999999\n", "line 2: label 99999999999999999999 is outside"),
    (b"a.png,3\nb.png,x\n", "line 2: label 'x' is not an integer"),
    (b"a.png,3.5\n", "line 1: label '3.5' is not an integer"),
    (b"a.png 3\n", "line 1: expected file,label"),
    (b"a.png,3\na.png,4\n", "a.png has two labels, 3 and 4"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a text file"),
    (b"\n\n", "has no file,label row"),
    (b"a,x\n", "line 1: label 'x' is not an integer"),  # not a header: no header word
])
def test_bad_labels_files_are_refused_with_the_row(tmp_path, content, message):
  paths = [str(_write(tmp_path / "a.png")), str(_write(tmp_path / "b.png", 1))]
  (tmp_path / "labels.csv").write_bytes(content)
  with pytest.raises(InputError, match="labels file .*" + message.replace("(", r"\(").replace(
      ")", r"\)").replace(".", r"\.")):
    labels.from_files(paths)


def test_label_prefixes_out_of_range_are_refused_and_ignored_without_labels(tmp_path):
  path = str(_write(tmp_path / "99999999999_x.png"))
  with pytest.raises(InputError, match="starts with label 99999999999"):
    labels.from_files([path])
  assert labels.from_files([str(_write(tmp_path / "7_x.png"))])[0].tolist() == [7]
  # A method without labels never reads them: a date-like prefix is just a name.
  _inpaint(tmp_path, f"--input={path}", f"--output_dir={tmp_path / 'out'}")
  assert os.listdir(tmp_path / "out" / inpaint.INPAINTED) == ["99999999999_x.png"]


def _user_error(proc, contains):
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and contains in lines[0], proc.stderr


@pytest.mark.parametrize("content", [b"--method=telea\n--input=caf\xe9.png\n",
                                     bytes(range(256)) * 4])
def test_flagfiles_that_are_not_text_are_one_line(tmp_path, content):
  (tmp_path / "bad.flags").write_bytes(content)
  (tmp_path / "outer.flags").write_text("--flagfile=bad.flags\n")
  for args in (["--flagfile=bad.flags"], ["--flagfile", "bad.flags"], ["--flagfile=outer.flags"]):
    _user_error(run_cli("inpaint", *args, cwd=tmp_path), "the flagfile bad.flags is not UTF-8")


def test_a_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
  import resource  # pylint: disable=g-import-not-at-top
  _write(tmp_path / "a.png")
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.run(
      [sys.executable, "-m", "bin.inpaint", "--method=telea", "--input=a.png",
       "--output_dir=out"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000)))
  _user_error(proc, "size limit")
  assert sorted(os.listdir(tmp_path)) == [".out.lock", "a.png"]  # no output, no staging


def test_sigterm_while_starting_exits_130(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO)
  proc = subprocess.Popen([sys.executable, "-m", "bin.inpaint", "--method=telea",
                           "--input=nothing.png"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  time.sleep(2.0)  # bin.cli is imported; TensorFlow may still be loading
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 130, err
  assert "Traceback" not in err


def test_an_export_folder_that_is_a_file_is_one_line(tmp_path):
  from tests.test_cli import TEST_EXPERIMENTS  # pylint: disable=g-import-not-at-top
  (tmp_path / "a_file").write_text("mine")
  for where, message in [(tmp_path / "a_file", "exists and is not a folder"),
                         (tmp_path / "a_file" / "model", "is a file, not a folder")]:
    with pytest.raises(InputError, match=message):
      run_main("export", [f"--config={TEST_EXPERIMENTS}:lenet",
                          f"--config.export.export_dir={where}"])
  assert (tmp_path / "a_file").read_text() == "mine"
