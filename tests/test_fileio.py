"""tfinpaint.fileio: outputs are whole or absent, readable by others, and runs do not collide."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tfinpaint import fileio
from tfinpaint.errors import InputError


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def test_published_replaces_the_folder_as_a_whole(tmp_path):
  out = tmp_path / "a" / "out"
  with fileio.published(out) as stage:
    fileio.write_text(os.path.join(stage, "one.txt"), "1")
    os.makedirs(os.path.join(stage, "sub"))
    fileio.write_text(os.path.join(stage, "sub", "two.txt"), "2")
  manifest = json.loads((out / fileio.MANIFEST).read_text())
  assert set(manifest["files"]) == {"one.txt", os.path.join("sub", "two.txt")}
  assert (os.stat(out / "one.txt").st_mode & 0o777) == 0o666 & ~_umask()
  assert (os.stat(out / "sub").st_mode & 0o777) == 0o777 & ~_umask()
  with fileio.published(out) as stage:  # a second run replaces the first, no mix of the two
    fileio.write_text(os.path.join(stage, "three.txt"), "3")
  assert sorted(os.listdir(out)) == [fileio.MANIFEST, "three.txt"]
  assert sorted(p for p in os.listdir(out.parent) if not p.startswith(".out.lock")) == ["out"]


def test_a_failed_run_leaves_everything_as_it_was(tmp_path):
  out = tmp_path / "out"
  with pytest.raises(RuntimeError):
    with fileio.published(out) as stage:
      fileio.write_text(os.path.join(stage, "half.txt"), "x")
      raise RuntimeError("failed half way")
  assert not out.exists()
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
  with fileio.published(out) as stage:
    fileio.write_text(os.path.join(stage, "good.txt"), "x")
  with pytest.raises(InputError, match="no space left"):
    with fileio.published(out) as stage:
      def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")
      fileio.atomic_write(os.path.join(stage, "big.bin"), full)
  assert sorted(os.listdir(out)) == [fileio.MANIFEST, "good.txt"]
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_refuses_a_folder_it_did_not_write_and_a_second_run(tmp_path):
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "thesis.tex").write_text("precious")
  with pytest.raises(InputError, match="did not write"):
    with fileio.published(tmp_path / "mine"):
      pass
  assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
  with fileio.published(tmp_path / "out"):
    with pytest.raises(InputError, match="another tfinpaint run"):
      with fileio.published(tmp_path / "out"):
        pass


def test_staging_of_dead_runs_is_removed_and_sigterm_cleans_up(tmp_path):
  stale = tmp_path / ".tmp-out-abc"
  stale.mkdir()
  (stale / ".owner-pid").write_text("999999999")
  (stale / "partial.png").write_text("x")
  script = ("import sys, time; from tfinpaint import fileio\n"
            "with fileio.published(sys.argv[1]) as stage:\n"
            "  open(stage + '/partial.png', 'w').close(); print('ready', flush=True)\n"
            "  time.sleep(60)\n")
  proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")],
                          stdout=subprocess.PIPE, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert proc.stdout.readline().strip() == "ready"
  assert not stale.exists()  # the dead run's staging went at start
  assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-out-")]  # ours is there
  proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=30)
  time.sleep(0.1)
  assert not (tmp_path / "out").exists()
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_atomic_dir_refuses_and_replaces(tmp_path):
  fileio.atomic_dir(tmp_path / "v", lambda d: open(os.path.join(d, "a"), "w").close())
  with pytest.raises(InputError, match=r"--config\.export\.overwrite=true"):
    fileio.atomic_dir(tmp_path / "v", lambda d: None)
  fileio.atomic_dir(tmp_path / "v", lambda d: open(os.path.join(d, "b"), "w").close(),
                    overwrite=True)
  assert os.listdir(tmp_path / "v") == ["b"]
