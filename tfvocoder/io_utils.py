"""The one atomic write: a temp file in the same directory, then a rename."""

import contextlib
import json
import os
import tempfile
from typing import Iterator


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
