"""Tests for the CLIs in bin/ (their library parts: test_evaluation, test_methods, test_plots).

The CLIs' contract with users: bad input -> exit code 2 and ONE line "error: ..." on stderr,
no traceback, no output files; good input -> results where the run says. Subprocesses cost a
TensorFlow import each, so only the end-to-end runs use them (failing runs are cheap: they
fail before TensorFlow is imported); flag handling, tables and plots are tested in-process.
"""

import csv
import glob
import os
import subprocess
import sys

from absl import flags
import numpy as np
from PIL import Image
import pytest

from bin import cli
from bin import flags as cli_flags  # pylint: disable=unused-import  (defines the flags)
from tfinpaint import data, evaluation, images, masks
from tfinpaint.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
# The C++ start-up lines TensorFlow prints whatever TF_CPP_MIN_LOG_LEVEL says while oneDNN is
# on, which bin/cli.py keeps on on purpose (about 2x faster convolutions on CPU).
TF_BANNER = ("All log messages before absl::InitializeLog() is called are written to STDERR",
             "oneDNN custom operations are on")


def run_cli(module, *args, cwd):
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return subprocess.run([sys.executable, "-m", f"bin.{module}", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600)


def without_tf_banner(stderr):
  """stderr minus TF_BANNER lines: what the run itself had to say."""
  return "".join(line for line in stderr.splitlines(keepends=True)
                 if not any(banner in line for banner in TF_BANNER))


def assert_user_error(proc, output_dir, contains):
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  assert contains in lines[0]
  assert "Traceback" not in proc.stderr and proc.stdout == ""
  assert not os.path.exists(output_dir)
  assert not glob.glob(os.path.join(os.path.dirname(output_dir), ".tmp-*"))


def write_png(path, array01):
  images.write_png(str(path), np.asarray(array01, np.float32))


@pytest.fixture()
def clean_flags():
  yield
  FLAGS.unparse_flags()


# ----------------------------------------------------------------------------- flags, in-process


def test_every_config_parses_and_names_its_command(clean_flags):
  paths = sorted(glob.glob(os.path.join(REPO, "configs", "*.flags")))
  names = {os.path.basename(p) for p in paths}
  assert {"digits_lenet.flags", "mnist_lenet.flags", "yaleb_lenet.flags", "cars_dcgan.flags",
          "cars_googlenet.flags", "cars_inpaint.flags", "fashion_dcgan.flags",
          "fashion_googlenet.flags", "fashion_semantic.flags"} <= names
  for path in paths:
    with open(path) as f:
      first = f.readline()
    assert first.startswith("# python -m bin."), path
    FLAGS.unparse_flags()
    assert FLAGS(["prog", f"--flagfile={path}"]) == ["prog"]
    assert FLAGS.dataset, path


@pytest.mark.parametrize("argv, message", [
    (["--mask=nope"], "--mask=nope"),
    (["--lr_boundaries=10,x"], "list of ints"),
    (["--dataset=s3:bucket"], "--dataset must be"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["--flagfile=/no/such.flags"], "/no/such.flags"),
    (["--mask_ratio=1.5"], "(0, 1)"),
    (["--channels=2"], "1 or 3"),
    (["picture.png"], "positional"),
])
def test_flag_errors_are_one_line_exit_2(argv, message, capsys, clean_flags):
  with pytest.raises(SystemExit) as e:
    cli._parse_flags(["prog"] + argv)  # pylint: disable=protected-access
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_number_lists_and_overrides(clean_flags):
  FLAGS(["prog", "--lr_boundaries=100,200", "--lr_values=1e-3,1e-4,1e-5", "--tv_band=-1",
         "--jitter=2", "--z_learning_rate=0.05", "--lambda_sem=7"])
  assert FLAGS.lr_boundaries == [100, 200] and FLAGS.lr_values == [1e-3, 1e-4, 1e-5]
  assert cli_flags.overrides(cli_flags.CLASSIFIER_OVERRIDES) == {"tv_band": None, "jitter": 2}
  assert cli_flags.overrides(cli_flags.SEMANTIC_OVERRIDES) == {"learning_rate": 0.05}
  assert cli_flags.weight_overrides() == {"lambda_sem": 7.0}


@pytest.mark.parametrize("exc, message", [
    (InputError("bad\nthing"), "error: bad thing\n"),
    (FileNotFoundError(2, "No such file", "/x/y.png"), "error: no such file or directory: "
     "/x/y.png\n"),
])
def test_guarded_main_turns_user_errors_into_exit_2(exc, message, capsys):
  def main(argv):
    del argv
    raise exc
  with pytest.raises(SystemExit) as e:
    cli._guarded(main)(["prog"])  # pylint: disable=protected-access
  assert e.value.code == 2
  assert capsys.readouterr().err == message


def test_bugs_keep_their_traceback():
  def main(argv):
    del argv
    raise ZeroDivisionError("a bug")
  with pytest.raises(ZeroDivisionError):
    cli._guarded(main)(["prog"])  # pylint: disable=protected-access


def test_staged_output_is_all_or_nothing(tmp_path):
  out = tmp_path / "a" / "b"
  with pytest.raises(RuntimeError):
    with cli.staged_output(out) as stage:
      (open(os.path.join(stage, "half.png"), "w")).close()
      raise RuntimeError("failed half way")
  assert os.listdir(tmp_path) == []  # not even the parent folder
  os.makedirs(out)
  (out / "keep.txt").write_text("mine")
  (out / "old.csv").write_text("old")
  with cli.staged_output(out) as stage:
    os.makedirs(os.path.join(stage, "sub"))
    for name in ("old.csv", os.path.join("sub", "new.png")):
      with open(os.path.join(stage, name), "w") as f:
        f.write("new")
  assert (out / "keep.txt").read_text() == "mine"
  assert (out / "old.csv").read_text() == "new" and (out / "sub" / "new.png").exists()
  assert sorted(os.listdir(tmp_path / "a")) == ["b"]


# ----------------------------------------------------------------------------- end to end


def test_inpaint_bad_inputs_exit_2_without_output(tmp_path):
  out = str(tmp_path / "out")
  proc = run_cli("inpaint", "--input=missing.png", f"--output_dir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "missing.png")
  (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
  proc = run_cli("inpaint", "--input=corrupt.png", "--method=telea", f"--output_dir={out}",
                 cwd=tmp_path)
  assert_user_error(proc, out, "corrupt.png")
  write_png(tmp_path / "img.png", np.zeros((32, 32, 1)))
  write_png(tmp_path / "small_mask.png", np.ones((16, 16, 1)))
  proc = run_cli("inpaint", "--input=img.png", "--mask_file=small_mask.png", "--method=telea",
                 f"--output_dir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "16x16")
  proc = run_cli("evaluate", "--dataset=nosuch:thing", f"--output_dir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "--dataset")
  proc = run_cli("train", "--dataset=synthetic", f"--workdir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "--model is required")
  proc = run_cli("export", "--model=lenet", f"--workdir={out}", "--export_dir=exp", cwd=tmp_path)
  assert_user_error(proc, str(tmp_path / "exp"), "no such workdir")


def test_inpaint_file_with_mask_file(tmp_path):
  rng = np.random.default_rng(0)
  image = np.clip(np.linspace(0, 1, 40)[None, :, None] + rng.uniform(0, 0.1, (30, 40, 3)), 0, 1)
  write_png(tmp_path / "photo.png", image)
  hole = np.zeros((30, 40, 1))
  hole[10:20, 15:25] = 1.0  # white = fill
  write_png(tmp_path / "hole.png", hole)
  proc = run_cli("inpaint", "--input=photo.png", "--mask_file=hole.png", "--method=telea",
                 "--output_dir=res", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "res" in proc.stdout and without_tf_banner(proc.stderr) == ""
  res = tmp_path / "res"
  assert {"photo.png", "photo_mask.png", "grid.png", "results.csv"} <= set(os.listdir(res))
  before = np.asarray(Image.open(tmp_path / "photo.png"))
  after = np.asarray(Image.open(res / "photo.png"))
  known = hole[..., 0] == 0
  assert after.shape == before.shape
  np.testing.assert_array_equal(after[known], before[known])
  assert np.abs(after[~known].astype(int) - before[~known]).mean() < 40
  np.testing.assert_array_equal(np.asarray(Image.open(res / "photo_mask.png")) > 0, ~known)


def test_evaluate_synthetic_writes_table_and_csv(tmp_path):
  from tfinpaint import data, metrics  # pylint: disable=g-import-not-at-top
  from tfinpaint.inpainting import baselines  # pylint: disable=g-import-not-at-top
  proc = run_cli("evaluate", "--dataset=synthetic", "--num_images=4",
                 "--methods=telea,navier_stokes", "--output_dir=ev", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "| PSNR - center |" in proc.stdout and "| SSIM - random |" in proc.stdout
  ev = tmp_path / "ev"
  assert {"results.md", "results.csv", "per_image.csv", "grid_center.png", "grid_left.png",
          "grid_random.png"} <= set(os.listdir(ev))
  rows = list(csv.DictReader(open(ev / "results.csv")))
  assert len(rows) == 3 * 3
  # Independent check of one cell: telea on the same 4 images and center masks.
  ds, _ = data.load("synthetic", "test")
  x, _ = evaluation.take(ds, 4)
  m = masks.make("center", 4, 28, 28)
  expected = metrics.psnr(baselines.inpaint("telea", x, m), x).mean()
  got = [r for r in rows if r["mask"] == "center" and r["method"] == "telea"][0]
  assert float(got["psnr"]) == pytest.approx(expected, rel=1e-4)


def test_inpaint_default_run(tmp_path):
  proc = run_cli("inpaint", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  out = tmp_path / "out" / "inpaint"
  files = set(os.listdir(out))
  assert {"grid.png", "results.csv"} <= files
  # The repository ships exported/digits_lenet, so the default is the learned method.
  assert cli.find_shipped(cli.SHIPPED_DIGITS)
  assert "with classifier" in proc.stdout and "grad_norm.png" in files
  assert len([f for f in files if f.endswith("_mask.png")]) >= 10


def test_inpaint_illumination_mode(tmp_path):
  # Paper 003, Section 4.4.2: the hole is every pixel darker than the threshold.
  proc = run_cli("inpaint", "--illumination_threshold=0.5", "--iterations=5", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  out = tmp_path / "out" / "inpaint"
  x, _ = data.sample_images("digits")
  first_mask = sorted(f for f in os.listdir(out) if f.endswith("_mask.png"))[0]
  filled = np.asarray(Image.open(out / first_mask)) > 0
  np.testing.assert_array_equal(filled, images.to_unit(x[0, ..., 0]) < 0.5)
  result = images.read_image(str(out / first_mask.replace("_mask", "")))
  bright = ~filled
  np.testing.assert_allclose(result[..., 0][bright], images.to_unit(x[0, ..., 0])[bright],
                             atol=1 / 255)
