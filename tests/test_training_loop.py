"""The training loop: a Mirrored run end to end, its input errors, and the
training-seconds budget."""

import json
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
from tfvocoder import training
from tfvocoder.config import tiny_config
from tfvocoder.data import pipeline
from tfvocoder.training import checkpoints, loop
from tfvocoder.training.gan import GANTrainer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """The session's small synthetic shard dir (read only)."""
  return eval_fixtures.shared_shards(tmp_path_factory)


def test_mirrored_training_runs_and_writes_everything(tmp_path, data_dir):
  model_dir = str(tmp_path / "run")
  config = tiny_config(stft_loss_weight=1.0, mel_loss_weight=1.0)
  options = training.TrainOptions(
      model_dir=model_dir, data_dir=data_dir, batch_size=4, max_steps=4,
      strategy="mirrored", cpu_replicas=2, checkpoint_every=2,
      summary_every=1)
  result = training.train(config, options)
  assert result.trainer.strategy.num_replicas_in_sync == 2
  assert result.step == 4
  assert {"d_loss", "g_loss", "g_adversarial", "g_feature_matching",
          "g_stft", "g_mel_l1"} <= set(result.losses)
  assert all(np.isfinite(v) for v in result.losses.values())
  saved = json.load(open(os.path.join(model_dir, "config.json")))
  assert saved["window"] == config.window
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-4")
  events = tf.io.gfile.glob(os.path.join(model_dir, "train", "events.*"))
  tags = set()
  for event in tf.compat.v1.train.summary_iterator(events[0]):
    tags.update(v.tag for v in event.summary.value)
  assert {"d_loss", "g_loss", "steps_per_sec", "audio_seconds_per_sec",
          "learning_rate_g"} <= tags


def test_missing_shards_name_the_pattern(tmp_path):
  with pytest.raises(FileNotFoundError, match="train-\\*.tfrecord"):
    training.train(tiny_config(), training.TrainOptions(
        model_dir=str(tmp_path / "m"), data_dir=str(tmp_path), max_steps=1,
        strategy="default"))


def _tiny_options(model_dir, data_dir, **overrides):
  return training.TrainOptions(**dict(
      dict(model_dir=str(model_dir), data_dir=str(data_dir), batch_size=2,
           max_steps=4, strategy="default", checkpoint_every=100,
           summary_every=100), **overrides))


def test_truncated_shard_is_named_before_training(tmp_path, data_dir):
  shards = tmp_path / "shards"
  shutil.copytree(data_dir, shards)
  shard = shards / "train-00000-of-00001.tfrecord"
  os.truncate(shard, os.path.getsize(shard) - 1000)
  with pytest.raises(pipeline.ShardError,
                     match=f"{shard}: truncated or corrupt shard: record 5 "):
    training.train(tiny_config(), _tiny_options(tmp_path / "m", shards))
  assert not tf.io.gfile.glob(str(tmp_path / "m" / "ckpt-*"))


def test_shard_damaged_mid_run_is_named_after_a_checkpoint(
    tmp_path, data_dir, monkeypatch):
  shards = tmp_path / "shards"
  shutil.copytree(data_dir, shards)
  shard = shards / "train-00000-of-00001.tfrecord"

  def step_for(trainer, step):
    def fake_step(_):   # counts steps without tracing the real one (fast)
      if step == 2:
        os.truncate(shard, 2_000_000)   # damaged after the check; TF reads:
        raise tf.errors.DataLossError(
            None, None, "truncated record at 1984984' failed with Read less "
            "bytes than requested\n\t [[{{node IteratorGetNext}}]]")
      trainer.step.assign_add(1)
      return {"d_loss": tf.constant(1.0), "g_loss": tf.constant(1.0)}
    return fake_step

  monkeypatch.setattr(GANTrainer, "step_for", step_for)
  model_dir = tmp_path / "m"
  with pytest.raises(pipeline.ShardError) as raised:
    training.train(tiny_config(), _tiny_options(model_dir, shards))
  message = str(raised.value)
  assert message.startswith(f"{shard}: truncated or corrupt shard: record 4 ")
  assert "TensorFlow: truncated record at 1984984" in message
  assert message.endswith("step 2 is checkpointed, rerun to resume once the "
                          "shards are fixed")
  assert "\n" not in message
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-2")


class _Timer:
  """A fake clock: each call returns the next of `readings`."""

  def __init__(self):
    self.readings = []

  def __call__(self):
    return self.readings.pop(0)


def _charge(clock, timer, durations):
  """One step per (step function name, seconds), on the fake clock."""
  for name, seconds in durations:
    def step_fn():
      pass
    step_fn.__name__ = name
    timer.readings += [100.0, 100.0 + seconds]
    clock.time(step_fn, dict)


def test_step_clock_charges_a_resumed_runs_retracing_as_a_steady_step():
  variable = tf.Variable(0.0, dtype=tf.float64)
  timer = _Timer()
  fresh = loop.StepClock(variable, resumed=False, timer=timer)
  # A fresh run pays its tracing (5 s) once: every call counts.
  _charge(fresh, timer, [("train_step", 5.0), ("train_step", 1.0),
                         ("train_step", 1.0)])
  assert fresh.seconds == pytest.approx(7.0)
  assert float(variable.numpy()) == pytest.approx(7.0)
  assert fresh.spent(7.0) and not fresh.spent(7.5) and not fresh.spent(0)
  # Resumed from the checkpoint's 7 s: its first call of each step function
  # (alternating D/G here) re-traces; each is charged this process's mean
  # steady step, (2 + 4) / 2 s, once there is one (nothing before).
  resumed = loop.StepClock(variable, resumed=True, timer=timer)
  _charge(resumed, timer, [("discriminator_step", 9.0)])
  assert resumed.seconds == pytest.approx(7.0)
  _charge(resumed, timer, [("generator_step", 8.0),
                           ("discriminator_step", 2.0),
                           ("generator_step", 4.0)])
  assert resumed.seconds == pytest.approx(7.0 + 2.0 + 4.0 + 2 * 3.0)
  assert float(variable.numpy()) == pytest.approx(resumed.seconds)


def test_training_budget_stops_and_resume_continues_the_counter(
    tmp_path, data_dir, monkeypatch):
  trace, step_seconds = 0.3, 0.02

  def step_for(trainer, step):
    def fake_step(_):   # a first call per process "traces" (sleeps longer)
      time.sleep(trace if trainer not in traced else step_seconds)
      traced.add(trainer)
      trainer.step.assign_add(1)
      return {"d_loss": tf.constant(1.0), "g_loss": tf.constant(1.0)}
    return fake_step

  traced = set()
  monkeypatch.setattr(GANTrainer, "step_for", step_for)
  model_dir = tmp_path / "m"
  first = training.train(tiny_config(), _tiny_options(
      model_dir, data_dir, max_steps=10_000, max_train_seconds=0.5))
  # 0.3 s of tracing, then 0.02 s steps up to 0.5 s: about 11 steps.
  assert 0.5 <= first.train_seconds < 0.5 + 0.1
  assert 5 <= first.step <= 12
  latest = tf.train.latest_checkpoint(str(model_dir))
  assert latest.endswith(f"ckpt-{first.step}")
  assert checkpoints.saved_progress(latest) == (first.step,
                                                first.train_seconds)
  # Resumed to 0.8 s: the re-tracing (0.3 s) is charged as one 0.02 s step,
  # so about 15 more steps run (charged fully, it would leave one).
  second = training.train(tiny_config(), _tiny_options(
      model_dir, data_dir, max_steps=10_000, max_train_seconds=0.8))
  assert 0.8 <= second.train_seconds < 0.8 + 0.1
  assert second.step - first.step >= 8
  assert checkpoints.saved_progress(tf.train.latest_checkpoint(
      str(model_dir))) == (second.step, second.train_seconds)


def test_negative_training_budget_is_named():
  with pytest.raises(ValueError, match="--max_train_seconds=-1 must be >= 0"):
    training.TrainOptions(model_dir="m", max_train_seconds=-1)
