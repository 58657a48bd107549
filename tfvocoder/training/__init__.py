"""Training: one GAN step under a `tf.distribute` strategy, and the loop.

  loop         `train(config, options)`: the loop behind `python train.py`
  gan          `GANTrainer`: one D + G step under `strategy.run`
  losses       small pure functions over (judgement, features) lists
  distribute   strategy choice (auto / default / mirrored / multi_worker)
  summaries    TensorBoard scalars, audio and spectrogram images
  model_dir    config.json + checkpoint -> generator (export and evaluate)
"""

from tfvocoder.training.loop import (KILL_AFTER_SAVE_ENV, NonFiniteLossError,
                                     TrainOptions, TrainResult, resolve_config,
                                     train)

__all__ = ["KILL_AFTER_SAVE_ENV", "NonFiniteLossError", "TrainOptions",
           "TrainResult", "resolve_config", "train"]
