"""Checkpoints: exact resume after SIGKILL, the NaN guard, stop requests."""

import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
import training_fixtures
from tfvocoder import training
from tfvocoder.config import tiny_config
from tfvocoder.training import checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """The session's small synthetic shard dir (read only)."""
  return eval_fixtures.shared_shards(tmp_path_factory)


def test_non_finite_loss_stops_and_keeps_good_checkpoint(tmp_path, data_dir):
  model_dir = str(tmp_path / "nan")
  options = training.TrainOptions(
      model_dir=model_dir, data_dir=data_dir, batch_size=2, max_steps=2,
      strategy="default", checkpoint_every=1, summary_every=100)
  training.train(tiny_config(), options)
  good = training_fixtures.final_weights(model_dir)
  # Resume with an absurd learning rate: the weights overflow at once.
  with pytest.raises(training.NonFiniteLossError, match="non-finite"):
    training.train(tiny_config(learning_rate=1e38),
                   dataclasses.replace(options, max_steps=50))
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-2")
  after = training_fixtures.final_weights(model_dir)
  for name, value in after.items():
    np.testing.assert_array_equal(value, good[name], err_msg=name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.all(np.isfinite(value)), name


def _run_train(model_dir, data_dir, steps, env=None, timeout=300):
  command = [sys.executable, os.path.join(ROOT, "train.py"),
             f"--model_dir={model_dir}", f"--data_dir={data_dir}",
             "--strategy=default", "--batch_size=2", f"--max_steps={steps}",
             "--checkpoint_every=2", "--summary_every=1", "--deterministic",
             "--window=2048", "--n_mels=32", "--filter_bank_filters=16",
             "--filter_bank_taps=32", "--gen_channels=16", "--disc_channels=16",
             "--joint_channels=32"]
  return subprocess.run(command, env=dict(os.environ, **(env or {})),
                        capture_output=True, text=True, timeout=timeout,
                        cwd=ROOT)


def test_exact_resume_after_sigkill(tmp_path, data_dir):
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  run = _run_train(straight, data_dir, 4)
  assert run.returncode == 0, run.stderr[-3000:]
  killed = _run_train(resumed, data_dir, 4,
                      env={training.KILL_AFTER_SAVE_ENV: "2"})
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  assert tf.train.latest_checkpoint(resumed).endswith("ckpt-2")
  run = _run_train(resumed, data_dir, 4)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "resumed from" in run.stderr
  a = training_fixtures.final_weights(straight)
  b = training_fixtures.final_weights(resumed)
  assert a.keys() == b.keys() and len(a) > 100
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_stop_request_records_the_signal_and_restores_handlers():
  before = signal.getsignal(signal.SIGTERM)
  with checkpoints.StopRequest() as stop:
    assert stop.signal is None
    signal.raise_signal(signal.SIGTERM)
    assert stop.signal == "SIGTERM"
  assert signal.getsignal(signal.SIGTERM) is before
