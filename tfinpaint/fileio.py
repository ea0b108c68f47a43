"""Files that are whole or absent: atomic files, atomic folders, and published run outputs.

Every file tfinpaint writes goes through here, so three promises hold everywhere:

  * a reader never sees a half-written file or folder: content is written to a temporary name
    beside the target and renamed into place (rename is atomic on one file system);
  * results are readable by others: files get mode 0666 and folders 0777, minus the umask
    (temporary files are created 0600 and would otherwise keep that);
  * a failure (a full disk, a signal, an exception) removes what it was writing and says so
    in one line (InputError for the user-facing cases: no space, no permission).

`published(output_dir)` is the run-level version for bin.inpaint / bin.evaluate /
bin.benchmark: the run writes into a staging folder; on success the staging folder, with a
MANIFEST.json listing every file written last, replaces `output_dir` in one rename. A lock file
beside the folder serialises two runs on one folder (the second fails clearly), SIGTERM and
SIGINT remove the staging folder, and staging folders of dead runs are removed at start.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
import time

from tfinpaint.errors import InputError

MANIFEST = "MANIFEST.json"
_STAGE_PREFIX = ".tmp-"
_OWNER = ".owner-pid"


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _chmod(path, directory=False):
  os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _os_error(e, what):
  """An OSError the user can act on (full disk, permissions) -> InputError; others re-raised."""
  if e.errno in (errno.ENOSPC, errno.EDQUOT):
    return InputError(f"no space left on the device while writing {what}")
  if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
    return InputError(f"cannot write {what}: {e.strerror}")
  return e


def atomic_write(path, write_fn, mode="wb"):
  """Calls write_fn(file) on a temp file beside `path`, then renames it into place."""
  directory = os.path.dirname(os.path.abspath(path))
  tmp = None
  try:
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_STAGE_PREFIX,
                               suffix=os.path.splitext(path)[1])
    with os.fdopen(fd, mode) as f:
      write_fn(f)
    _chmod(tmp)
    os.replace(tmp, path)
  except OSError as e:
    if tmp and os.path.exists(tmp):
      os.remove(tmp)
    raise _os_error(e, path) from None
  except BaseException:
    if tmp and os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_text(path, text):
  """Writes a text file (CSV, markdown, JSON, flags), atomically."""
  atomic_write(path, lambda f: f.write(text), mode="w")


def write_bytes(path, data):
  atomic_write(path, lambda f: f.write(data))


def atomic_dir(path, fill_fn, *, overwrite=False):
  """Calls fill_fn(tmp_dir) on a temp folder beside `path`, then renames it to `path`.

  With overwrite, an existing `path` is replaced (moved aside, then removed); without, an
  existing path is an InputError.
  """
  path = os.path.abspath(os.fspath(path))
  parent, name = os.path.dirname(path), os.path.basename(path)
  if os.path.exists(path) and not overwrite:
    raise InputError(f"{path} already exists (pass --config.export.overwrite=true to replace it)")
  tmp = old = None
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f"{_STAGE_PREFIX}{name}-")
    fill_fn(tmp)
    _chmod_tree(tmp)
    if os.path.exists(path):
      old = tempfile.mkdtemp(dir=parent, prefix=f".old-{name}-")
      os.rename(path, os.path.join(old, name))
    os.rename(tmp, path)
    tmp = None
  except OSError as e:
    raise _os_error(e, path) from None
  finally:
    if tmp is not None:
      shutil.rmtree(tmp, ignore_errors=True)
      if old is not None and not os.path.exists(path):
        os.rename(os.path.join(old, name), path)  # Put the previous version back.
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  return path


def _chmod_tree(root):
  _chmod(root, directory=True)
  for dirpath, dirnames, filenames in os.walk(root):
    for d in dirnames:
      _chmod(os.path.join(dirpath, d), directory=True)
    for f in filenames:
      p = os.path.join(dirpath, f)
      if not os.path.islink(p):
        os.chmod(p, (os.stat(p).st_mode & 0o111 | 0o666) & ~_umask())


# ---------------------------------------------------------------------------------------------
# Run outputs.
# ---------------------------------------------------------------------------------------------


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_staging(parent, name):
  """Removes staging folders of `name` left in `parent` by runs that are no longer alive."""
  removed = []
  if not os.path.isdir(parent):
    return removed
  for entry in os.listdir(parent):
    if not entry.startswith(f"{_STAGE_PREFIX}{name}-"):
      continue
    folder = os.path.join(parent, entry)
    try:
      with open(os.path.join(folder, _OWNER)) as f:
        pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
      pid = 0
    if not pid or not _pid_alive(pid):
      shutil.rmtree(folder, ignore_errors=True)
      removed.append(folder)
  return removed


@contextlib.contextmanager
def _signals_raise():
  """SIGTERM (and SIGHUP) raise KeyboardInterrupt while writing, so cleanup runs."""
  def handler(signum, frame):
    del frame
    raise KeyboardInterrupt(f"signal {signum}")
  previous = {}
  for sig in (signal.SIGTERM, signal.SIGHUP):
    try:
      previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
      pass
  try:
    yield
  finally:
    for sig, old in previous.items():
      signal.signal(sig, old)


def _is_ours(path):
  return os.path.isfile(os.path.join(path, MANIFEST))


@contextlib.contextmanager
def published(output_dir, *, describe="results", flag="--output_dir"):
  """Yields a staging folder; on success it replaces `output_dir` in one atomic step.

  `flag` is the command's name for the folder, used in its error lines.

  `output_dir` must be absent, empty, or an earlier tfinpaint output (it has a MANIFEST.json):
  it is replaced as a whole, so a reader sees the old run or the new one, never a mix. The
  staging folder gets MANIFEST.json (every file, its size) last. One run at a time per folder
  (a lock file `.<name>.lock` beside it). On any failure, or SIGTERM / SIGINT, the staging
  folder is removed and `output_dir` is left as it was.
  """
  output_dir = os.path.abspath(os.path.expanduser(output_dir))
  parent, name = os.path.dirname(output_dir), os.path.basename(output_dir)
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise InputError(f"{flag} exists and is not a folder: {output_dir}")
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not _is_ours(output_dir):
    raise InputError(f"{flag} {output_dir} holds files tfinpaint did not write "
                     f"(no {MANIFEST}); pick a new or empty folder")
  try:
    os.makedirs(parent, exist_ok=True)
    lock = open(os.path.join(parent, f".{name}.lock"), "a+")  # pylint: disable=consider-using-with
  except OSError as e:
    raise _os_error(e, output_dir) from None
  stage = None
  try:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise InputError(f"another tfinpaint run is writing to {output_dir}; wait for it or "
                       f"pick another {flag}") from None
    remove_stale_staging(parent, name)
    with _signals_raise():
      try:
        stage = tempfile.mkdtemp(prefix=f"{_STAGE_PREFIX}{name}-", dir=parent)
        with open(os.path.join(stage, _OWNER), "w") as f:
          f.write(str(os.getpid()))
      except OSError as e:
        raise _os_error(e, output_dir) from None
      yield stage
      try:
        os.remove(os.path.join(stage, _OWNER))
        files = {}
        for dirpath, _, filenames in os.walk(stage):
          for f in filenames:
            p = os.path.join(dirpath, f)
            files[os.path.relpath(p, stage)] = os.path.getsize(p)
        write_text(os.path.join(stage, MANIFEST), json.dumps(
            dict(what=describe, written=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 files=dict(sorted(files.items()))), indent=1) + "\n")
        _chmod_tree(stage)
        old = None
        if os.path.exists(output_dir):
          old = tempfile.mkdtemp(prefix=f".old-{name}-", dir=parent)
          os.rename(output_dir, os.path.join(old, name))
        try:
          os.rename(stage, output_dir)
        except OSError:
          if old is not None:
            os.rename(os.path.join(old, name), output_dir)  # put the previous run back
          raise
        stage = None
        if old is not None:
          shutil.rmtree(old, ignore_errors=True)
      except OSError as e:
        raise _os_error(e, output_dir) from None
  finally:
    if stage is not None:
      shutil.rmtree(stage, ignore_errors=True)
    lock.close()
