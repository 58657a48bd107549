"""A training run's checkpoints: save, resume, stop requests, the NaN guard.

`RunCheckpoints` keeps one `tf.train.Checkpoint` over both networks, both
optimizers, the step and (where TF can) the tf.data iterator, saved as
`ckpt-N` by a `tf.train.CheckpointManager`. The chief writes into the model
dir; other workers write to a temporary `worker_tmp_<task>` dir that
`close()` removes, and every worker resumes from the chief's checkpoints.
Non-finite weights are never saved: a non-finite loss or weight restores
the last good checkpoint and raises `NonFiniteLossError`.
"""

import math
import os
import signal
from typing import Callable, Dict, Iterator, Optional

from absl import logging
import tensorflow as tf

from tfvocoder.training import distribute
from tfvocoder.training.gan import GANTrainer
from tfvocoder.training.summaries import format_values

# Fault injection for the resume test: SIGKILL right after saving this step.
KILL_AFTER_SAVE_ENV = "TFVOCODER_KILL_AFTER_SAVE_STEP"


class NonFiniteLossError(RuntimeError):
  """Raised when a loss turns NaN/inf; the last good checkpoint is restored."""


class StopRequest:
  """SIGINT/SIGTERM set `signal` (its name); the loop checkpoints and exits.

  A context manager: the previous handlers come back on exit. Off the main
  thread no handler can be installed and `signal` stays None.
  """

  def __init__(self):
    self.signal: Optional[str] = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:      # not the main thread: no handlers
        pass
    return self

  def _handle(self, signum, _frame):
    self.signal = signal.Signals(signum).name
    logging.warning("%s received: checkpointing and stopping", self.signal)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _weights_finite(trainer: GANTrainer) -> bool:
  """True when every weight of both networks is finite."""
  for variable in (trainer.generator.weights + trainer.discriminator.weights):
    if not bool(tf.reduce_all(tf.math.is_finite(variable))):
      return False
  return True


class RunCheckpoints:
  """The checkpoint of a `GANTrainer` and its iterator, and its manager.

  Args:
    trainer: the networks, optimizers and step to checkpoint.
    iterator: the training iterator; checkpointed too when TF can.
    model_dir: the run's model dir (the chief's checkpoints).
    keep: checkpoints to keep (`max_to_keep`).
  """

  def __init__(self, trainer: GANTrainer, iterator: Iterator, model_dir: str,
               keep: int):
    self.trainer = trainer
    self.iterator = iterator
    self.model_dir = model_dir
    state = dict(generator=trainer.generator,
                 discriminator=trainer.discriminator,
                 g_optimizer=trainer.g_optimizer,
                 d_optimizer=trainer.d_optimizer, step=trainer.step)
    try:   # a one-device tf.data iterator checkpoints its exact position
      self.checkpoint = tf.train.Checkpoint(iterator=iterator, **state)
      self.iterator_saved = True
    except ValueError:   # TF 2.21's multi-device DistributedIterator cannot
      self.checkpoint = tf.train.Checkpoint(**state)
      self.iterator_saved = False
    strategy = trainer.strategy
    self.chief = distribute.is_chief(strategy)
    self.save_dir = model_dir if self.chief else os.path.join(
        model_dir, f"worker_tmp_{strategy.cluster_resolver.task_id}")
    self.manager = tf.train.CheckpointManager(self.checkpoint, self.save_dir,
                                              max_to_keep=keep)

  def resume(self, learning_rate: float,
             reseed: Callable[[int], Iterator]) -> Iterator:
    """Restore the model dir's latest checkpoint, if there is one.

    Args:
      learning_rate: the config's; it replaces the saved one in both
        optimizers.
      reseed: step -> a fresh training iterator, for when the iterator is
        not part of the checkpoint.
    Returns:
      The iterator to train on: the one given (restored in place), or
      `reseed(step)`.
    """
    latest = tf.train.latest_checkpoint(self.model_dir)
    if not latest:
      return self.iterator
    trainer = self.trainer
    self.checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resumed from %s at step %d", latest,
                 int(trainer.step.numpy()))
    # The checkpoint holds the old learning rates; the config's win.
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
      optimizer.learning_rate.assign(learning_rate)
    if not self.iterator_saved:
      # Fresh random windows, seeded by the step, so a resumed run does not
      # replay the data it started with.
      logging.info("%d replicas: input pipeline reseeded from the step (the "
                   "distributed iterator is not checkpointable)",
                   trainer.strategy.num_replicas_in_sync)
      self.iterator = reseed(int(trainer.step.numpy()))
    return self.iterator

  def check_losses(self, step: int, values: Dict[str, float]) -> None:
    """The NaN guard on one step's losses: stop if any is not finite."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
      self.stop_non_finite(f"non-finite loss at step {step} "
                           f"({format_values(bad)})")

  def stop_non_finite(self, what: str) -> None:
    """Restore the last good checkpoint and raise `NonFiniteLossError`."""
    restored = self.manager.latest_checkpoint
    if restored:
      self.checkpoint.restore(restored)
    raise NonFiniteLossError(
        f"{what}; restored {restored or 'nothing (no checkpoint yet)'} and "
        "stopped without saving. Try a lower --learning_rate or check the "
        "data.")

  def save(self, step: int) -> None:
    """Save `ckpt-<step>`, or stop (`stop_non_finite`) on non-finite weights."""
    if not _weights_finite(self.trainer):
      self.stop_non_finite(f"non-finite weights at step {step}")
    path = self.manager.save(checkpoint_number=step)
    logging.info("saved %s", path)
    if os.environ.get(KILL_AFTER_SAVE_ENV) == str(step):
      os.kill(os.getpid(), signal.SIGKILL)

  def save_final(self, step: int) -> None:
    """Save `step` unless it is the latest checkpoint already."""
    latest = self.manager.latest_checkpoint
    if latest is None or not latest.endswith(f"-{step}"):
      self.save(step)

  def close(self) -> None:
    """Remove a non-chief worker's temporary checkpoint dir."""
    if not self.chief:
      tf.io.gfile.rmtree(self.save_dir)
