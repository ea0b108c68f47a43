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
  (stale / fileio._OWNER).write_text(json.dumps(dict(fileio._owner_record(), pid=999999999)))
  (stale / "partial.png").write_text("x")
  mine = tmp_path / ".tmp-out-notes"  # a user's folder named like a staging folder
  mine.mkdir()
  (mine / "notes.txt").write_text("mine")
  (mine / ".owner-pid").write_text("999999999")  # an owner file that is not tfinpaint's record
  script = ("import sys, time; from tfinpaint import fileio\n"
            "with fileio.published(sys.argv[1]) as stage:\n"
            "  open(stage + '/partial.png', 'w').close(); print('ready', flush=True)\n"
            "  time.sleep(60)\n")
  proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")],
                          stdout=subprocess.PIPE, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert proc.stdout.readline().strip() == "ready"
  assert not stale.exists()  # the dead run's staging went at start
  assert (mine / "notes.txt").read_text() == "mine"  # the user's folder stays
  assert len([p for p in os.listdir(tmp_path) if p.startswith(".tmp-out-")]) == 2  # ours too
  proc.send_signal(signal.SIGTERM)
  proc.wait(timeout=30)
  time.sleep(0.1)
  assert not (tmp_path / "out").exists()
  assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == [".tmp-out-notes"]


def _published(out, files):
  with fileio.published(out) as stage:
    for name, text in files.items():
      os.makedirs(os.path.dirname(os.path.join(stage, name)), exist_ok=True)
      fileio.write_text(os.path.join(stage, name), text)


def test_an_output_folder_is_replaced_only_when_its_manifest_proves_it_is_ours(tmp_path):
  out = tmp_path / "out"
  _published(out, {"a.png": "1", "sub/b.png": "2"})
  manifest = json.loads((out / fileio.MANIFEST).read_text())
  assert manifest["tool"] == "tfinpaint" and manifest["format"] == fileio.MANIFEST_FORMAT
  assert len(manifest["files"]["sub/b.png"]["sha256"]) == 64
  _published(out, {"c.png": "3"})  # unchanged and ours: replaced
  assert sorted(os.listdir(out)) == [fileio.MANIFEST, "c.png"]
  for change, why in [(lambda: (out / "notes.txt").write_text("mine"), "notes.txt, which tfinpaint"),
                      (lambda: (out / "c.png").write_text("edited"), "c.png, which changed"),
                      (lambda: (out / "mine").mkdir(), "mine, which tfinpaint")]:
    change()
    with pytest.raises(InputError, match=why):
      _published(out, {"d.png": "4"})
    assert (out / "c.png").exists()
    for p in ("notes.txt", "mine"):
      if (out / p).is_dir():
        (out / p).rmdir()
      elif (out / p).exists():
        (out / p).unlink()
    (out / "c.png").write_text("3")
  webapp = tmp_path / "webapp"  # another program's MANIFEST.json is not ours
  webapp.mkdir()
  (webapp / fileio.MANIFEST).write_text('{"name": "app", "files": {"index.html": 6}}')
  (webapp / "index.html").write_text("<html>")
  with pytest.raises(InputError, match="MANIFEST.json that tfinpaint did not write"):
    _published(webapp, {"x.png": "1"})
  old = tmp_path / "old"  # format 1 of earlier versions (sizes, no tool): not proof enough
  old.mkdir()
  (old / fileio.MANIFEST).write_text('{"what": "bin.inpaint results", "files": {"a.png": 1}}')
  (old / "a.png").write_text("1")
  with pytest.raises(InputError, match="another version of tfinpaint .*remove it yourself"):
    _published(old, {"x.png": "1"})
  assert sorted(os.listdir(webapp)) == [fileio.MANIFEST, "index.html"]


def test_output_folders_that_publishing_would_harm_are_refused(tmp_path):
  root = tmp_path / "exported" / "model"
  (root / "3").mkdir(parents=True)
  (root / "3" / "saved_model.pb").write_bytes(b"")
  for inside in (root / "4", root / "3" / "results", root / "eval" / "deep"):
    with pytest.raises(InputError, match="holds exported models"):
      _published(inside, {"a.png": "1"})
  assert sorted(os.listdir(root)) == ["3"]  # no version 4, no lock file
  (tmp_path / "a_file").write_text("x")
  os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
  for out, why in [(tmp_path / "a_file" / "sub", "is a file, not a folder"),
                   (tmp_path / "a_file", "not a folder"),
                   (tmp_path / "dangling", "symbolic link"),
                   (tmp_path / ("n" * 300), "too long")]:
    with pytest.raises(InputError, match=why):
      _published(out, {"a.png": "1"})
  out = tmp_path / "out"
  (out).mkdir()
  with pytest.raises(InputError, match="which this run reads"):
    with fileio.published(out, inputs=[str(out / "sub" / "mine.png")]):
      pass


@pytest.mark.parametrize("errno_value, message", [
    (errno.EFBIG, "size limit"), (errno.ENAMETOOLONG, "too long"), (errno.EIO, "cannot write")])
def test_every_os_error_while_writing_is_one_line(tmp_path, errno_value, message):
  def fail(f):
    raise OSError(errno_value, os.strerror(errno_value))
  with pytest.raises(InputError, match=message):
    fileio.atomic_write(str(tmp_path / "x.bin"), fail)
  assert os.listdir(tmp_path) == []


def test_atomic_dir_refuses_and_replaces(tmp_path):
  fileio.atomic_dir(tmp_path / "v", lambda d: open(os.path.join(d, "a"), "w").close())
  with pytest.raises(InputError, match=r"--config\.export\.overwrite=true"):
    fileio.atomic_dir(tmp_path / "v", lambda d: None)
  fileio.atomic_dir(tmp_path / "v", lambda d: open(os.path.join(d, "b"), "w").close(),
                    overwrite=True)
  assert os.listdir(tmp_path / "v") == ["b"]


def test_a_signal_during_the_swap_waits_for_it_to_finish(tmp_path, monkeypatch):
  out = tmp_path / "out"
  _published(out, {"a.png": "old"})
  check = fileio.foreign_content

  def check_and_signal(path):  # SIGTERM lands between moving the old run aside and the rename
    if ".old-" in str(path):  # the check of the moved folder, not the one before the work
      os.kill(os.getpid(), signal.SIGTERM)
    return check(path)
  monkeypatch.setattr(fileio, "foreign_content", check_and_signal)
  with pytest.raises(KeyboardInterrupt):
    _published(out, {"a.png": "new"})
  assert (out / "a.png").read_text() == "new"  # the swap completed, then the signal came
  assert sorted(p for p in os.listdir(tmp_path) if not p.endswith(".lock")) == ["out"]


def test_a_file_saved_into_the_old_run_while_computing_is_kept(tmp_path):
  out = tmp_path / "out"
  _published(out, {"a.png": "old"})
  with pytest.raises(InputError, match="notes.txt, which tfinpaint did not write; nothing was "
                     "replaced"):
    with fileio.published(out) as stage:
      fileio.write_text(os.path.join(stage, "a.png"), "new")
      (out / "notes.txt").write_text("mine")  # saved after the check at the start
  assert (out / "notes.txt").read_text() == "mine" and (out / "a.png").read_text() == "old"
  assert sorted(p for p in os.listdir(tmp_path) if not p.endswith(".lock")) == ["out"]
