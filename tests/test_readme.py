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

from absl import flags
import pytest

BASELINES = ("telea", "navier_stokes", "patchmatch")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS

TINY = {  # appended to every command of the module: the work shrinks, nothing else changes
    "train": ["--num_steps=2", "--log_every=1", "--checkpoint_every=1", "--batch_size=8",
              "--sample_every=2"],
    "export": [],
    "inpaint": ["--num_images=2", "--iterations=2"],
    "evaluate": ["--num_images=10", "--iterations=2", "--grid_images=2"],
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


def _flagfile_values(argv):
  values = {}
  for arg in argv:
    if arg.startswith("--flagfile="):
      with open(os.path.join(REPO, arg.split("=", 1)[1])) as f:
        for line in f:
          if line.startswith("--") and "=" in line:
            name, value = line.strip()[2:].split("=", 1)
            values[name] = value
  for arg in argv:
    if arg.startswith("--") and "=" in arg:
      name, value = arg[2:].split("=", 1)
      values[name] = value
  return values


def skip_reason(module, argv, env):
  if module == "client":
    return "needs a running tensorflow_model_server"
  values = _flagfile_values(argv)
  if "TF_CONFIG" in env or values.get("strategy") == "multi_worker":
    return "needs several machines (tests/test_multiworker.py runs two workers on loopback)"
  spec = values.get("dataset", "")
  kind, _, where = spec.partition(":")
  if kind == "tfds":
    return f"{spec} must be prepared in --data_dir (not on this machine)"
  if kind in ("idx", "folder", "sheet") and not os.path.exists(where.split("?")[0]):
    return f"{spec}: the data is not installed here"
  if module == "evaluate" and not spec:
    model = values.get("model_dir", "exported/digits_lenet").split(",")[0]
    meta = os.path.join(REPO, model)
    if "digits" in meta and not os.path.exists("/usr/share/doc/opencv-doc/examples/data/digits.png"):
      return "the digits test split (opencv-doc) is not installed here"
  return None


COMMANDS = list(dict.fromkeys(all_commands()))  # a command in two places runs once
SLOW = os.environ.get("TFINPAINT_SLOW_TESTS") == "1"


def is_heavy(module, argv):
  values = _flagfile_values(argv)
  return module in ("train", "export") and "fashion" in values.get("dataset", "")


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
  from bin import flags as cli_flags  # pylint: disable=g-import-not-at-top
  argv = shlex.split(args)
  reason = skip_reason(module, argv, env)
  if reason:
    pytest.skip(reason)
  monkeypatch.chdir(clone)
  main = importlib.import_module(f"bin.{module}").main  # defines the flags
  FLAGS.unparse_flags()
  try:
    tiny = TINY[module]
    if any(a.startswith("--method=") and a.split("=")[1] in BASELINES for a in argv):
      tiny = [t for t in tiny if not t.startswith("--iterations")]  # baselines take no options
    FLAGS(["prog"] + argv + tiny)
    if is_heavy(module, argv) and not SLOW:
      getattr(cli_flags, f"{module}_settings")()
    else:
      main([])
  finally:
    FLAGS.unparse_flags()
