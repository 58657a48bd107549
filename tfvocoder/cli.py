"""Start-up shared by every command: readable logs on stderr.

Each command line (`train.py`, `python -m tfvocoder.vocode` / `evaluate` /
`quickstart` / `data.prepare`, `python -m export`) calls `setup_logging()`
first, before TensorFlow is imported: before `app.run`, or, in a command
whose imports load TensorFlow, above them:

  from tfvocoder import cli

  if __name__ == "__main__":
    cli.setup_logging()

  from tfvocoder import training      # imports TensorFlow

It sets, for this process and every child it starts:

- TensorFlow's native log level: `TF_CPP_MIN_LOG_LEVEL=1` (warnings and
  errors) unless already set, and the Python `tensorflow` logger to
  WARNING.
- An stderr filter (POSIX): TensorFlow 2.21 logs through absl's C++
  logging, and whatever is logged before `absl::InitializeLog()` (which
  nothing in TensorFlow calls) goes to stderr whatever the level: on each
  start of its shared libraries, a "WARNING: All log messages before
  absl::InitializeLog() ..." preamble and INFO lines (oneDNN, CUDA stub,
  CPU features); TFLite prints "INFO: Created TensorFlow Lite XNNPACK
  delegate" whatever the level too. No variable turns those off:
  `TF_CPP_MIN_LOG_LEVEL` (even 3) acts only on later lines, absl's C++
  `--minloglevel` / `--stderrthreshold` cannot be set from Python and absl
  reads no variables (`GLOG_minloglevel` does nothing). So fd 2 becomes a
  pipe into a small filter process (`run_filter`) that drops native INFO
  lines (`NATIVE_INFO`: `I<mmdd> <time> <thread> <file>.cc:<line>]`,
  TFLite's `INFO: ...`), the preamble and the "To enable the following
  instructions" line continuing a dropped one, and forwards everything
  else unchanged: native warnings and errors, every Python log line
  (absl's name a `.py` file), tracebacks, crash reports. A separate
  process rather than a thread, so a native crash or `os._exit` loses
  nothing; in its own session, so Ctrl-C leaves it to drain. At exit, fd 2
  is restored and the filter given `EXIT_WAIT_SECONDS` to forward the last
  lines. Children inherit the pipe (their lines are filtered too); a
  command started by another one uses its parent's filter (`FILTER_ENV`
  names the pipe) instead of starting its own. (`python -m export` loads
  TensorFlow in its package's `__init__`, before its `__main__` runs: its
  first start-up lines come before the filter.)
- absl's Python log lines: INFO lines logged by TensorFlow's and Keras's
  own Python code hidden (`QuietLibraries`; `--verbosity=1` shows them);
  on a terminal, a short prefix (`I 12:03:07 loop.py:212] ...`: level,
  time, file and line), elsewhere absl's full one. `--verbosity`,
  `--logtostderr`, `--log_dir` work as usual.

`TF_CPP_MIN_LOG_LEVEL=0` shows everything (no filter, TensorFlow's Python
log lines untouched); `TFVOCODER_STDERR_FILTER=off` turns only the stderr
filter off.
"""

import atexit
import importlib.util
import logging as py_logging
import os
import re
import select
import subprocess
import sys
import time
from typing import List, Optional

from absl import logging

FILTER_ENV = "TFVOCODER_STDERR_FILTER"   # "<dev>:<inode>:<tty>" or "off"
EXIT_WAIT_SECONDS = 5.0     # how long an exiting command waits for its filter
PARTIAL_LINE_SECONDS = 0.1  # an unfinished line is forwarded after this pause
_SOURCE = rb"[\w.+-]+\.(?:cc|cpp|cxx|c|h|hpp|cu|mm)"
# Native INFO lines: absl (also before InitializeLog: "I0000 00:00:<epoch>")
# and TensorFlow's older "<date> <time>: I <file>:<line>]", and TFLite's.
NATIVE_INFO = re.compile(
    rb"^(?:I\d{4} \d\d:\d\d:[\d.]+ +\d+ " + _SOURCE + rb":\d+\] "
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I [\w./+-]*" + _SOURCE +
    rb":\d+\] |INFO: )")
PREAMBLE = (b"WARNING: All log messages before absl::InitializeLog() is "
            b"called are written to STDERR")
CONTINUATIONS = (b"To enable the following instructions:",)
# Packages whose Python INFO lines are hidden unless --verbosity >= 1.
QUIET_PACKAGES = ("tensorflow", "keras", "tf_keras", "ai_edge_litert",
                  "tensorboard")

_installed = False


def keep_line(line: bytes, after_dropped: bool) -> bool:
  """Whether the filter forwards `line` (without its newline).

  Args:
    line: one line of stderr, bytes.
    after_dropped: the line before it was dropped (a continuation of a
      dropped multi-line message is dropped too).
  """
  line = line.rstrip(b"\r")
  if line == PREAMBLE or NATIVE_INFO.match(line):
    return False
  return not (after_dropped and line.startswith(CONTINUATIONS))


class LineFilter:
  """`keep_line` over a byte stream that arrives in arbitrary pieces."""

  def __init__(self):
    self.partial = b""
    self.dropped = False

  def feed(self, data: bytes) -> bytes:
    """The complete lines of `partial + data` that are kept (an unfinished
    last line waits in `partial`)."""
    *lines, self.partial = (self.partial + data).split(b"\n")
    out = []
    for line in lines:
      keep = keep_line(line, self.dropped)
      self.dropped = not keep
      if keep:
        out.append(line + b"\n")
    return b"".join(out)

  def flush(self) -> bytes:
    """The unfinished line, forwarded as is (the writer paused or ended)."""
    out, self.partial = self.partial, b""
    if out:
      self.dropped = False
    return out


def _write_all(fd: int, data: bytes) -> bool:
  """Writes `data` to `fd`; False if it is gone (closed pipe, bad fd)."""
  try:
    while data:
      data = data[os.write(fd, data):]
  except OSError:
    return False
  return True


def run_filter(source: int = 0, target: int = 1) -> None:
  """The filter process: `source` through `LineFilter` to `target` until
  every writer has closed `source` (unfinished lines are forwarded after
  `PARTIAL_LINE_SECONDS`). If `target` goes away the rest is read and
  discarded, so writers never block or fail."""
  lines, alive = LineFilter(), True
  while True:
    timeout = PARTIAL_LINE_SECONDS if lines.partial else None
    ready, _, _ = select.select([source], [], [], timeout)
    if not ready:
      alive = alive and _write_all(target, lines.flush())
      continue
    data = os.read(source, 1 << 16)
    out = lines.feed(data) + (b"" if data else lines.flush())
    alive = alive and _write_all(target, out)
    if not data:
      return


def _inherited_filter() -> Optional[bool]:
  """Whether stderr is a terminal, if fd 2 is the pipe of a parent
  command's filter (`FILTER_ENV`); else None."""
  try:
    info = os.fstat(2)
  except OSError:
    return None
  mark = os.environ.get(FILTER_ENV, "").split(":")
  if len(mark) == 3 and mark[:2] == [str(info.st_dev), str(info.st_ino)]:
    return mark[2] == "1"
  return None


def _filter_command() -> List[str]:
  """The filter process's command line (this package importable from it,
  whatever the working directory)."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  code = (f"import sys; sys.path.insert(0, {root!r}); "
          "from tfvocoder.cli import run_filter; run_filter()")
  return [sys.executable, "-c", code]


def install_stderr_filter(terminal: bool) -> bool:
  """Points fd 2 at a new `run_filter` process that writes to the old
  stderr (module docstring); restored at exit. Returns whether it did.

  Args:
    terminal: the old stderr is a terminal (passed on to child commands in
      `FILTER_ENV`).
  """
  if os.name != "posix":
    return False
  try:
    saved = os.dup(2)
  except OSError:                 # no stderr at all: nothing to filter
    return False
  read_end, write_end = os.pipe()
  try:
    process = subprocess.Popen(_filter_command(), stdin=read_end,
                               stdout=saved, stderr=saved,
                               start_new_session=True)
  except OSError:
    for fd in (read_end, write_end, saved):
      os.close(fd)
    return False
  os.close(read_end)
  sys.stderr.flush()
  os.dup2(write_end, 2)
  os.close(write_end)
  info = os.fstat(2)
  os.environ[FILTER_ENV] = f"{info.st_dev}:{info.st_ino}:{int(terminal)}"
  atexit.register(_stop_filter, process, saved, os.getpid())
  return True


def _stop_filter(process: subprocess.Popen, saved: int, owner: int) -> None:
  """At exit (of `owner`, not of a forked child): flushes, gives fd 2 back
  to the old stderr and waits for the filter to forward the last lines (it
  ends once no child holds the pipe either; a straggler is left to finish
  on its own)."""
  if os.getpid() != owner:
    return
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):
      pass
  os.dup2(saved, 2)
  os.close(saved)
  try:
    process.wait(timeout=EXIT_WAIT_SECONDS)
  except subprocess.TimeoutExpired:
    pass


class TerminalFormatter(logging.PythonFormatter):
  """absl's Python log lines for a person: `I 12:03:07 loop.py:212] msg`
  (absl's full prefix adds the date, microseconds and the thread id; kept
  when absl writes to a log file instead of stderr)."""

  def format(self, record: py_logging.LogRecord) -> str:
    if logging.get_absl_handler().python_handler.stream is not sys.stderr:
      return super().format(record)
    level = logging.converter.get_initial_for_level(record.levelno)
    stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
    prefix = f"{level} {stamp} {record.filename}:{record.lineno}] "
    return prefix + py_logging.Formatter.format(self, record)


class QuietLibraries(py_logging.Filter):
  """Drops INFO and DEBUG records logged from `QUIET_PACKAGES`' Python files
  (TensorFlow logs through absl too: "Sharding callback duration", "Writing
  fingerprint to ..."), unless absl's `--verbosity` is 1 (debug) or more.
  Warnings and errors pass."""

  def __init__(self, packages=QUIET_PACKAGES):
    super().__init__()
    roots = []
    for name in packages:
      try:
        spec = importlib.util.find_spec(name)   # finds, does not import
      except (ImportError, ValueError):
        spec = None
      roots += list(spec.submodule_search_locations or []) if spec else []
    self.roots = tuple(os.path.join(root, "") for root in roots)

  def filter(self, record: py_logging.LogRecord) -> bool:
    return (record.levelno >= py_logging.WARNING
            or logging.get_verbosity() >= logging.DEBUG
            or not record.pathname.startswith(self.roots))


def setup_logging() -> None:
  """Native and Python log levels, the stderr filter and a terminal format
  (module docstring). Call it first in a command, before TensorFlow is
  imported; a second call does nothing."""
  global _installed
  if _installed:
    return
  _installed = True
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
  everything = os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() == "0"
  if not everything:
    py_logging.getLogger("tensorflow").setLevel(py_logging.WARNING)
  terminal = _inherited_filter()
  if terminal is None:
    terminal = os.isatty(2)
    if not everything and os.environ.get(FILTER_ENV) != "off":
      install_stderr_filter(terminal)
  handler = logging.get_absl_handler()
  if not everything:
    handler.addFilter(QuietLibraries())
  if terminal:
    handler.setFormatter(TerminalFormatter())
