"""Checkpoints: exact resume after SIGKILL, the NaN guard, stop requests."""

import dataclasses
import os
import re
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
from tfvocoder.training.gan import GANTrainer

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


def _train_command(model_dir, data_dir, steps):
  return [sys.executable, os.path.join(ROOT, "train.py"),
          f"--model_dir={model_dir}", f"--data_dir={data_dir}",
          "--strategy=default", "--batch_size=2", f"--max_steps={steps}",
          "--checkpoint_every=2", "--summary_every=1", "--deterministic",
          "--window=2048", "--n_mels=32", "--filter_bank_filters=16",
          "--filter_bank_taps=32", "--gen_channels=16", "--disc_channels=16",
          "--joint_channels=32"]


def _run_train(model_dir, data_dir, steps, env=None, timeout=300):
  return subprocess.run(_train_command(model_dir, data_dir, steps),
                        env=dict(os.environ, **(env or {})),
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


def test_sigterm_checkpoints_and_exits_143(tmp_path, data_dir):
  model_dir = str(tmp_path / "run")
  child = subprocess.Popen(_train_command(model_dir, data_dir, 1000),
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    log = []
    for line in child.stderr:          # until the handlers are installed
      log.append(line)
      if "SIGTERM now checkpoints and stops" in line:
        child.send_signal(signal.SIGTERM)
        break
    log.append(child.communicate(timeout=300)[1])
  finally:
    child.kill()
  log = "".join(log)
  assert child.returncode == 128 + signal.SIGTERM, log[-3000:]
  stopped = re.search(r"stopped by SIGTERM at step (\d+)", log)
  assert stopped, log[-3000:]
  assert tf.train.latest_checkpoint(model_dir).endswith(
      f"ckpt-{stopped.group(1)}")


def test_stop_request_records_the_signal_and_restores_handlers():
  before = signal.getsignal(signal.SIGTERM)
  with checkpoints.StopRequest() as stop:
    assert stop.signal is None
    signal.raise_signal(signal.SIGTERM)
    assert stop.signal == "SIGTERM"
  assert signal.getsignal(signal.SIGTERM) is before
  assert checkpoints.EXIT_STATUS == {"SIGINT": 130, "SIGTERM": 143}


def _tiny_run_checkpoints(model_dir):
  """RunCheckpoints of a tiny GANTrainer over a distributed counting
  iterator (the structure training checkpoints, on one device)."""
  strategy = tf.distribute.get_strategy()
  trainer = GANTrainer(tiny_config(), strategy, 2)
  dataset = strategy.distribute_datasets_from_function(
      lambda _: tf.data.Dataset.range(1000))
  return checkpoints.RunCheckpoints(trainer, iter(dataset), model_dir, keep=3)


def _variables(trainer):
  """Both networks' weights, both optimizers' variables and the step."""
  return (trainer.generator.weights + trainer.discriminator.weights +
          trainer.g_optimizer.variables + trainer.d_optimizer.variables +
          [trainer.step])


def _advance(saved):
  """Change every variable and move the iterator on by one element."""
  for variable in _variables(saved.trainer):
    if "learning_rate" not in variable.name:
      variable.assign_add(tf.cast(1, variable.dtype))
  next(saved.iterator)


def _flip(path, offset, count=64):
  with open(path, "r+b") as f:
    f.seek(offset)
    data = f.read(count)
    f.seek(offset)
    f.write(bytes(b ^ 0xFF for b in data))


def test_resume_falls_back_past_corrupt_checkpoints(tmp_path):
  model_dir = str(tmp_path)
  saved = _tiny_run_checkpoints(model_dir)
  _advance(saved)
  saved.save(1)
  good = [v.numpy() for v in _variables(saved.trainer)]
  _advance(saved)
  saved.save(2)
  _advance(saved)   # the state a half-failed restore might leave
  data = tmp_path / "ckpt-2.data-00000-of-00001"
  os.truncate(data, os.path.getsize(data) // 2)
  (tmp_path / "ckpt-3_temp").mkdir()
  (tmp_path / "ckpt-3_temp" / "part-00000-of-00001.index").write_bytes(b"x")
  (tmp_path / "checkpoint.tmp0123456789abcdef0123456789abcdef").write_text("")

  iterator = saved.resume(tiny_config().learning_rate, reseed=None)
  assert saved.good.endswith("ckpt-1") and saved.good_step == 1
  assert sorted(os.listdir(tmp_path)) == [
      "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index",
      "ckpt-2.data-00000-of-00001", "ckpt-2.index"]
  for variable, value in zip(_variables(saved.trainer), good):
    np.testing.assert_array_equal(variable.numpy(), value, variable.name)
  assert int(next(iterator)) == 1
  with pytest.raises(training.NonFiniteLossError, match="restored .*ckpt-1"):
    saved.stop_non_finite("test")

  _flip(tmp_path / "ckpt-1.index", 100)
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"no checkpoint in .* ckpt-2 \(.*; ckpt-1 \("):
    _tiny_run_checkpoints(model_dir).resume(1e-4, reseed=None)


def test_training_seconds_resume_and_older_checkpoints_count_from_zero(
    tmp_path):
  model_dir = str(tmp_path)
  first = _tiny_run_checkpoints(model_dir)
  _advance(first)          # step 1
  # A checkpoint saved before the counter existed: all but train_seconds.
  older = {k: v for k, v in first._state.items()
           if k != checkpoints.TRAIN_SECONDS}
  path = tf.train.Checkpoint(iterator=first.iterator, **older).save(
      os.path.join(model_dir, "ckpt"))
  assert path.endswith("ckpt-1")
  assert checkpoints.saved_progress(os.path.join(model_dir, "ckpt-1")) == (
      1, None)

  resumed = _tiny_run_checkpoints(model_dir)
  resumed.train_seconds.assign(99.0)
  resumed.resume(1e-4, reseed=None)
  assert resumed.good.endswith("ckpt-1")
  assert int(resumed.trainer.step.numpy()) == 1
  assert float(resumed.train_seconds.numpy()) == 0.0
  resumed.trainer.step.assign(2)
  resumed.train_seconds.assign(12.5)
  resumed.save(2)
  assert checkpoints.saved_progress(os.path.join(model_dir, "ckpt-2")) == (
      2, 12.5)
  first.train_seconds.assign(0.0)
  first.resume(1e-4, reseed=None)
  assert first.good.endswith("ckpt-2")
  assert float(first.train_seconds.numpy()) == 12.5
