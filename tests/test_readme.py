"""Every `python -m bin.*` line of the README and of the flagfiles' first lines works as written.

Each command runs in this process (its main, after parsing exactly its flags; the same code a
shell runs) from a scratch folder that looks like a fresh clone (configs/, tfinpaint/ and a copy
of exported/), with a few flags appended to keep it tiny: training steps, images, iterations.
Appended flags only shrink the work; a command that fails as written fails here. Training and
export on the 60,000 Fashion-MNIST items cost a minute or more each even at two steps (loading,
tracing, the test-split accuracy), so by default they are parsed and turned into their settings
(what a bad flag or value would break) and run in full with TFINPAINT_SLOW_TESTS=1; the same
code runs for real on small data in tests/test_cli.py. Commands that
need what a CI machine may lack are skipped with the reason: data that is not installed (Debian's
dataset-fashion-mnist / opencv-doc, Stanford Cars, Yale B, prepared tfds data), several machines
(multi-worker), or a running tensorflow_model_server (bin.client).
"""

import glob
import os
import re
import shlex
import shutil
import sys

import pytest

from bin import cli

BASELINES = ("telea", "navier_stokes", "patchmatch")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = {  # appended to every command of the module: the work shrinks, nothing else changes
    "train": ["--config.train.num_steps=2", "--config.train.log_every=1",
              "--config.train.checkpoint_every=1", "--config.train.batch_size=8"],
    "export": [],
    "inpaint": ["--num_images=2", "--iterations=2"],
    "evaluate": ["--config.evaluate.num_images=10", "--iterations=2",
                 "--config.evaluate.grid_images=2"],
    "benchmark": ["--benchmarks=matmul"],
}


def _commands_in(text):
  """The `python -m bin.X ...` commands of a text (code lines, `&&` chains, `\\` continued)."""
  text = text.replace("\\\n", " ")
  found = []
  for line in text.splitlines():
    line = line.strip().lstrip("#").strip()
    for part in line.split("&&"):
      part = part.strip()
      match = re.search(r"python -m bin\.(\w+)(.*)", part)
      if match and not part.startswith("pip "):
        args = re.sub(r"\s+#.*$", "", match.group(2)).strip()
        env = part[:match.start()].strip()
        found.append((match.group(1), args, env))
  return found


def all_commands():
  with open(os.path.join(REPO, "README.md")) as f:
    readme = f.read()
  blocks = re.findall(r"```\n(.*?)```", readme, flags=re.S)
  commands = [c for block in blocks for c in _commands_in(block)]
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.flags"))):
    with open(path) as f:
      commands += _commands_in(f.readline())
  return commands


def _experiment(argv):
  """The experiment a command line names (its flagfile's or --config's), or None."""
  from tfinpaint import experiment  # pylint: disable=g-import-not-at-top
  args, path = cli._read_args(["prog"] + argv)  # pylint: disable=protected-access
  del args
  return experiment.load(os.path.join(REPO, path)) if path else None


def skip_reason(module, argv, env):
  if module == "client":
    return "needs a running tensorflow_model_server"
  e = _experiment(argv)
  if "TF_CONFIG" in env or any("strategy=multi_worker" in a for a in argv):
    return "needs several machines (tests/test_multiworker.py runs two workers on loopback)"
  spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config.data.dataset=")),
              e.data.dataset if e is not None else None) or ""
  kind, _, where = spec.partition(":")
  if kind == "tfds":
    return f"{spec} must be prepared in its data_dir (not on this machine)"
  if kind in ("idx", "folder", "sheet") and not os.path.exists(where.split("?")[0]):
    return f"{spec}: the data is not installed here"
  if module == "evaluate" and not spec:
    if not os.path.exists("/usr/share/doc/opencv-doc/examples/data/digits.png"):
      return "the digits test split (opencv-doc) is not installed here"
  return None


COMMANDS = list(dict.fromkeys(all_commands()))  # a command in two places runs once
SLOW = os.environ.get("TFINPAINT_SLOW_TESTS") == "1"


def is_heavy(module, argv):
  e = _experiment(argv)
  return module in ("train", "export") and e is not None and "fashion" in (e.data.dataset or "")


def test_the_readme_has_the_commands_a_user_needs():
  modules = {module for module, _, _ in COMMANDS}
  assert {"inpaint", "train", "export", "evaluate", "benchmark", "client"} <= modules
  assert len(COMMANDS) >= 15


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
  """A scratch folder that looks like a fresh clone, with its own copy of exported/."""
  root = tmp_path_factory.mktemp("clone")
  for name in ("configs", "tfinpaint"):
    os.symlink(os.path.join(REPO, name), root / name)
  shutil.copytree(os.path.join(REPO, "exported"), root / "exported")
  return root


@pytest.mark.parametrize("module, args, env", COMMANDS,
                         ids=[f"bin.{c[0]} {c[1]}"[:90] for c in COMMANDS])
def test_command_works_as_written(clone, monkeypatch, module, args, env):
  import importlib  # pylint: disable=g-import-not-at-top
  argv = shlex.split(args)
  reason = skip_reason(module, argv, env)
  if reason:
    pytest.skip(reason)
  monkeypatch.chdir(clone)
  tiny = TINY[module]
  if any(a.startswith("--method=") and a.split("=")[1] in BASELINES for a in argv):
    tiny = [t for t in tiny if not t.startswith("--iterations")]  # baselines take no options
  if any(a.split("=")[0] in ("--help", "-h") for a in argv):
    # --help goes through the entry point's shared handling: it prints and exits 0.
    monkeypatch.setattr(sys, "argv", ["prog"] + argv)
    with pytest.raises(SystemExit) as exit_:
      cli.run(importlib.import_module(f"bin.{module}").main, module)
    assert exit_.value.code == 0
    return
  parsed = cli.parse(module, ["prog"] + argv + tiny)  # what a bad flag or value would break
  if not (is_heavy(module, argv) and not SLOW):
    importlib.import_module(f"bin.{module}").main(parsed)
