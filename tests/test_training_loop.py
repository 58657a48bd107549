"""The training loop: a Mirrored run end to end, and its input errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
from tfvocoder import training
from tfvocoder.config import tiny_config


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
