"""`train(config, options)`: the training job behind `python train.py`.

One loop for every strategy: data from prepared TFRecord shards (or the
built-in synthetic dataset), a `GANTrainer` step under `strategy.run`,
`tf.train.CheckpointManager` over both networks, both optimizers, the step
and the tf.data iterator, saved every `checkpoint_every` steps and on
SIGINT/SIGTERM; TensorBoard summaries; a non-finite-loss guard.

Layout of a model dir:
  config.json          the resolved VocoderConfig (resume/export/evaluate)
  ckpt-N.*, checkpoint checkpoints
  train/               TensorBoard event files
  synthetic_data/      the built-in dataset, when no data dir was given
"""

import dataclasses
import math
import os
import signal
import time
from typing import TYPE_CHECKING, Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.training import distribute
from tfvocoder.training import losses
from tfvocoder.training import summaries
from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_write_text

if TYPE_CHECKING:
  from tfvocoder.training.gan import GANTrainer

CONFIG_FILE = "config.json"
# Fault injection for the resume test: SIGKILL right after saving this step.
KILL_AFTER_SAVE_ENV = "TFVOCODER_KILL_AFTER_SAVE_STEP"


class NonFiniteLossError(RuntimeError):
  """Raised when a loss turns NaN/inf; the last good checkpoint is restored."""


@dataclasses.dataclass(frozen=True)
class TrainOptions:
  """How to run a training job (what is not a model hyper-parameter)."""
  model_dir: str
  data_dir: Optional[str] = None     # None: the built-in synthetic dataset
  batch_size: int = 16               # global, across replicas and workers
  max_steps: int = 100_000
  strategy: str = "auto"
  cpu_replicas: int = 1              # logical CPU replicas for `mirrored`
  checkpoint_every: int = 1000
  summary_every: int = 100
  overfit: bool = False              # train on one batch (debugging)
  deterministic: bool = False        # op determinism (exact resume)
  synthetic_minutes: float = 5.0
  keep_checkpoints: int = 3


def resolve_config(config: VocoderConfig, model_dir: str,
                   write: bool = True) -> VocoderConfig:
  """The config of `model_dir`: saved one on resume, else `config` (written).

  A saved config whose model fields differ from `config` is an error naming
  the fields; training-only fields (learning rate, loss weights, ...) take
  the new values.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      saved = VocoderConfig.from_json(f.read())
    conflicts = saved.model_differences(config)
    if conflicts:
      details = ", ".join(f"{k}: saved {a!r} vs requested {b!r}"
                          for k, (a, b) in sorted(conflicts.items()))
      raise ValueError(f"{path} was written by a run with a different model "
                       f"config ({details}). Use a new --model_dir, or drop "
                       "the conflicting flags to resume.")
  if write:
    tf.io.gfile.makedirs(model_dir)
    atomic_write_text(path, config.to_json())
  return config


def _shard_patterns(data_dir: str):
  train = os.path.join(data_dir, "train-*.tfrecord")
  test = os.path.join(data_dir, "test-*.tfrecord")
  if not tf.io.gfile.glob(train):
    raise FileNotFoundError(
        f"no training shards matching {train}; prepare them with "
        "`python -m tfvocoder.data.prepare --input_dir=... "
        f"--output_dir={data_dir}`")
  return train, (test if tf.io.gfile.glob(test) else train)


def _distributed_dataset(strategy, pattern, config, options, seed):
  from tfvocoder.data import pipeline

  def dataset_fn(context):
    batch = context.get_per_replica_batch_size(options.batch_size)
    dataset = pipeline.make_dataset(pattern, config, batch, training=True,
                                    input_context=context, seed=seed)
    if options.overfit:
      dataset = dataset.take(1).cache().repeat()
    return dataset

  return strategy.distribute_datasets_from_function(dataset_fn)


def _example_batch(pattern, config, count=3):
  """A fixed held-out batch at 4x the training window, for summaries."""
  from tfvocoder.data import pipeline
  long_config = config.replace(window=config.window * 4)
  dataset = pipeline.make_dataset(pattern, long_config, count, training=False)
  return next(iter(dataset))


class _StopRequest:
  """SIGINT/SIGTERM set a flag; the loop checkpoints and exits cleanly."""

  def __init__(self):
    self.signal = None
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


def _format(values: Dict[str, float]) -> str:
  return " ".join(f"{k}={v:.4f}" for k, v in sorted(values.items()))


@dataclasses.dataclass
class TrainResult:
  step: int                      # the step training stopped at
  losses: Dict[str, float]       # the last step's losses
  trainer: "GANTrainer"          # networks and optimizers, as trained
  stopped_by: Optional[str]      # signal name when SIGINT/SIGTERM stopped it


def train(config: VocoderConfig, options: TrainOptions) -> TrainResult:
  """Train (or resume) in `options.model_dir`."""
  if options.deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(config.seed)
  if config.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_float16")
  strategy = distribute.make_strategy(options.strategy, options.cpu_replicas)
  chief = distribute.is_chief(strategy)
  if options.batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={options.batch_size} must be divisible by "
                     f"the {strategy.num_replicas_in_sync} replicas")
  config = resolve_config(config, options.model_dir, write=chief)

  data_dir = options.data_dir
  if data_dir is None:
    from tfvocoder.data import music
    data_dir = music.ensure_synthetic_dataset(
        os.path.join(options.model_dir, "synthetic_data"), config,
        minutes=options.synthetic_minutes)
  train_pattern, eval_pattern = _shard_patterns(data_dir)

  from tfvocoder.training.gan import GANTrainer
  trainer = GANTrainer(config, strategy, options.batch_size)
  iterator = iter(_distributed_dataset(strategy, train_pattern, config,
                                       options, seed=config.seed))
  state = dict(generator=trainer.generator,
               discriminator=trainer.discriminator,
               g_optimizer=trainer.g_optimizer, d_optimizer=trainer.d_optimizer,
               step=trainer.step)
  try:   # a one-device tf.data iterator checkpoints its exact position
    checkpoint = tf.train.Checkpoint(iterator=iterator, **state)
    iterator_saved = True
  except ValueError:   # TF 2.21's multi-device DistributedIterator cannot
    checkpoint = tf.train.Checkpoint(**state)
    iterator_saved = False
  save_dir = options.model_dir if chief else os.path.join(
      options.model_dir, f"worker_tmp_{strategy.cluster_resolver.task_id}")
  manager = tf.train.CheckpointManager(checkpoint, save_dir,
                                       max_to_keep=options.keep_checkpoints)
  # Every worker resumes from the chief's checkpoints (non-chief workers
  # only write to a temporary dir, removed at the end).
  latest = tf.train.latest_checkpoint(options.model_dir)
  if latest:
    checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resumed from %s at step %d", latest,
                 int(trainer.step.numpy()))
    # The checkpoint holds the old learning rates; the config's win.
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
      optimizer.learning_rate.assign(config.learning_rate)
    if not iterator_saved:
      # Fresh random windows, seeded by the step, so a resumed run does not
      # replay the data it started with.
      logging.info("%d replicas: input pipeline reseeded from the step (the "
                   "distributed iterator is not checkpointable)",
                   strategy.num_replicas_in_sync)
      iterator = iter(_distributed_dataset(
          strategy, train_pattern, config, options,
          seed=config.seed + int(trainer.step.numpy())))

  writer = tf.summary.create_file_writer(
      os.path.join(options.model_dir, "train")) if chief else \
      tf.summary.create_noop_writer()
  examples = _example_batch(eval_pattern, config) if chief else None
  audio_per_step = options.batch_size * config.window / config.sample_rate

  def stop_non_finite(what):
    restored = manager.latest_checkpoint
    if restored:
      checkpoint.restore(restored)
    raise NonFiniteLossError(
        f"{what}; restored {restored or 'nothing (no checkpoint yet)'} and "
        "stopped without saving. Try a lower --learning_rate or check the "
        "data.")

  def save(step):
    if not trainer.all_weights_finite():
      stop_non_finite(f"non-finite weights at step {step}")
    path = manager.save(checkpoint_number=step)
    logging.info("saved %s", path)
    if os.environ.get(KILL_AFTER_SAVE_ENV) == str(step):
      os.kill(os.getpid(), signal.SIGKILL)

  step = int(trainer.step.numpy())
  if chief:
    logging.info("held-out mel L1 at step %d: %.4f", step,
                 _held_out_mel_l1(trainer, examples))
  last = {}
  window_start, window_steps = time.perf_counter(), 0
  sums: Dict[str, float] = {}
  with _StopRequest() as stop:
    while step < options.max_steps and stop.signal is None:
      values = {k: float(v) for k, v in trainer.step_for(step)(iterator).items()}
      step = int(trainer.step.numpy())
      bad = {k: v for k, v in values.items() if not math.isfinite(v)}
      if bad:
        stop_non_finite(f"non-finite loss at step {step} ({_format(bad)})")
      last = values
      for k, v in values.items():
        sums[k] = sums.get(k, 0.0) + v
      window_steps += 1
      if step % options.summary_every == 0 or step == options.max_steps:
        elapsed = time.perf_counter() - window_start
        rate = window_steps / elapsed
        means = {k: v / window_steps for k, v in sums.items()}
        logging.info("step %d %s steps/s=%.2f audio_s/s=%.2f", step,
                     _format(means), rate, rate * audio_per_step)
        scalars = dict(means, steps_per_sec=rate,
                       audio_seconds_per_sec=rate * audio_per_step,
                       learning_rate_g=float(trainer.g_optimizer.learning_rate.numpy()),
                       learning_rate_d=float(trainer.d_optimizer.learning_rate.numpy()))
        summaries.write_scalars(writer, step, scalars)
        if chief and step % (options.summary_every * 10) == 0:
          _write_examples(writer, step, config, trainer, examples)
        window_start, window_steps, sums = time.perf_counter(), 0, {}
      if step % options.checkpoint_every == 0:
        save(step)
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(
        f"-{step}"):
      save(step)
  if chief:
    logging.info("held-out mel L1 at step %d: %.4f", step,
                 _held_out_mel_l1(trainer, examples))
  writer.flush()
  if not chief:
    tf.io.gfile.rmtree(save_dir)
  if stop.signal:
    logging.info("stopped by %s at step %d", stop.signal, step)
  return TrainResult(step, last, trainer, stop.signal)


def _generate(trainer, mel):
  """(bands or None, audio `[batch, frames * hop]`) for a held-out mel."""
  output = trainer.generator(mel, training=False)
  if trainer.target_key == "bands":
    bands = [tf.cast(b, tf.float32) for b in output]
    return bands, dsp.merge_bands(bands, trainer.config)
  return None, tf.cast(output, tf.float32)


def _held_out_mel_l1(trainer, examples) -> float:
  """Mean |log-mel(generated) - conditioning| on the fixed held-out batch."""
  _, audio = _generate(trainer, examples["mel"])
  return float(tf.reduce_mean(losses.mel_l1(examples["mel"], audio,
                                            trainer.config)))


def _write_examples(writer, step, config, trainer, examples):
  mel = examples["mel"]
  bands, audio = _generate(trainer, mel)
  summaries.write_examples(writer, step, config, examples["audio"], mel,
                           audio, bands)
  writer.flush()
