"""train.py as a user runs it: one-line errors, and resuming a run.

Every error case fails before training starts (a few seconds each, mostly
the TensorFlow import); the resume tests train the tiny config one step,
then resume it (restore only: the old crash was in the restore).
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

import eval_fixtures
from tfvocoder.config import tiny_config
from tfvocoder.data import sources
from tfvocoder.training import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# quickstart.flags' losses and learning rate on the tiny config.
TINY_QUICKSTART = """--model=multiscale
--learning_rate=2e-4
--feature_matching_weight=10
--stft_loss_weight=2.5
--mel_loss_weight=45
--batch_size=2
--checkpoint_every=1
--summary_every=1
--strategy=default
--window=2048
--n_mels=32
--filter_bank_filters=16
--filter_bank_taps=32
--gen_channels=16
--disc_channels=16
--joint_channels=32
"""


def run_train(*args, timeout=300):
  """`python train.py ARGS...` -> CompletedProcess (text stdout/stderr)."""
  return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                         *args], capture_output=True, text=True,
                        timeout=timeout, cwd=ROOT,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def assert_one_line_error(run, expected):
  """rc 1, no traceback, and `expected` in a `train: error:` or absl usage
  line."""
  assert run.returncode == 1, run.stderr[-3000:]
  assert "Traceback" not in run.stderr, run.stderr[-3000:]
  lines = [line for line in run.stderr.splitlines()
           if line.startswith(("train: error:", "FATAL Flags parsing error:"))]
  assert len(lines) == 1, run.stderr[-3000:]
  assert expected in lines[0], lines[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """The session's small synthetic shard dir (read only)."""
  return eval_fixtures.shared_shards(tmp_path_factory)


@pytest.fixture(scope="module")
def other_data_dir(tmp_path_factory):
  """Other synthetic music in 4 training shards (the first dir has 1)."""
  path = str(tmp_path_factory.mktemp("other_shards"))
  sources.write_synthetic_dataset(path, tiny_config(), minutes=0.5, seed=2,
                                  workers=1, shard_bytes=100_000,
                                  record_seconds=2)
  return path


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, data_dir):
  """A 1-step run of TINY_QUICKSTART (read only: copy it to resume)."""
  root = tmp_path_factory.mktemp("first_run")
  flagfile = root / "tiny_quickstart.flags"
  flagfile.write_text(TINY_QUICKSTART)
  model_dir = str(root / "run")
  run = run_train(f"--flagfile={flagfile}", f"--data_dir={data_dir}",
                  f"--model_dir={model_dir}", "--max_steps=1")
  assert run.returncode == 0, run.stderr[-3000:]
  return model_dir


def _bad_args(tmp_path, data_dir):
  """(case, argv, expected) for each user error, given `tmp_path`."""
  model_dir = str(tmp_path / "run")
  a_file = tmp_path / "a_file"
  a_file.write_text("not a dir")
  (tmp_path / "empty").mkdir()
  good = [f"--data_dir={data_dir}", f"--model_dir={model_dir}"]
  return {
      "batch_0": (good + ["--batch_size=0"], "flag --batch_size=0"),
      "batch_negative": (good + ["--batch_size=-2"], "flag --batch_size=-2"),
      "batch_vs_replicas": (good + ["--strategy=mirrored", "--cpu_replicas=2",
                                    "--batch_size=3"],
                            "--batch_size=3 must be divisible by the 2 "
                            "replicas"),
      "model": (good + ["--model=foo"], "model='foo'"),
      "missing_data_dir": ([f"--data_dir={tmp_path / 'nope'}",
                            f"--model_dir={model_dir}"],
                           f"{tmp_path / 'nope'}/train-*.tfrecord"),
      "empty_data_dir": ([f"--data_dir={tmp_path / 'empty'}",
                          f"--model_dir={model_dir}"],
                         f"{tmp_path / 'empty'}/train-*.tfrecord"),
      "model_dir_below_file": ([f"--data_dir={data_dir}",
                                f"--model_dir={a_file / 'run'}"],
                               f"model dir {a_file / 'run'}: cannot be "
                               f"created, {a_file} is not a directory"),
      "model_dir_is_file": ([f"--data_dir={data_dir}",
                             f"--model_dir={a_file}"],
                            f"model dir {a_file}: exists and is not a "
                            "directory"),
  }


@pytest.mark.parametrize("case", [
    "batch_0", "batch_negative", "batch_vs_replicas", "model",
    "missing_data_dir", "empty_data_dir", "model_dir_below_file",
    "model_dir_is_file"])
def test_user_errors_are_one_line_before_training(tmp_path, data_dir, case):
  args, expected = _bad_args(tmp_path, data_dir)[case]
  run = run_train(*args, timeout=120)
  assert_one_line_error(run, expected)
  # Nothing is written into the model dir (no config.json left behind).
  assert not os.path.exists(tmp_path / "run" / "config.json")
  assert (tmp_path / "a_file").read_text() == "not a dir"


def _saved(model_dir, name):
  with open(os.path.join(model_dir, name)) as f:
    return json.load(f)


def test_resume_without_the_flagfile_on_new_data_keeps_the_run(
    tmp_path, first_run, other_data_dir):
  model_dir = str(tmp_path / "run")
  shutil.copytree(first_run, model_dir)
  # The fresh run's one step (its tracing included) was counted and saved.
  step, seconds = checkpoints.saved_progress(os.path.join(model_dir,
                                                          "ckpt-1"))
  assert step == 1 and seconds > 0
  run = run_train(f"--data_dir={other_data_dir}", f"--model_dir={model_dir}",
                  "--learning_rate=1e-4", "--max_train_seconds=0.001")
  assert run.returncode == 0, run.stderr[-3000:]
  assert "training budget of 0.001 s spent at step 1" in run.stderr
  config = _saved(model_dir, "config.json")
  # Flags not given keep their saved values; the one given is logged.
  assert (config["stft_loss_weight"], config["mel_loss_weight"],
          config["n_mels"]) == (2.5, 45.0, 32)
  assert config["learning_rate"] == 1e-4
  assert "learning_rate 0.0002 -> 0.0001" in run.stderr
  # Other data: weights, optimizers and step resume; the input restarts.
  assert "training data changed" in run.stderr
  assert "ckpt-1: input position not restored" in run.stderr
  saved = _saved(model_dir, "run.json")
  assert saved["data"]["data_dir"] == os.path.realpath(other_data_dir)
  assert len(saved["data"]["train_shards"]) == 4
  # Options not given keep run.json's (not the flag defaults 16, 100000).
  assert (saved["options"]["batch_size"], saved["options"]["max_steps"]) == (
      2, 1)
  assert saved["options"]["max_train_seconds"] == 0.001
  assert "resumed from" in run.stderr and "at step 1" in run.stderr


def test_resume_with_a_different_model_field_is_one_line(tmp_path, first_run,
                                                         data_dir):
  before = open(os.path.join(first_run, "config.json")).read()
  run = run_train(f"--data_dir={data_dir}", f"--model_dir={first_run}",
                  "--n_mels=64", timeout=120)
  assert_one_line_error(run, "n_mels: saved 32 vs requested 64")
  assert open(os.path.join(first_run, "config.json")).read() == before
