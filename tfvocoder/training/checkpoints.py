"""A training run's checkpoints: save, resume, stop requests, the NaN guard.

`RunCheckpoints` keeps one `tf.train.Checkpoint` over both networks, both
optimizers, the step, the seconds of training steps so far
(`train_seconds`, read back by `saved_progress`) and (where TF can) the
tf.data iterator, saved as `ckpt-N` by a `tf.train.CheckpointManager`.
The chief writes into the model dir; other workers write to a temporary
`worker_tmp_<task>` dir that `close()` removes, and every worker resumes
from the chief's checkpoints.
Non-finite weights are never saved: a non-finite loss or weight restores
the last good checkpoint and raises `NonFiniteLossError`.

Resuming tries the model dir's checkpoints newest first and uses the first
that restores completely (a truncated or corrupt newer one is logged and
skipped; none restoring is a `CheckpointError`). The chief first removes
the temp dirs and files that a killed save leaves behind.
"""

import math
import os
import re
import signal
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from absl import logging
import tensorflow as tf

from tfvocoder.training import distribute
from tfvocoder.training.gan import GANTrainer
from tfvocoder.training.summaries import format_values

# Fault injection for the resume test: SIGKILL right after saving this step.
KILL_AFTER_SAVE_ENV = "TFVOCODER_KILL_AFTER_SAVE_STEP"
# What a killed save leaves: `ckpt-N_temp/` (older TF: `ckpt-N_temp_<hex>/`)
# and the state file's `checkpoint.tmp<hex>`.
_TEMP_ENTRY = re.compile(
    r"^(ckpt-\d+_temp(_[0-9a-f]{32})?|checkpoint\.tmp[0-9a-f]{32})$")
_INDEX_FILE = re.compile(r"^ckpt-(\d+)\.index$")
EXIT_STATUS = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}
# The checkpoint key of the training-seconds counter (and its saved name).
TRAIN_SECONDS = "train_seconds"
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


class NonFiniteLossError(RuntimeError):
  """Raised when a loss turns NaN/inf; the last good checkpoint is restored."""


class CheckpointError(RuntimeError):
  """No checkpoint of the model dir restores; the message names them all."""


def one_line(error: BaseException) -> str:
  """`Type: first line of the message`, for one-line logs and errors."""
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"


def remove_temp_entries(model_dir: str) -> List[str]:
  """Remove what killed saves left in `model_dir`; returns the names removed.

  Only `ckpt-N_temp*` dirs and `checkpoint.tmp*` files: complete
  checkpoints, the state file and everything else stay.
  """
  if not tf.io.gfile.isdir(model_dir):
    return []
  removed = []
  for name in sorted(tf.io.gfile.listdir(model_dir)):
    name = name.rstrip("/")
    if _TEMP_ENTRY.match(name):
      path = os.path.join(model_dir, name)
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      else:
        tf.io.gfile.remove(path)
      logging.warning("removed %s, left by an interrupted checkpoint save",
                      path)
      removed.append(name)
  return removed


def checkpoints_newest_first(model_dir: str) -> List[str]:
  """The `ckpt-N` prefixes in `model_dir` that have an index, highest N
  first (also those a lost or stale `checkpoint` state file does not list)."""
  if not tf.io.gfile.isdir(model_dir):
    return []
  matches = map(_INDEX_FILE.match, tf.io.gfile.listdir(model_dir))
  steps = sorted((int(m.group(1)) for m in matches if m), reverse=True)
  return [os.path.join(model_dir, f"ckpt-{n}") for n in steps]


def _has_variable(path: str, key: str) -> bool:
  """True when checkpoint `path` holds the top-level variable `key`."""
  return any(name == key + _VALUE for name, _ in tf.train.list_variables(path))


def saved_progress(path: str) -> Tuple[int, Optional[float]]:
  """(step, training seconds) saved in checkpoint `path` (`ckpt-N`); the
  seconds are None in a checkpoint saved before they were counted.

  Raises:
    tf.errors.OpError: `path` is not a readable checkpoint.
  """
  step = int(tf.train.load_variable(path, "step" + _VALUE))
  if not _has_variable(path, TRAIN_SECONDS):
    return step, None
  return step, float(tf.train.load_variable(path, TRAIN_SECONDS + _VALUE))


class StopRequest:
  """SIGINT/SIGTERM set `signal` (its name); the loop checkpoints and exits
  (train.py then with `EXIT_STATUS[signal]`, 128 + the signal number).

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
    if self._previous:
      logging.info("Ctrl-C (SIGINT) or SIGTERM now checkpoints and stops "
                   "(exit status %s)", "/".join(map(str, EXIT_STATUS.values())))
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
    # Seconds of training steps so far (`loop.StepClock`), kept across
    # resumes; a float64 scalar outside any strategy scope.
    self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                     name=TRAIN_SECONDS)
    state = dict(generator=trainer.generator,
                 discriminator=trainer.discriminator,
                 g_optimizer=trainer.g_optimizer,
                 d_optimizer=trainer.d_optimizer, step=trainer.step,
                 train_seconds=self.train_seconds)      # TRAIN_SECONDS
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
    self.good: Optional[str] = None       # last checkpoint restored or saved
    self.good_step: Optional[int] = None  # and its step
    self._state = state
    # Checkpoints up to this step hold another data's input position.
    self.stale_input_until = -1

  def _restore(self, path: str) -> None:
    """Restore `path` completely; its input position only when it belongs
    to this run's data (step above `stale_input_until`); its training
    seconds only when it has them (older checkpoints: counted from 0)."""
    step = int(path.rsplit("-", 1)[1])
    with_input = not self.iterator_saved or step > self.stale_input_until
    has_seconds = _has_variable(path, TRAIN_SECONDS)
    if with_input and has_seconds:
      self.checkpoint.restore(path).assert_existing_objects_matched()
      return
    state = dict(self._state)
    if not has_seconds:
      del state[TRAIN_SECONDS]
      self.train_seconds.assign(0.0)
      logging.info("%s holds no training seconds (saved before they were "
                   "counted): counting from 0", path)
    if with_input and self.iterator_saved:
      state["iterator"] = self.iterator
    tf.train.Checkpoint(**state).restore(path).assert_existing_objects_matched(
        ).expect_partial()
    if not with_input:
      logging.info("%s: input position not restored (saved on other training "
                   "data); the input pipeline starts afresh", path)

  def _restore_newest(self, candidates: List[str]) -> str:
    """Restore the first of `candidates` that restores; returns its path.

    Every variable and the iterator must get a value
    (`assert_existing_objects_matched`), so a good older checkpoint
    overwrites whatever a newer one's failed restore assigned half-way.
    """
    skipped = []
    for path in candidates:
      try:
        self._restore(path)
      except Exception as e:  # noqa: BLE001 -- corrupt files raise many kinds
        logging.warning("cannot restore %s (%s); trying an older checkpoint",
                        path, one_line(e))
        skipped.append(f"{os.path.basename(path)} ({one_line(e)})")
        continue
      if skipped:
        logging.warning("resuming from %s: the newer %s could not be "
                        "restored", path, "; ".join(skipped))
      return path
    raise CheckpointError(
        f"no checkpoint in {self.model_dir} can be restored: "
        f"{'; '.join(skipped)}. Restore a backup, or move these files away "
        "to train from scratch")

  def resume(self, learning_rate: float, reseed: Callable[[int], Iterator],
             stale_input_until: int = -1) -> Iterator:
    """Restore the model dir's latest checkpoint, if there is one.

    Args:
      learning_rate: the config's (at step 0); it replaces the saved one
        in both optimizers, decayed to the restored step
        (`GANTrainer.set_learning_rates`).
      reseed: step -> a fresh training iterator, for when the iterator is
        not part of the checkpoint.
      stale_input_until: checkpoints up to this step were saved on other
        training data (`model_dir.input_record`): their weights, optimizers
        and step are restored, their input position is not.
    Returns:
      The iterator to train on: the one given (restored in place), or
      `reseed(step)`.
    Raises:
      CheckpointError: there are checkpoints, but none restores.
    """
    self.stale_input_until = stale_input_until
    if self.chief:
      remove_temp_entries(self.model_dir)
    candidates = checkpoints_newest_first(self.model_dir)
    if not candidates:
      return self.iterator
    trainer = self.trainer
    self.good = self._restore_newest(candidates)
    self.good_step = int(trainer.step.numpy())
    logging.info("resumed from %s at step %d", self.good, self.good_step)
    # The checkpoint holds the old learning rates; the config's win
    # (decayed to the restored step by `lr_decay`).
    trainer.set_learning_rates(learning_rate)
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
    restored = self.good
    if restored:
      self._restore(restored)
    raise NonFiniteLossError(
        f"{what}; restored {restored or 'nothing (no checkpoint yet)'} and "
        "stopped without saving. Try a lower --learning_rate or check the "
        "data.")

  def save(self, step: int) -> None:
    """Save `ckpt-<step>`, or stop (`stop_non_finite`) on non-finite weights."""
    if not _weights_finite(self.trainer):
      self.stop_non_finite(f"non-finite weights at step {step}")
    path = self.manager.save(checkpoint_number=step)
    self.good, self.good_step = path, step
    logging.info("saved %s", path)
    if os.environ.get(KILL_AFTER_SAVE_ENV) == str(step):
      os.kill(os.getpid(), signal.SIGKILL)

  def save_final(self, step: int) -> None:
    """Save `step` unless it was just restored or saved."""
    if self.good_step != step:
      self.save(step)

  def close(self) -> None:
    """Remove a non-chief worker's temporary checkpoint dir."""
    if not self.chief:
      tf.io.gfile.rmtree(self.save_dir)
