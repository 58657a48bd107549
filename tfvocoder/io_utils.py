"""Atomic writes: a file (temp file + rename) and a directory (swap).

Files: `atomic_path` and `atomic_write_bytes/text/json` (a temp file in the
same directory, then a rename). Directories: `staging_dir` + `replace_dir`
replace a whole directory of outputs at once (Linux `renameat2` with
`RENAME_EXCHANGE`, or a backup rename elsewhere); `recover_dir` and
`clean_dir_temps` tidy up after a process killed mid-swap. Temp names:
`.<name>.<random>.tmp` (files), `.<name>.tmp<random>` (dirs), and
`.<name>.backup` (the old dir during a fallback swap).
"""

import contextlib
import ctypes
import errno
import functools
import json
import os
import shutil
import signal
import tempfile
from typing import Callable, Iterator, List, Optional

from absl import logging

# Fault injection for tests: SIGKILL at the `fault_point` of this name.
KILL_AT_ENV = "TFVOCODER_KILL_AT"
# renameat2(2): "relative to the current directory" and the swap flag.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@contextlib.contextmanager
def atomic_path(path: str, mode: int = 0o644) -> Iterator[str]:
  """Yields a temp path beside `path`; renames it over `path` on success.

  Readers see the old file or the whole new one, never a part; on any error
  (or an interrupt) the temp file is removed and `path` is untouched.

  Args:
    path: the final file.
    mode: permission bits of the final file (`mkstemp` makes it 0o600).
  Yields:
    the temp file's path (it exists, empty); write it completely.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory,
                             prefix=f".{os.path.basename(path)}.", suffix=".tmp")
  os.close(fd)
  try:
    yield tmp
    with open(tmp, "rb") as f:
      os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Write `data` to `path` atomically (see `atomic_path`)."""
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(data)


def atomic_write_text(path: str, text: str) -> None:
  """Write UTF-8 `text` to `path` atomically."""
  atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, value) -> None:
  """Write `value` as indented, key-sorted JSON to `path` atomically."""
  atomic_write_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def fault_point(name: str) -> None:
  """Test hook: SIGKILL this process if $TFVOCODER_KILL_AT equals `name`."""
  if os.environ.get(KILL_AT_ENV) == name:
    os.kill(os.getpid(), signal.SIGKILL)


def staging_dir(final: str) -> str:
  """A new empty private dir beside `final` (`.<name>.tmp<random>`); fill it,
  then `replace_dir(staging, final)`."""
  parent, name = os.path.split(os.path.abspath(final))
  os.makedirs(parent, exist_ok=True)
  return tempfile.mkdtemp(prefix=f".{name}.tmp", dir=parent)


def backup_path(final: str) -> str:
  """Where `replace_dir`'s fallback keeps the old `final` during the swap."""
  parent, name = os.path.split(os.path.abspath(final))
  return os.path.join(parent, f".{name}.backup")


def replace_dir(staging: str, final: str) -> None:
  """Puts the complete dir `staging` at `final`, replacing any old one.

  A kill at any moment leaves the old `final` or the new one, never a mix:
  with Linux `renameat2(RENAME_EXCHANGE)` the swap is one system call;
  elsewhere the old dir is renamed to `backup_path(final)` first, and a kill
  between the two renames leaves `final` missing until `recover_dir`. The
  old contents are deleted afterwards (a kill then leaves a stale temp dir
  for `clean_dir_temps`).

  Args:
    staging: a dir beside `final` (see `staging_dir`), already complete.
    final: the dir to replace (itself: a symlink would be replaced, not its
      target; pass a real path).
  """
  _fsync_tree(staging)
  if not os.path.lexists(final):
    os.rename(staging, final)
  elif _exchange(staging, final):
    fault_point("replace_dir:exchanged")
    shutil.rmtree(staging)
  else:
    backup = backup_path(final)
    if os.path.lexists(backup):
      shutil.rmtree(backup)         # stale: `final` exists, so it is old
    os.rename(final, backup)
    fault_point("replace_dir:backed_up")
    os.rename(staging, final)
    shutil.rmtree(backup)
  _fsync_dir(os.path.dirname(os.path.abspath(final)))


def recover_dir(final: str) -> bool:
  """Restores `final` from its backup if a kill mid-swap left it missing.

  Returns:
    True if a backup was moved back to `final`.
  """
  backup = backup_path(final)
  if os.path.lexists(final) or not os.path.isdir(backup):
    return False
  try:
    os.rename(backup, final)
  except OSError as e:
    logging.warning("%s: missing; could not restore it from %s (%s)", final,
                    backup, e)
    return False
  logging.warning("%s: restored from %s (an earlier run was killed while "
                  "replacing it)", final, backup)
  return True


def clean_dir_temps(final: str) -> List[str]:
  """Recovers `final` (`recover_dir`), then removes the stale temp dirs of
  earlier killed runs beside it: `.<name>.tmp*` and, once `final` exists,
  `.<name>.backup`. Not for dirs another process is replacing right now.

  Returns:
    the removed paths.
  """
  recover_dir(final)
  parent, name = os.path.split(os.path.abspath(final))
  if not os.path.isdir(parent):
    return []
  stale = sorted(os.path.join(parent, entry) for entry in os.listdir(parent)
                 if entry.startswith(f".{name}.tmp")
                 or (entry == f".{name}.backup" and os.path.lexists(final)))
  for path in stale:
    if os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)
    else:
      os.remove(path)
    logging.info("removed %s (left by an interrupted run)", path)
  return stale


@functools.lru_cache(maxsize=None)
def _renameat2() -> Optional[Callable[..., int]]:
  """libc's `renameat2` (glibc >= 2.28), or None."""
  try:
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
  except OSError:
    return None


def _exchange(a: str, b: str) -> bool:
  """Swaps paths `a` and `b` atomically; False where the OS, libc or file
  system cannot (then nothing changed)."""
  renameat2 = _renameat2()
  if renameat2 is None:
    return False
  if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
               _RENAME_EXCHANGE) == 0:
    return True
  code = ctypes.get_errno()
  if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
    return False
  raise OSError(code, os.strerror(code), a, None, b)


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _fsync_tree(root: str) -> None:
  """Flushes every file and dir below `root`, so a swapped-in dir survives a
  power cut as a whole."""
  for directory, _, names in os.walk(root):
    for name in names:
      path = os.path.join(directory, name)
      if not os.path.islink(path):
        with open(path, "rb") as f:
          os.fsync(f.fileno())
    _fsync_dir(directory)


def output_dir_problem(output_dir: str) -> Optional[str]:
  """Why no file can be written in `output_dir` (one line naming it), or
  None. Creates nothing: `output_dir`, or its nearest existing ancestor
  (it is created later), must be a writable directory."""
  existing = os.path.abspath(output_dir)
  while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    if existing == os.path.abspath(output_dir):
      return f"output dir {output_dir}: exists and is not a directory"
    return (f"output dir {output_dir}: cannot be created, {existing} is not "
            "a directory")
  if not os.access(existing, os.W_OK | os.X_OK):
    what = "" if existing == os.path.abspath(output_dir) else f" ({existing})"
    return f"output dir {output_dir}: not writable{what}"
  return None
