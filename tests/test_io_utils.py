"""`tfvocoder.io_utils`: atomic file writes and the atomic directory swap.

Kills are real: a child Python process (stdlib + io_utils only, fast) is
SIGKILLed at a `fault_point`, then the tree is checked.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tfvocoder import io_utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# argv: final dir, "exchange" or "fallback". Builds a new export-like dir
# beside `final` and swaps it in.
_SWAP_SCRIPT = textwrap.dedent("""
    import os, sys
    from tfvocoder import io_utils
    final, mode = sys.argv[1:3]
    if mode == "fallback":
      io_utils._exchange = lambda a, b: False
    staging = io_utils.staging_dir(final)
    for name in ("new_a", "new_b"):
      with open(os.path.join(staging, name), "w") as f:
        f.write(name)
    io_utils.replace_dir(staging, final)
""")


def _tree(root):
  """{relative path: contents} of every file below `root`."""
  out = {}
  for directory, _, names in os.walk(root):
    for name in names:
      path = os.path.join(directory, name)
      with open(path) as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


def _old_dir(tmp_path):
  final = tmp_path / "out"
  (final / "sub").mkdir(parents=True)
  (final / "old_a").write_text("old_a")
  (final / "sub" / "old_b").write_text("old_b")
  return str(final)


def _swap_in_child(final, mode, kill_at=None):
  env = dict(os.environ)
  env.pop(io_utils.KILL_AT_ENV, None)
  if kill_at:
    env[io_utils.KILL_AT_ENV] = kill_at
  run = subprocess.run([sys.executable, "-c", _SWAP_SCRIPT, final, mode],
                       cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=60)
  return run.returncode


NEW = {"new_a": "new_a", "new_b": "new_b"}
OLD = {"old_a": "old_a", os.path.join("sub", "old_b"): "old_b"}


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_replace_dir_swaps_whole_dir(tmp_path, mode):
  final = _old_dir(tmp_path)
  assert _swap_in_child(final, mode) == 0
  assert _tree(final) == NEW
  assert sorted(os.listdir(tmp_path)) == ["out"]       # no temp, no backup


def test_replace_dir_creates_missing_dir(tmp_path):
  final = str(tmp_path / "deep" / "out")
  assert _swap_in_child(final, "exchange") == 0
  assert _tree(final) == NEW


@pytest.mark.parametrize("mode,kill_at,expected", [
    ("exchange", "replace_dir:exchanged", NEW),   # old copy left as temp
    ("fallback", "replace_dir:backed_up", OLD),   # final missing: recovered
])
def test_kill_mid_swap_leaves_old_or_new_and_is_cleaned(tmp_path, mode,
                                                        kill_at, expected):
  final = _old_dir(tmp_path)
  assert _swap_in_child(final, mode, kill_at) == -signal.SIGKILL
  assert os.listdir(tmp_path) != ["out"]               # something left over
  removed = io_utils.clean_dir_temps(final)
  assert _tree(final) == expected
  assert sorted(os.listdir(tmp_path)) == ["out"]
  assert all(os.path.basename(p).startswith(".out.") for p in removed)


def test_recover_dir_only_when_final_is_missing(tmp_path):
  final = _old_dir(tmp_path)
  os.rename(final, io_utils.backup_path(final))
  assert io_utils.recover_dir(final)
  assert _tree(final) == OLD
  os.mkdir(io_utils.backup_path(final))                 # stale, final exists
  assert not io_utils.recover_dir(final)
  assert io_utils.clean_dir_temps(final) == [io_utils.backup_path(final)]
  assert _tree(final) == OLD


def test_clean_dir_temps_leaves_other_siblings(tmp_path):
  final = _old_dir(tmp_path)
  for name in (".out.tmpabc", ".outer.tmpx", "out.tmp", ".other.tmp1"):
    (tmp_path / name).mkdir()
  io_utils.staging_dir(final)
  removed = io_utils.clean_dir_temps(final)
  assert len(removed) == 2
  assert sorted(os.listdir(tmp_path)) == [".other.tmp1", ".outer.tmpx", "out",
                                          "out.tmp"]


def test_atomic_write_leaves_no_temp_on_error(tmp_path):
  path = tmp_path / "x.json"
  io_utils.atomic_write_json(str(path), {"a": 1})
  with pytest.raises(TypeError):
    io_utils.atomic_write_json(str(path), {"a": object()})
  assert path.read_text() == '{\n "a": 1\n}\n'
  assert os.listdir(tmp_path) == ["x.json"]
