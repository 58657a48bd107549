"""Training: one GAN step under a `tf.distribute` strategy, and the loop.

  loop         `train(config, options)`: the loop behind `python train.py`
  checkpoints  save / resume, SIGINT/SIGTERM stop requests, the NaN guard
  gan          `GANTrainer`: one D + G step under `strategy.run`
  losses       small pure functions over (judgement, features) lists
  distribute   strategy choice (auto / default / mirrored / multi_worker)
  summaries    progress lines, TensorBoard scalars, audio and images
  model_dir    config.json + checkpoint -> generator (export and evaluate)
"""

from tfvocoder.training.checkpoints import (KILL_AFTER_SAVE_ENV,
                                            NonFiniteLossError)
from tfvocoder.training.loop import TrainOptions, TrainResult, train
from tfvocoder.training.model_dir import resolve_config

__all__ = ["KILL_AFTER_SAVE_ENV", "NonFiniteLossError", "TrainOptions",
           "TrainResult", "resolve_config", "train"]
