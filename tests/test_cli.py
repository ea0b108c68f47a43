"""The CLIs in bin/: flags, --help, one-line errors, and train -> export -> inpaint for real.

The CLIs' contract with users: bad input -> exit code 2 and ONE line "error: ..." on stderr, no
traceback, no output files; good input -> results where the run says. Subprocesses cost a
TensorFlow import each, so most runs are in-process (the mains themselves, after parsing their
flags: the flax `train_test.py` pattern); failing runs in subprocesses fail before TensorFlow
is imported.
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
from bin import flags as cli_flags
from tfinpaint import images
from tfinpaint.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
COMMANDS = ("train", "export", "inpaint", "evaluate", "benchmark", "client")


def run_cli(module, *args, cwd, timeout=600):
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  return subprocess.run([sys.executable, "-m", f"bin.{module}", *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=timeout)


def assert_user_error(proc, output_dir, contains):
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
  assert contains in lines[0], lines[0]
  assert "Traceback" not in proc.stderr and proc.stdout == ""
  assert not os.path.exists(output_dir)
  assert not glob.glob(os.path.join(os.path.dirname(output_dir), ".tmp-*"))


def write_png(path, array01):
  images.write_png(str(path), np.asarray(array01, np.float32))


@pytest.fixture()
def clean_flags():
  yield
  FLAGS.unparse_flags()


def run_main(command, argv):
  """Parses argv as `command` would and runs its main in this process."""
  import importlib  # pylint: disable=g-import-not-at-top
  FLAGS.unparse_flags()
  FLAGS(["prog"] + argv)
  importlib.import_module(f"bin.{command}").main([])


# ----------------------------------------------------------------------------- flags, --help


def test_every_config_parses_and_names_its_command(clean_flags):
  paths = sorted(glob.glob(os.path.join(REPO, "configs", "*.flags")))
  assert {"digits_lenet.flags", "mnist_lenet.flags", "yaleb_lenet.flags", "cars_dcgan.flags",
          "cars_googlenet.flags", "cars_inpaint.flags", "fashion_dcgan.flags",
          "fashion_googlenet.flags", "fashion_semantic.flags"} <= {os.path.basename(p)
                                                                   for p in paths}
  for path in paths:
    with open(path) as f:
      assert f.readline().startswith("# python -m bin."), path
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
    (["--step_size=inf"], "--step_size must be a finite number"),
    (["--lambda_tv=inf"], "--lambda_tv must be a finite number"),
    (["--lambda_c=1e38"], "--lambda_c must be a finite number >= 0 and <= 1e+09"),
    (["--grid_scale=100000"], "--grid_scale must be"),
    (["--learning_rate=nan"], "--learning_rate must be"),
    (["--iterations=-1"], "--iterations must be"),
    (["picture.png"], "positional"),
])
def test_flag_errors_are_one_line_exit_2(argv, message, capsys, clean_flags):
  with pytest.raises(SystemExit) as e:
    cli._parse_flags(["prog"] + argv)  # pylint: disable=protected-access
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0_and_lists_the_commands_own_flags(command, tmp_path):
  proc = run_cli(command, "--help", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith(open(os.path.join(REPO, "bin", f"{command}.py")).read()
                                .split('"""')[1].strip().splitlines()[0][:30])
  shown = {line.split(":")[0].strip()[2:].replace("[no]", "")
           for line in proc.stdout.splitlines() if line.startswith("  --")}
  assert set(cli_flags.KEY_FLAGS[command]) <= shown
  for name, text in cli_flags.HELP.get(command, {}).items():
    assert " ".join(text.split()[:4]) in " ".join(proc.stdout.split()), (command, name)


def test_request_options_and_settings(clean_flags):
  FLAGS(["prog", "--tv_band=-1", "--jitter=2", "--z_learning_rate=0.05", "--lambda_sem=7",
         "--label=-1", "--input=x.png"])
  assert cli_flags.request_options() == {"tv_band": -1, "jitter": 2, "learning_rate": 0.05,
                                         "lambda_sem": 7.0}
  settings = cli_flags.inpaint_settings()
  assert settings.label == -1 and settings.options["jitter"] == 2 and settings.seed == 0


def test_export_settings_carry_config_fields(clean_flags):
  FLAGS(["prog", "--from_networks=exported/digits_lenet", "--export_dir=x", "--block_rows=8",
         "--max_iterations=50", "--iterations=20", "--content_weight=0", "--snapshot_every=2"])
  config = cli_flags.export_settings().config
  assert config == {"block_rows": 8, "max_iterations": 50, "iterations": 20}


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


def test_mains_are_thin():
  for path in glob.glob(os.path.join(REPO, "bin", "*.py")):
    if os.path.basename(path) in ("flags.py", "cli.py", "__init__.py"):  # not mains
      continue
    with open(path) as f:
      assert len(f.readlines()) <= 80, path


def test_device_and_gpu_flags_reach_the_training(tmp_path, clean_flags, capsys):
  FLAGS(["prog", "--model=lenet", "--dataset=synthetic", "--workdir=w", "--strategy=mirrored",
         "--devices=CPU:0,CPU:1", "--memory_growth"])
  settings = cli_flags.train_settings()
  assert settings.devices == ("CPU:0", "CPU:1") and settings.memory_growth
  assert not settings.mixed_precision
  FLAGS.unparse_flags()
  FLAGS(["prog", "--model=lenet", "--dataset=synthetic", "--workdir=w", "--mixed_precision"])
  settings = cli_flags.train_settings()
  assert settings.mixed_precision and settings.devices == () and not settings.memory_growth

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this host has a GPU: the GPU-less behaviour is what is tested below")
  workdir = tmp_path / "run"
  common = ["--model=lenet", "--dataset=synthetic", f"--workdir={workdir}", "--width=0.25",
            "--image_size=16", "--num_steps=2", "--batch_size=8", "--patch_repeats=1"]
  # The 2 logical CPUs of conftest, named; memory growth without a GPU is a logged no-op.
  run_main("train", common + ["--strategy=mirrored", "--devices=CPU:0,CPU:1", "--memory_growth"])
  out = capsys.readouterr().out
  assert "memory_growth: no GPU, nothing to do" in out and "with 2 replica(s)" in out
  assert os.path.exists(workdir / "checkpoints" / "ckpt-2.index")
  for argv, message in ((["--strategy=mirrored", "--devices=CPU:0,CPU:7"], "no device CPU:7"),
                        (["--devices=CPU:0"], "--devices applies to --strategy=mirrored only"),
                        (["--mixed_precision"], "--mixed_precision needs a GPU")):
    other = tmp_path / "refused"
    with pytest.raises(InputError, match=message):
      run_main("train", [a.replace(str(workdir), str(other)) for a in common] + argv)
    assert not os.path.exists(other)


def test_mixed_precision_on_a_cpu_is_one_error_line(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this host has a GPU")
  out = str(tmp_path / "run")
  proc = run_cli("train", "--model=lenet", "--dataset=synthetic", f"--workdir={out}",
                 "--mixed_precision", cwd=tmp_path)
  assert_user_error(proc, out, "error: --mixed_precision needs a GPU (float16 on the CPU")


# ----------------------------------------------------------------------------- end to end


def test_bad_inputs_exit_2_without_output(tmp_path):
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
  proc = run_cli("train", "--dataset=synthetic", f"--workdir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "--model is required")
  proc = run_cli("export", "--model=lenet", f"--workdir={out}", "--export_dir=exp",
                 "--dataset=synthetic", cwd=tmp_path)
  assert_user_error(proc, str(tmp_path / "exp"), "no such workdir")


def test_inpaint_file_with_mask_file(tmp_path, clean_flags):
  rng = np.random.default_rng(0)
  image = np.clip(np.linspace(0, 1, 40)[None, :, None] + rng.uniform(0, 0.1, (30, 40, 3)), 0, 1)
  write_png(tmp_path / "photo.png", image)
  hole = np.zeros((30, 40, 1))
  hole[10:20, 15:25] = 1.0  # white = fill
  write_png(tmp_path / "hole.png", hole)
  res = tmp_path / "res"
  run_main("inpaint", [f"--input={tmp_path / 'photo.png'}", f"--mask_file={tmp_path / 'hole.png'}",
                       "--method=telea", f"--output_dir={res}"])
  assert {"photo.png", "photo_mask.png", "grid.png", "results.csv", "MANIFEST.json"} <= set(
      os.listdir(res))
  before = np.asarray(Image.open(tmp_path / "photo.png"))
  after = np.asarray(Image.open(res / "photo.png"))
  known = hole[..., 0] == 0
  np.testing.assert_array_equal(after[known], before[known])
  assert np.abs(after[~known].astype(int) - before[~known]).mean() < 40
  np.testing.assert_array_equal(np.asarray(Image.open(res / "photo_mask.png")) > 0, ~known)
  assert (os.stat(res / "photo.png").st_mode & 0o777) == 0o666 & ~_umask()


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def test_train_export_inpaint_evaluate_for_each_kind(tmp_path, clean_flags, capsys):
  # The flax pattern: each command's main, in process, a few real steps on synthetic data.
  common = ["--dataset=synthetic", "--image_size=32", "--channels=1", "--batch_size=8",
            "--num_steps=2", "--log_every=1", "--checkpoint_every=2"]
  run_main("train", common + ["--model=lenet", "--width=0.25",
                              f"--workdir={tmp_path / 'lenet'}"])
  run_main("train", common + ["--model=dcgan", "--width=0.125", "--z_dim=8", "--sample_every=2",
                              f"--workdir={tmp_path / 'dcgan'}"])
  run_main("train", common + ["--model=googlenet", "--width=0.1", "--nopatch_training",
                              f"--workdir={tmp_path / 'googlenet'}"])
  run_main("train", common + ["--model=judge", f"--workdir={tmp_path / 'judge'}"])
  run_main("export", common + ["--model=lenet", "--width=0.25", f"--workdir={tmp_path / 'lenet'}",
                               f"--export_dir={tmp_path / 'exp_c'}", "--iterations=2",
                               "--max_iterations=4"])
  run_main("export", common + ["--model=judge", f"--workdir={tmp_path / 'judge'}",
                               f"--export_dir={tmp_path / 'exp_c'}"])
  run_main("export", common + ["--model=dcgan", "--width=0.125", "--z_dim=8",
                               f"--workdir={tmp_path / 'dcgan'}",
                               f"--classifier_workdir={tmp_path / 'googlenet'}",
                               f"--export_dir={tmp_path / 'exp_s'}", "--iterations=2",
                               "--num_starts=1"])
  out = capsys.readouterr().out
  assert "wrote version" in out and "wrote judge" in out
  assert os.path.isfile(tmp_path / "exp_c" / "1" / "saved_model.pb")
  assert os.path.isfile(tmp_path / "exp_c" / "judge" / "judge.keras")
  with pytest.raises(InputError, match="exists"):  # nothing shipped is replaced silently
    run_main("export", common + ["--model=lenet", "--width=0.25",
                                 f"--workdir={tmp_path / 'lenet'}",
                                 f"--export_dir={tmp_path / 'exp_c'}"])
  for kind in ("exp_c", "exp_s"):
    run_main("inpaint", [f"--model_dir={tmp_path / kind}", "--num_images=2",
                         f"--output_dir={tmp_path / ('out_' + kind)}"])
    with open(tmp_path / f"out_{kind}" / "results.csv") as f:
      assert len(list(csv.DictReader(f))) == 2
  run_main("evaluate", [f"--model_dir={tmp_path / 'exp_c'}", "--num_images=6", "--masks=center",
                        "--methods=telea,classifier", f"--output_dir={tmp_path / 'ev'}"])
  text = open(tmp_path / "ev" / "results.md").read()
  assert "judge accuracy - center" in text and "KID x1000 - center" in text
  assert "each image's true label" in text


def test_client_speaks_tf_servings_rest_format(tiny_exports):
  # The REST format is TF Serving's documented one: metadata as protobuf JSON of the
  # SignatureDefs, predict with columnar "inputs", "outputs" back. The request is decoded and
  # run on the signature locally; no home-made server.
  import json  # pylint: disable=g-import-not-at-top
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfinpaint import client, served  # pylint: disable=g-import-not-at-top
  from tfinpaint.serving import tfprotos  # pylint: disable=g-import-not-at-top
  version_dir = tiny_exports["classifier"][1]
  proto = tfprotos.saved_model_pb2.SavedModel()
  with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  metadata = {"model_spec": {"name": "tiny"}, "metadata": {"signature_def": {
      "signature_def": {k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                        for k, v in proto.meta_graphs[0].signature_def.items()}}}}
  sigs = client.signatures_from_metadata(json.loads(json.dumps(metadata)))
  local = served.load(version_dir)
  assert set(sigs) == set(local.signatures)
  for name, info in sigs.items():
    assert info.inputs.keys() == local.signatures[name].inputs.keys()
    assert info.required == local.signatures[name].required
    for key, value in local.signatures[name].defaults.items():
      assert np.asarray(info.defaults[key]) == value, (name, key)
  image = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 1)).astype(np.float32)
  mask = np.ones((2, 16, 16, 1), np.float32)
  mask[:, 4:12, 4:12] = 0
  body = json.loads(client.encode_request("serving_default", {
      "image": image, "mask": mask, "label": np.array([0, 1], np.int32), "iterations": 2}))
  assert body["signature_name"] == "serving_default"
  inputs = {k: np.asarray(v, sigs["serving_default"].inputs[k][0])
            for k, v in body["inputs"].items()}
  outputs = local.run("serving_default", {k: inputs.pop(k) for k in ("image", "mask", "label")},
                      inputs)
  response = json.dumps({"outputs": {k: v.tolist() for k, v in outputs.items()}})
  decoded = client.decode_response(response, sigs["serving_default"])
  np.testing.assert_allclose(decoded["inpainted"], outputs["inpainted"])
  with pytest.raises(InputError, match="image must be"):
    client.decode_response(json.dumps({"error": "assertion failed: [image must be [batch, 16, "
                                                "16, 1]] [image shape:] [2 3]"}), None)
