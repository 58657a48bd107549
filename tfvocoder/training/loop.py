"""`train(config, options)`: the training job behind `python train.py`.

One loop for every strategy: data from prepared TFRecord shards (or the
built-in synthetic dataset), a `GANTrainer` step under `strategy.run`,
checkpoints every `checkpoint_every` steps and on SIGINT/SIGTERM with a
non-finite-loss guard (`checkpoints`), progress lines and TensorBoard
summaries (`summaries.TrainingReport`). The model dir's layout is in
`model_dir`.
"""

import dataclasses
import os
from typing import Dict, Optional

from absl import logging
import keras
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.data import pipeline, sources
from tfvocoder.training import checkpoints, distribute, model_dir, summaries
from tfvocoder.training.gan import GANTrainer

SYNTHETIC_DATA_DIR = "synthetic_data"   # under the model dir


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


@dataclasses.dataclass
class TrainResult:
  step: int                      # the step training stopped at
  losses: Dict[str, float]       # the last step's losses
  trainer: GANTrainer            # networks and optimizers, as trained
  stopped_by: Optional[str]      # signal name when SIGINT/SIGTERM stopped it


def train(config: VocoderConfig, options: TrainOptions) -> TrainResult:
  """Train (or resume) in `options.model_dir`.

  Raises:
    ValueError: a batch size the replicas do not divide, or a model config
      that differs from the one saved in the model dir.
    FileNotFoundError: no training shards in `options.data_dir`.
    checkpoints.NonFiniteLossError: a loss or weight turned NaN/inf (the
      last good checkpoint is restored, nothing is saved).
  """
  strategy = _make_strategy(config, options)
  chief = distribute.is_chief(strategy)
  config = model_dir.resolve_config(config, options.model_dir, write=chief)
  train_pattern, eval_pattern = _shard_patterns(_data_dir(config, options))
  trainer = GANTrainer(config, strategy, options.batch_size)

  def iterator_from(seed):
    return iter(_distributed_dataset(strategy, train_pattern, config, options,
                                     seed))

  saved = checkpoints.RunCheckpoints(trainer, iterator_from(config.seed),
                                     options.model_dir,
                                     options.keep_checkpoints)
  iterator = saved.resume(config.learning_rate,
                          reseed=lambda step: iterator_from(config.seed + step))
  report = summaries.TrainingReport(
      trainer, options, _example_batch(eval_pattern, config) if chief else None)

  step = int(trainer.step.numpy())
  report.begin(step)
  last = {}
  with checkpoints.StopRequest() as stop:
    while step < options.max_steps and stop.signal is None:
      losses = trainer.step_for(step)(iterator)
      values = {k: float(v) for k, v in losses.items()}
      step = int(trainer.step.numpy())
      saved.check_losses(step, values)
      last = values
      report.add(step, values)
      if step % options.checkpoint_every == 0:
        saved.save(step)
    saved.save_final(step)
  report.end(step)
  saved.close()
  if stop.signal:
    logging.info("stopped by %s at step %d", stop.signal, step)
  return TrainResult(step, last, trainer, stop.signal)


# --- setup ------------------------------------------------------------------
def _make_strategy(config: VocoderConfig,
                   options: TrainOptions) -> tf.distribute.Strategy:
  """Set determinism, seeds and precision; the strategy for the batch size."""
  if options.deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(config.seed)
  if config.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_float16")
  strategy = distribute.make_strategy(options.strategy, options.cpu_replicas)
  if options.batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={options.batch_size} must be divisible by "
                     f"the {strategy.num_replicas_in_sync} replicas")
  return strategy


def _data_dir(config: VocoderConfig, options: TrainOptions) -> str:
  """`options.data_dir`, or the built-in dataset (written once) when None."""
  if options.data_dir is not None:
    return options.data_dir
  return sources.ensure_synthetic_dataset(
      os.path.join(options.model_dir, SYNTHETIC_DATA_DIR), config,
      minutes=options.synthetic_minutes)


def _shard_patterns(data_dir: str):
  """(train, held-out) shard globs; held-out falls back to train."""
  train_shards = os.path.join(data_dir, "train-*.tfrecord")
  test_shards = os.path.join(data_dir, "test-*.tfrecord")
  if not tf.io.gfile.glob(train_shards):
    raise FileNotFoundError(
        f"no training shards matching {train_shards}; prepare them with "
        "`python -m tfvocoder.data.prepare --input_dir=... "
        f"--output_dir={data_dir}`")
  return train_shards, (test_shards if tf.io.gfile.glob(test_shards)
                        else train_shards)


def _distributed_dataset(strategy, pattern, config, options, seed):
  """Per-replica training batches of `pattern`, split across replicas."""

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
  long_config = config.replace(window=config.window * 4)
  dataset = pipeline.make_dataset(pattern, long_config, count, training=False)
  return next(iter(dataset))
