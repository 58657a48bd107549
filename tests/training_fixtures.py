"""Helpers shared by the training tests: batches and checkpoint values."""

import numpy as np
import tensorflow as tf

from tfvocoder.data import music, pipeline
from tfvocoder.training import checkpoints


def batch(config, size, seed=0):
  """A batch in the pipeline's element format, from generated music."""
  audio = music.generate_music(
      size * config.window / config.sample_rate + 0.1, config.sample_rate,
      seed=seed)[:size * config.window].reshape(size, config.window)
  audio = config.peak_normalize * audio / np.max(np.abs(audio), axis=1,
                                                 keepdims=True)
  return pipeline.features(tf.constant(audio, tf.float32), config)


def final_weights(model_dir):
  """Every numeric variable of the latest checkpoint: both networks (Keras 3
  files trainable weights under the optimizers' paths), Adam moments, step;
  not the training seconds (a measured time)."""
  latest = tf.train.latest_checkpoint(model_dir)
  values = {name: tf.train.load_variable(latest, name)
            for name, _ in tf.train.list_variables(latest)
            if not name.startswith(("_CHECKPOINTABLE", "iterator",
                                    checkpoints.TRAIN_SECONDS + "/"))}
  return {k: v for k, v in values.items()
          if np.issubdtype(np.asarray(v).dtype, np.number)}
