"""tfvocoder.cli: what a command prints on stderr (native INFO lines out,
our progress lines, warnings and errors in)."""

import logging as py_logging
import os
import subprocess
import sys
import textwrap

from absl import logging

from tfvocoder import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What TensorFlow 2.21 prints while it starts (copied from a run), and
# lines that must pass.
NATIVE_START = [
    b"WARNING: All log messages before absl::InitializeLog() is called are "
    b"written to STDERR",
    b"I0000 00:00:1796170098.743673    7657 port.cc:153] oneDNN custom "
    b"operations are on. You may see slightly different numerical results.",
    b"I0000 00:00:1796170098.744004    7657 cudart_stub.cc:31] Could not find "
    b"cuda drivers on your machine, GPU will not be used.",
    b"I0000 00:00:1796170098.790011    7657 cpu_feature_guard.cc:227] This "
    b"TensorFlow binary is optimized to use available CPU instructions in "
    b"performance-critical operations.",
    b"To enable the following instructions: AVX2 FMA, in other operations, "
    b"rebuild TensorFlow with the appropriate compiler flags.",
    b"I1202 00:33:19.542937    7657 cpu_allocator_impl.cc:83] after init",
    b"2024-01-02 03:04:05.123456: I tensorflow/core/platform/foo.cc:12] old",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
KEPT = [
    b"E0000 00:00:1796170103.518396    7657 cuda_platform.cc:52] failed call "
    b"to cuInit: INTERNAL: CUDA error",
    b"W0000 00:00:1796172130.838930   21012 tf_tfl_flatbuffer_helpers.cc:364] "
    b"Ignored output_format.",
    b"I1202 00:33:19.542937 140605755480960 build.py:207] prepare: 1/1 files",
    b"I 00:33:19 build.py:207] prepare: 1/1 files",
    b"W1202 00:33:19.542937 140605755480960 build.py:387] no usable audio",
    b"Traceback (most recent call last):",
    b"To enable the following instructions: (not after a dropped line)",
    b"INFO:root:a Python logging line",
    b"",
]


def test_keeps_everything_but_native_info_lines():
  stream = b"\n".join(NATIVE_START[:3] + KEPT[:2] + NATIVE_START[3:5]
                      + KEPT[2:5] + NATIVE_START[5:] + KEPT[5:]) + b"\n"
  lines = cli.LineFilter()
  # Fed in odd pieces: lines are judged whole.
  out = b"".join(lines.feed(stream[i:i + 7]) for i in range(0, len(stream), 7))
  assert out + lines.flush() == b"\n".join(KEPT) + b"\n"
  # An unfinished line (a prompt, a progress bar) comes out on flush.
  assert lines.feed(b"50%\r") == b"" and lines.flush() == b"50%\r"


def test_command_stderr_through_the_filter(tmp_path):
  # A command: setup first, then native lines from this process (fd 2)
  # and from a child, a Python warning, and an exit straight after; the
  # exit waits until the filter has forwarded everything.
  parent = NATIVE_START[1] + b"\n" + KEPT[1] + b"\n"
  child = "import os; os.write(2, %r)" % (NATIVE_START[2] + b"\n" + KEPT[0]
                                          + b"\n")
  script = textwrap.dedent(f"""
      import os, subprocess, sys
      from tfvocoder import cli
      cli.setup_logging()
      from absl import logging
      os.write(2, {parent!r})
      subprocess.run([sys.executable, "-c", {child!r}], check=True)
      logging.warning("careful: %s", os.environ["TF_CPP_MIN_LOG_LEVEL"])
      sys.stderr.write("no newline at the end")
      """)
  run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                       capture_output=True, timeout=60,
                       env={k: v for k, v in os.environ.items()
                            if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                         cli.FILTER_ENV)})
  assert run.returncode == 0, run.stderr
  lines = run.stderr.split(b"\n")
  assert lines[:3] == [KEPT[1], KEPT[0], lines[2]], run.stderr
  assert lines[2].endswith(b"careful: 1")       # TF_CPP_MIN_LOG_LEVEL set
  assert lines[3:] == [b"no newline at the end"]


def test_prepare_shows_progress_and_warnings_not_native_info(tmp_path):
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", cli.FILTER_ENV)}

  def prepare(*args):
    return subprocess.run(
        [sys.executable, "-m", "tfvocoder.data.prepare", "--workers=1",
         *args], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=env)

  # Writing shards starts TensorFlow (its native start-up lines).
  run = prepare("--synthetic=0.02", f"--output_dir={tmp_path / 'synth'}")
  assert run.returncode == 0, run.stderr
  assert "prepared " in run.stdout
  assert "] prepare: 1/1 files" in run.stderr, run.stderr
  assert "absl::InitializeLog" not in run.stderr, run.stderr
  assert "To enable the following" not in run.stderr, run.stderr
  for line in run.stderr.splitlines():
    assert not (line.startswith("I") and ".cc:" in line), run.stderr
  # A warning from our code gets through.
  os.makedirs(tmp_path / "junk")
  (tmp_path / "junk" / "x.wav").write_bytes(b"not audio")
  run = prepare(f"--input_dir={tmp_path / 'junk'}",
                f"--output_dir={tmp_path / 'none'}")
  assert any(line.startswith("W") and line.endswith(
      "] no usable audio: all 1 sources were skipped")
             for line in run.stderr.splitlines()), run.stderr


def test_terminal_format_and_quiet_libraries():
  record = py_logging.LogRecord("absl", py_logging.WARNING,
                                "/x/loop.py", 212, "step %d", (3,), None)
  line = cli.TerminalFormatter().format(record)
  assert line.startswith("W ") and line.endswith(" loop.py:212] step 3")
  assert len(line.split()[1]) == len("12:03:07")
  quiet = cli.QuietLibraries()
  tf_root = quiet.roots[0]
  info = py_logging.LogRecord("absl", py_logging.INFO,
                              os.path.join(tf_root, "saver.py"), 1, "x", (),
                              None)
  ours = py_logging.LogRecord("absl", py_logging.INFO, cli.__file__, 1, "x",
                              (), None)
  assert not quiet.filter(info) and quiet.filter(ours)
  info.levelno = py_logging.WARNING
  assert quiet.filter(info)
  info.levelno = py_logging.INFO
  old = logging.get_verbosity()
  try:
    logging.set_verbosity(logging.DEBUG)      # --verbosity=1 shows them
    assert quiet.filter(info)
  finally:
    logging.set_verbosity(old)
