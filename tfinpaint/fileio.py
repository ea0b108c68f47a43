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
MANIFEST.json listing every file written and its SHA-256 last, replaces `output_dir` in one
rename. Nothing tfinpaint did not write is ever removed or replaced: an existing `output_dir` is
replaced only when its manifest is tfinpaint's own (tool, format) and lists every file the
folder holds, unchanged; a staging folder is cleaned only when its owner record says a
tfinpaint run of this host that is no longer alive made it. A lock file beside the folder
serialises two runs on one folder (the second fails clearly), SIGTERM and SIGINT remove the
staging folder. Folders that hold exported models, and folders that hold the run's own inputs,
are refused as outputs.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time

from tfinpaint.errors import InputError

MANIFEST = "MANIFEST.json"
TOOL = "tfinpaint"
MANIFEST_FORMAT = 2  # 2: tool, format, files {path: {bytes, sha256}}
_STAGE_PREFIX = ".tmp-"
_OWNER = ".tfinpaint-owner.json"


def _umask():
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _chmod(path, directory=False):
  os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _os_error(e, what):
  """The one line of an OSError met while writing `what` (a path the user named or owns).

  Every such error is about the user's file system (a full disk, permissions, a file size limit,
  a name too long, a file where a folder should be), so it is an InputError naming the path.
  """
  if e.errno in (errno.ENOSPC, errno.EDQUOT):
    return InputError(f"no space left on the device while writing {what}")
  if e.errno == errno.EFBIG:
    return InputError(f"cannot write {what}: the file exceeds the size limit (ulimit -f)")
  if e.errno == errno.ENAMETOOLONG:
    return InputError(f"cannot write {what}: a file name is too long for the file system")
  if e.errno in (errno.ENOTDIR, errno.EEXIST) and e.filename:
    return InputError(f"cannot write {what}: a part of {e.filename} is a file, not a folder")
  return InputError(f"cannot write {what}: {e.strerror or e}")


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


def _owner_record():
  return {"tool": TOOL, "pid": os.getpid(), "host": socket.gethostname()}


def _stale(folder):
  """True when `folder` is a staging folder that a tfinpaint run of this host left behind and
  that run is no longer alive (its owner record says so); anything else is not ours to clean."""
  try:
    with open(os.path.join(folder, _OWNER), encoding="utf-8") as f:
      owner = json.load(f)
  except (OSError, ValueError):
    return False
  if not isinstance(owner, dict) or owner.get("tool") != TOOL or \
      owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
    return False
  return not _pid_alive(owner["pid"])


def remove_stale_staging(parent, name):
  """Removes staging folders of `name` in `parent` left by dead tfinpaint runs (owner records)."""
  removed = []
  if not os.path.isdir(parent):
    return removed
  for entry in os.listdir(parent):
    folder = os.path.join(parent, entry)
    if entry.startswith(f"{_STAGE_PREFIX}{name}-") and not os.path.islink(folder) and \
        os.path.isdir(folder) and _stale(folder):
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


def _sha256(path):
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _listing(root):
  """{relative path: {"bytes", "sha256"}} of every file under root (MANIFEST.json excluded)."""
  files = {}
  for dirpath, _, filenames in os.walk(root):
    for f in filenames:
      p = os.path.join(dirpath, f)
      rel = os.path.relpath(p, root)
      if rel != MANIFEST:
        files[rel] = {"bytes": os.path.getsize(p), "sha256": _sha256(p)}
  return dict(sorted(files.items()))


def foreign_content(path):
  """None when folder `path` is a tfinpaint output that may be replaced, else why not (a phrase).

  It may be replaced when its MANIFEST.json is tfinpaint's (tool and format) and lists every
  file and folder it holds, each unchanged (size and SHA-256): then replacing it removes only
  what tfinpaint wrote (files the user deleted from it are simply gone).
  """
  try:
    with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
      manifest = json.load(f)
  except FileNotFoundError:
    return f"holds files tfinpaint did not write (no {MANIFEST})"
  except (OSError, ValueError):
    return f"has a {MANIFEST} that tfinpaint did not write"
  if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
    return f"has a {MANIFEST} that tfinpaint did not write"
  if manifest.get("tool") != TOOL and not str(manifest.get("what", "")).startswith("bin."):
    return f"has a {MANIFEST} that tfinpaint did not write"
  if manifest.get("tool") != TOOL or manifest.get("format") != MANIFEST_FORMAT:
    return (f"was written by another version of tfinpaint (manifest format "
            f"{manifest.get('format', 1)}); remove it yourself if it can go")
  listed = manifest["files"]
  for dirpath, dirnames, filenames in os.walk(path):
    for d in dirnames:
      rel = os.path.relpath(os.path.join(dirpath, d), path)
      full = os.path.join(path, rel)
      if os.path.islink(full) or not any(p.startswith(rel + os.sep) for p in listed):
        return f"holds {rel}, which tfinpaint did not write"
    for f in filenames:
      rel = os.path.relpath(os.path.join(dirpath, f), path)
      if rel == MANIFEST:
        continue
      entry = listed.get(rel)
      full = os.path.join(path, rel)
      if not isinstance(entry, dict) or os.path.islink(full):
        return f"holds {rel}, which tfinpaint did not write"
      if os.path.getsize(full) != entry.get("bytes") or _sha256(full) != entry.get("sha256"):
        return f"holds {rel}, which changed since tfinpaint wrote it"
  return None


def _is_inside(path, folder):
  path, folder = os.path.realpath(path), os.path.realpath(folder)
  return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def export_root_of(path):
  """The folder at or above `path` that holds exported models (SavedModel version folders, or
  a saved_model.pb), or None: results must never be published into one."""
  path = os.path.abspath(path)
  while True:
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
      return path
    try:
      entries = os.listdir(path) if os.path.isdir(path) else []
    except OSError:
      entries = []
    if any(e.isdigit() and os.path.isfile(os.path.join(path, e, "saved_model.pb"))
           for e in entries):
      return path
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent


def check_folder_path(path, flag):
  """The absolute path of a folder to be written, or an InputError naming `flag`: refused when
  it is a file, lies under a file, or has a name too long for a staging folder beside it."""
  path = os.path.abspath(os.path.expanduser(os.fspath(path)))
  name = os.path.basename(path)
  if len(os.fsencode(name)) > 255 - 32:  # room for the staging folder's prefix and suffix
    raise InputError(f"{flag}: the folder name {name[:40]}... is too long for the file system "
                     "(at most 223 bytes, leaving room for the staging folder beside it)")
  if os.path.exists(path) and not os.path.isdir(path):
    raise InputError(f"{flag} exists and is not a folder: {path}")
  above = os.path.dirname(path)
  while not os.path.lexists(above) and os.path.dirname(above) != above:
    above = os.path.dirname(above)
  if not os.path.isdir(above):
    raise InputError(f"{flag} {path}: {above} is a file, not a folder")
  return path


def check_output_dir(output_dir, *, flag="--output_dir", inputs=()):
  """Refuses, with one line, an output folder that publishing would have to harm.

  Returns the absolute path. Refused: a path that is a file or a symbolic link, a folder that
  is not a tfinpaint output (`foreign_content`), a folder inside an export root (TF Serving
  would take it for a model version), a folder that holds one of `inputs` (files the run reads).
  """
  output_dir = check_folder_path(output_dir, flag)
  if os.path.islink(output_dir):
    raise InputError(f"{flag} {output_dir} is a symbolic link; name the folder itself")
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise InputError(f"{flag} exists and is not a folder: {output_dir}")
  root = export_root_of(output_dir)
  if root is not None:
    raise InputError(f"{flag} {output_dir} is inside {root}, which holds exported models (TF "
                     "Serving would take a folder there for a model version); pick a folder "
                     "outside it")
  for path in inputs:
    if path and _is_inside(path, output_dir):
      raise InputError(f"{flag} {output_dir} holds {path}, which this run reads; pick another "
                       f"{flag}")
  if os.path.isdir(output_dir) and os.listdir(output_dir):
    why = foreign_content(output_dir)
    if why:
      raise InputError(f"{flag} {output_dir} {why}; pick a new or empty folder")
  return output_dir


_SWAP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _swap(stage, output_dir, flag):
  """Puts `stage` in place of `output_dir`; a signal meanwhile waits until the swap is done.

  The previous folder is moved aside first and checked there (nothing can reach it by its path
  any more, so a file saved into it during the check cannot be lost): if it holds anything
  tfinpaint did not write, it goes back and nothing is replaced. SIGTERM / SIGINT / SIGHUP are
  recorded by a handler of their own (Python runs handlers in the main thread, whatever thread
  the signal reached) and raised as KeyboardInterrupt once both renames are done.
  """
  parent, name = os.path.dirname(output_dir), os.path.basename(output_dir)
  pending, previous = [], {}

  def defer(signum, frame):
    del frame
    pending.append(signum)
  for sig in _SWAP_SIGNALS:
    try:
      previous[sig] = signal.signal(sig, defer)
    except ValueError:  # not the main thread: no handler can run here anyway
      pass
  old = None
  try:
    if os.path.lexists(output_dir):
      old = tempfile.mkdtemp(prefix=f".old-{name}-", dir=parent)
      moved = os.path.join(old, name)
      os.rename(output_dir, moved)
      why = foreign_content(moved) if os.listdir(moved) else None
      if why:  # changed while this run computed
        os.rename(moved, output_dir)
        raise InputError(f"{flag} {output_dir} {why}; nothing was replaced")
    try:
      os.rename(stage, output_dir)
    except OSError as e:
      if old is not None and not os.path.lexists(output_dir):
        os.rename(os.path.join(old, name), output_dir)  # put the previous run back
      if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
        kept = f"; the previous results are in {os.path.join(old, name)}" if old is not None \
            and os.path.lexists(os.path.join(old, name)) else ""
        raise InputError(f"{flag} {output_dir} was created by someone else while this run "
                         f"wrote; nothing was replaced{kept}") from None
      raise
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  finally:
    if old is not None and os.path.isdir(old) and not os.listdir(old):
      os.rmdir(old)
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  if pending:
    raise KeyboardInterrupt(f"signal {pending[0]}")


@contextlib.contextmanager
def published(output_dir, *, describe="results", flag="--output_dir", inputs=()):
  """Yields a staging folder; on success it replaces `output_dir` in one atomic step.

  `flag` is the command's name for the folder, used in its error lines; `inputs` are the files
  the run reads (never inside the output folder).

  `output_dir` must be absent, empty, or an unchanged earlier tfinpaint output
  (`check_output_dir`): it is replaced as a whole, so a reader sees the old run or the new one,
  never a mix. The staging folder gets MANIFEST.json (tool, format, every file with its size and
  SHA-256) last. One run at a time per folder (a lock file `.<name>.lock` beside it). On any
  failure, or SIGTERM / SIGINT, the staging folder is removed and `output_dir` is left as it was.
  """
  output_dir = check_output_dir(output_dir, flag=flag, inputs=inputs)
  parent, name = os.path.dirname(output_dir), os.path.basename(output_dir)
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
        with open(os.path.join(stage, _OWNER), "w", encoding="utf-8") as f:
          json.dump(_owner_record(), f)
      except OSError as e:
        raise _os_error(e, output_dir) from None
      yield stage
      try:
        os.remove(os.path.join(stage, _OWNER))
        write_text(os.path.join(stage, MANIFEST), json.dumps(
            dict(tool=TOOL, format=MANIFEST_FORMAT, what=describe,
                 written=time.strftime("%Y-%m-%dT%H:%M:%S%z"), files=_listing(stage)),
            indent=1) + "\n")
        _chmod_tree(stage)
        _swap(stage, output_dir, flag)
        stage = None
      except OSError as e:
        raise _os_error(e, output_dir) from None
  finally:
    if stage is not None:
      shutil.rmtree(stage, ignore_errors=True)
    lock.close()
