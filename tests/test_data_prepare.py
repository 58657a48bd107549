"""prepare: the command line (flags, printed summary, exit status)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from data_fixtures import write_tree
from tfvocoder.data import prepare


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("audio")
  write_tree(str(root))
  return root


def _cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", "tfvocoder.data.prepare",
                         *args], capture_output=True, text=True, env=env,
                        timeout=120)


def test_summary_lines():
  manifest = dict(
      splits=dict(train=dict(files=3, seconds=5400.0, shards=["a", "b"],
                             bytes=2_500_000),
                  test=dict(files=0, seconds=0.0, shards=[], bytes=0)),
      skipped=[dict(path="x.wav", reason="silent", detail="quiet"),
               dict(path="y.ogg", reason="empty", detail="0 bytes"),
               dict(path="z.ogg", reason="empty", detail="0 bytes")])
  assert prepare.summarize(manifest).splitlines() == [
      "train: 3 files, 1.500 h, 2 shards, 2.5 MB",
      "test: 0 files, 0.000 h, 0 shards, 0.0 MB",
      "skipped: 3 files (2 empty, 1 silent)",
      "  skipped x.wav: silent: quiet",
      "  skipped y.ogg: empty: 0 bytes",
      "  skipped z.ogg: empty: 0 bytes"]


def test_cli_usage_errors(tmp_path):
  for args, message in [
      ((), "Flag --output_dir must have a value other than None"),
      ((f"--output_dir={tmp_path / 'o'}",),
       "give --input_dir (or --synthetic=MINUTES)"),
      ((f"--output_dir={tmp_path / 'o'}", "extra"),
       "unexpected arguments: ['extra']")]:
    run = _cli(*args)
    assert run.returncode == 1 and message in run.stderr, (args, run.stderr)
    assert run.stdout == ""
  assert not os.path.exists(tmp_path / "o")


def test_cli_error_and_success(tree, tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  cmd = [sys.executable, "-m", "tfvocoder.data.prepare"]
  bad = subprocess.run(cmd + [f"--input_dir={tmp_path / 'nope'}",
                              f"--output_dir={tmp_path / 'o'}"],
                       capture_output=True, text=True, env=env, timeout=120)
  assert bad.returncode != 0 and "does not exist" in bad.stderr
  good_dir = tmp_path / "in"
  good_dir.mkdir()
  shutil.copy(tree / "a.wav", good_dir / "a.wav")
  shutil.copy(tree / "broken" / "text.wav", good_dir / "text.wav")
  run = subprocess.run(cmd + [f"--input_dir={good_dir}",
                              f"--output_dir={tmp_path / 'o'}",
                              "--workers=1", "--window=2048",
                              "--holdout_fraction=0"],
                       capture_output=True, text=True, env=env, timeout=120)
  assert run.returncode == 0, run.stderr
  assert re.search(r"train: 1 files, 0\.001 h, 1 shards", run.stdout)
  assert "skipped: 1 files (1 unreadable)" in run.stdout


def test_prepare_synthetic_cli(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = subprocess.run(
      [sys.executable, "-m", "tfvocoder.data.prepare", "--synthetic=0.25",
       f"--output_dir={tmp_path}", "--workers=1", "--window=2048"],
      capture_output=True, text=True, env=env, timeout=120)
  assert run.returncode == 0, run.stderr
  assert "train: 1 files, 0.004 h, 1 shards" in run.stdout
  assert "skipped: 0 files" in run.stdout


def test_cli_bad_dirs_are_one_line(tmp_path):
  (tmp_path / "in").mkdir()
  (tmp_path / "in" / "a.wav").write_bytes(b"not hashed")
  (tmp_path / "file").write_text("a regular file")
  below, file = tmp_path / "file" / "out", tmp_path / "file"
  for args, message in [
      ((f"--input_dir={tmp_path / 'in'}", f"--output_dir={below}"),
       f"output dir {below}: cannot be created, {file} is not a directory"),
      (("--synthetic=0.25", f"--output_dir={below}"),
       f"output dir {below}: cannot be created, {file} is not a directory"),
      ((f"--input_dir={tmp_path / 'in'}", f"--output_dir={file}"),
       f"output dir {file}: exists and is not a directory"),
      ((f"--input_dir={tmp_path / 'nope'}", f"--output_dir={tmp_path / 'o'}"),
       f"input dir '{tmp_path / 'nope'}' does not exist or is not a "
       "directory")]:
    run = _cli(*args, "--workers=1")
    assert (run.returncode, run.stdout) == (1, ""), (args, run.stderr)
    assert run.stderr.splitlines() == [f"prepare: error: {message}"], args
  assert (tmp_path / "file").read_text() == "a regular file"
  assert not os.path.exists(tmp_path / "o")
