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

import numpy as np
from PIL import Image
import pytest

from bin import cli
from tfinpaint import images
from tfinpaint.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ("train", "export", "inpaint", "evaluate", "benchmark", "client")
TEST_EXPERIMENTS = os.path.join(REPO, "tests", "experiments.py")


def run_cli(module, *args, cwd, timeout=600, env=None):
  env = dict(env or os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
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


def run_main(command, argv):
  """Parses argv exactly as `command` does and runs its main in this process."""
  import importlib  # pylint: disable=g-import-not-at-top
  importlib.import_module(f"bin.{command}").main(cli.parse(command, ["prog"] + argv))


def usage_error(command, argv):
  with pytest.raises(cli.UsageError) as e:
    cli.parse(command, ["prog"] + argv)
  message = str(e.value)
  assert "\n" not in message
  return message


# ----------------------------------------------------------------------------- flags, --help


def test_every_config_parses_for_the_commands_of_its_first_line(monkeypatch):
  monkeypatch.chdir(REPO)  # the flagfiles name their experiment relative to the clone
  paths = sorted(glob.glob(os.path.join(REPO, "configs", "*.flags")))
  assert {"digits_lenet.flags", "mnist_lenet.flags", "yaleb_lenet.flags", "cars_dcgan.flags",
          "cars_googlenet.flags", "cars_inpaint.flags", "fashion_dcgan.flags",
          "fashion_googlenet.flags", "fashion_semantic.flags"} <= {os.path.basename(p)
                                                                   for p in paths}
  for path in paths:
    with open(path) as f:
      first = f.readline()
    assert first.startswith("# python -m bin."), path
    for command in {c.split()[0] for c in first.split("python -m bin.")[1:]}:
      args = cli.parse(command, ["prog", f"--flagfile={os.path.relpath(path, REPO)}"])
      assert args.config.data.dataset, path


@pytest.mark.parametrize("command, argv, message", [
    ("inpaint", ["--mask=nope"], "mask must be one of center"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.train.lr_boundaries=10,x"],
     "expected an integer, got 'x'"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.data.dataset=s3:bucket"],
     "dataset must be tfds:NAME"),
    ("inpaint", ["--no_such_flag=1"], "unknown flag --no_such_flag"),
    ("inpaint", ["--flagfile=/no/such.flags"], "/no/such.flags"),
    ("inpaint", ["--mask_ratio=1.5"], "mask_ratio must be > 0 and <= 0.999"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.data.channels=2"],
     "channels must be one of 1, 3"),
    ("inpaint", ["--step_size=inf"], "expected a finite number"),
    ("inpaint", ["--grid_scale=100000"], "grid_scale must be >= 1 and <= 16"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.train.learning_rate=nan"],
     "expected a finite number"),
    ("export", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.request.iterations=-1"],
     "iterations must be >= 0"),
    ("export", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.request.block_rows=0"],
     "block_rows must be >= 1"),
    ("export", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.request.iterations=9"],
     "iterations (9) must not exceed max_iterations (4)"),
    ("inpaint", ["picture.png"], "positional"),
    # A flag a command does not use is refused, naming who takes it (issue 18).
    ("inpaint", ["--model=/nonexistent/model"], "bin.inpaint takes no --model (bin.client"),
    ("inpaint", ["--model_dir="], "model_dir: must not be empty"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--iterations=3"],
     "bin.train takes no --iterations"),
    ("train", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.evaluate.num_images=3"],
     "bin.train takes no --config.evaluate.num_images (bin.evaluate takes it)"),
    ("export", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.train.num_steps=3"],
     "bin.export takes no --config.train.num_steps (bin.train takes it)"),
    ("inpaint", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.request.jitter=3"],
     "bin.inpaint takes no --config.request.jitter (bin.export takes it)"),
    ("benchmark", [f"--config={TEST_EXPERIMENTS}:lenet"],
     "bin.benchmark takes no --config (bin.train, bin.export, bin.evaluate, bin.inpaint take "
     "it)"),
    ("client", [f"--config={TEST_EXPERIMENTS}:lenet"],
     "bin.client takes no --config (bin.train, bin.export, bin.evaluate, bin.inpaint take it)"),
    ("train", ["--config.train.num_steps=3"], "bin.train needs an experiment"),
    ("export", [f"--config={TEST_EXPERIMENTS}:lenet", "--config.request.iterationz=3"],
     "the experiment has no such field"),
])
def test_flag_errors_are_one_line(command, argv, message):
  assert message in usage_error(command, argv)


def test_an_unused_flag_in_a_subprocess_is_one_line_exit_2(tmp_path):
  proc = run_cli("inpaint", "--model=/nonexistent/model", f"--output_dir={tmp_path / 'o'}",
                 cwd=tmp_path)
  assert_user_error(proc, str(tmp_path / "o"), "bin.inpaint takes no --model")


def test_multi_worker_without_tf_config_is_refused(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  proc = run_cli("train", f"--config={TEST_EXPERIMENTS}:lenet",
                 f"--config.train.workdir={tmp_path / 'w'}",
                 "--config.runtime.strategy=multi_worker", cwd=tmp_path, env=env)
  assert_user_error(proc, str(tmp_path / "w"), "the multi_worker strategy needs TF_CONFIG")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0_and_lists_exactly_the_commands_flags(command, tmp_path):
  argv = ["--help"] if command not in ("train", "export") else [
      f"--config={TEST_EXPERIMENTS}:lenet", "--help"]
  proc = run_cli(command, *argv, cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.startswith(open(os.path.join(REPO, "bin", f"{command}.py")).read()
                                .split('"""')[1].strip().splitlines()[0][:30])
  shown = {line.split(":")[0].strip()[2:] for line in proc.stdout.splitlines()
           if line.startswith("  --")}
  assert "config" in shown or command in ("benchmark", "client")
  if command == "inpaint":
    assert {"input", "model_dir", "label", "iterations", "step_size", "num_starts"} <= shown
    assert "model" not in shown and "num_steps" not in shown
  if command == "train":
    assert {"config.train.num_steps", "config.network.width", "config.data.dataset",
            "config.runtime.strategy"} <= shown
    assert not any(s.startswith(("config.request", "config.evaluate")) for s in shown)
    assert "iterations" not in shown


def test_request_options_and_settings():
  args = cli.parse("inpaint", ["prog", "--tv_band=-1", "--jitter=2", "--learning_rate=0.05",
                               "--lambda_sem=7", "--label=-1", "--input=x.png"])
  assert args.options == {"tv_band": -1, "jitter": 2, "learning_rate": 0.05, "lambda_sem": 7.0}
  from tfinpaint import inpaint  # pylint: disable=g-import-not-at-top
  settings = args.get(inpaint.Settings)
  assert settings.label == -1 and settings.seed == 0 and settings.input == "x.png"


def test_experiment_overrides_reach_the_config():
  args = cli.parse("export", ["prog", f"--config={TEST_EXPERIMENTS}:lenet",
                              "--config.request.block_rows=8", "--config.request.iterations=3",
                              "--config.export.export_dir=x"])
  assert args.config.request.block_rows == 8 and args.config.request.iterations == 3
  assert args.config.export.export_dir == "x" and args.config.request.max_iterations == 4


@pytest.mark.parametrize("exc, message", [
    (InputError("bad\nthing"), "error: bad thing\n"),
    (FileNotFoundError(2, "No such file", "/x/y.png"), "error: no such file or directory: "
     "/x/y.png\n"),
])
def test_a_main_turns_user_errors_into_exit_2(exc, message, capsys, monkeypatch):
  def main(args):
    del args
    raise exc
  main.__module__ = __name__
  monkeypatch.setattr(sys, "argv", ["prog"])
  with pytest.raises(SystemExit) as e:
    cli.run(main, "benchmark")
  assert e.value.code == 2
  assert capsys.readouterr().err == message


def test_bugs_keep_their_traceback(monkeypatch):
  def main(args):
    del args
    raise ZeroDivisionError("a bug")
  main.__module__ = __name__
  monkeypatch.setattr(sys, "argv", ["prog"])
  with pytest.raises(ZeroDivisionError):
    cli.run(main, "benchmark")


def test_mains_are_thin():
  for path in glob.glob(os.path.join(REPO, "bin", "*.py")):
    if os.path.basename(path) in ("cli.py", "__init__.py"):  # not mains
      continue
    with open(path) as f:
      assert len(f.readlines()) <= 80, path


def test_device_and_gpu_settings_reach_the_training(tmp_path, capsys):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this host has a GPU: the GPU-less behaviour is what is tested below")
  workdir = tmp_path / "run"
  common = [f"--config={TEST_EXPERIMENTS}:lenet", f"--config.train.workdir={workdir}",
            "--config.data.image_size=16", "--config.train.patch_repeats=1"]
  # The 2 logical CPUs of conftest, named; memory growth without a GPU is a logged no-op.
  run_main("train", common + ["--config.runtime.strategy=mirrored",
                              "--config.runtime.devices=CPU:0,CPU:1",
                              "--config.runtime.memory_growth=true"])
  out = capsys.readouterr().out
  assert "memory_growth: no GPU, nothing to do" in out and "with 2 replica(s)" in out
  assert os.path.exists(workdir / "checkpoints" / "ckpt-2.index")
  assert os.path.isfile(workdir / "config.json")
  for argv, message in ((["--config.runtime.strategy=mirrored",
                          "--config.runtime.devices=CPU:0,CPU:7"], "no device CPU:7"),
                        (["--config.runtime.mixed_precision=true"], "needs a GPU")):
    other = tmp_path / "refused"
    with pytest.raises(InputError, match=message):
      run_main("train", [a.replace(str(workdir), str(other)) for a in common] + argv)
    assert not os.path.exists(other)
  assert "devices applies to the mirrored strategy only" in usage_error(
      "train", common + ["--config.runtime.devices=CPU:0"])


def test_mixed_precision_on_a_cpu_is_one_error_line(tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("this host has a GPU")
  out = str(tmp_path / "run")
  proc = run_cli("train", f"--config={TEST_EXPERIMENTS}:lenet", f"--config.train.workdir={out}",
                 "--config.runtime.mixed_precision=true", cwd=tmp_path)
  assert_user_error(proc, out, "error: --config.runtime.mixed_precision needs a GPU")


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
  proc = run_cli("train", f"--config.train.workdir={out}", cwd=tmp_path)
  assert_user_error(proc, out, "bin.train needs an experiment")
  proc = run_cli("export", f"--config={TEST_EXPERIMENTS}:lenet", f"--config.train.workdir={out}",
                 "--config.export.export_dir=exp", cwd=tmp_path)
  assert_user_error(proc, str(tmp_path / "exp"), "no such workdir")


def test_inpaint_file_with_mask_file(tmp_path):
  rng = np.random.default_rng(0)
  image = np.clip(np.linspace(0, 1, 40)[None, :, None] + rng.uniform(0, 0.1, (30, 40, 3)), 0, 1)
  write_png(tmp_path / "photo.png", image)
  hole = np.zeros((30, 40, 1))
  hole[10:20, 15:25] = 1.0  # white = fill
  write_png(tmp_path / "hole.png", hole)
  res = tmp_path / "res"
  run_main("inpaint", [f"--input={tmp_path / 'photo.png'}", f"--mask_file={tmp_path / 'hole.png'}",
                       "--method=telea", f"--output_dir={res}"])
  assert {"inpainted", "masks", "grid.png", "results.csv", "MANIFEST.json"} <= set(
      os.listdir(res))
  before = np.asarray(Image.open(tmp_path / "photo.png"))
  after = np.asarray(Image.open(res / "inpainted" / "photo.png"))
  known = hole[..., 0] == 0
  np.testing.assert_array_equal(after[known], before[known])
  assert np.abs(after[~known].astype(int) - before[~known]).mean() < 40
  np.testing.assert_array_equal(np.asarray(Image.open(res / "masks" / "photo.png")) > 0, ~known)
  assert (os.stat(res / "inpainted" / "photo.png").st_mode & 0o777) == 0o666 & ~_umask()


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def test_train_export_inpaint_evaluate_for_each_kind(tmp_path, capsys):
  # The flax pattern: each command's main, in process, on trimmed experiments of every network
  # kind (tests/experiments.py), a few real steps on synthetic data.
  def exp(kind, *more):
    workdirs = [f"--config.train.workdir={tmp_path / kind}"]
    return [f"--config={TEST_EXPERIMENTS}:{kind}"] + workdirs + list(more)

  for kind in ("lenet", "dcgan", "googlenet", "judge"):
    run_main("train", exp(kind))
  assert os.path.isfile(tmp_path / "lenet" / "config.json")
  run_main("export", exp("lenet", f"--config.export.export_dir={tmp_path / 'exp_c'}"))
  run_main("export", exp("judge", f"--config.export.export_dir={tmp_path / 'exp_c'}"))
  run_main("export", exp("dcgan", f"--config.export.export_dir={tmp_path / 'exp_s'}",
                         f"--config.export.networks=classifier={tmp_path / 'googlenet'}"))
  out = capsys.readouterr().out
  assert "wrote version" in out and "wrote judge" in out
  assert os.path.isfile(tmp_path / "exp_c" / "1" / "saved_model.pb")
  assert os.path.isfile(tmp_path / "exp_c" / "judge" / "judge.keras")
  with pytest.raises(InputError, match="exists"):  # nothing shipped is replaced silently
    run_main("export", exp("lenet", f"--config.export.export_dir={tmp_path / 'exp_c'}"))
  with pytest.raises(InputError, match="exports nothing"):
    run_main("export", exp("googlenet", f"--config.export.export_dir={tmp_path / 'x'}"))
  for kind in ("exp_c", "exp_s"):
    run_main("inpaint", [f"--model_dir={tmp_path / kind}", "--num_images=2",
                         f"--output_dir={tmp_path / ('out_' + kind)}"])
    with open(tmp_path / f"out_{kind}" / "results.csv") as f:
      assert len(list(csv.DictReader(f))) == 2
  with pytest.raises(InputError, match="--label: method full takes no label"):
    run_main("inpaint", [f"--model_dir={tmp_path / 'exp_s'}", "--num_images=1", "--label=3",
                         f"--output_dir={tmp_path / 'refused'}"])
  run_main("evaluate", [f"--config={TEST_EXPERIMENTS}:lenet",
                        f"--config.evaluate.model_dirs={tmp_path / 'exp_c'}",
                        "--config.evaluate.methods=telea,classifier",
                        f"--config.evaluate.output_dir={tmp_path / 'ev'}"])
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
