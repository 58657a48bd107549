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

  def __post_init__(self):
    """Raise ValueError naming the first bad option (as its flag)."""
    for name, low in (("batch_size", 1), ("max_steps", 0), ("cpu_replicas", 1),
                      ("checkpoint_every", 1), ("summary_every", 1),
                      ("keep_checkpoints", 1)):
      if getattr(self, name) < low:
        raise ValueError(f"--{name}={getattr(self, name)} must be >= {low}")
    if not self.synthetic_minutes > 0:
      raise ValueError(f"--synthetic_minutes={self.synthetic_minutes} must be "
                       "> 0")
    if self.data_dir == "":
      raise ValueError("--data_dir is empty: give the dir of the prepared "
                       "shards, or leave it out for the built-in data")


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
    checkpoints.CheckpointError: no checkpoint of the model dir restores.
    model_dir.ModelDirError: `options.model_dir` cannot be a writable dir,
      or its config.json is unreadable.
    pipeline.ShardError: a bad shard, found before training or (after a
      checkpoint) by a read error while training.
  """
  model_dir.check_model_dir(options.model_dir)
  strategy = _make_strategy(config, options)
  chief = distribute.is_chief(strategy)
  config = model_dir.resolve_config(config, options.model_dir, write=False)
  train_pattern, eval_pattern = _shard_patterns(_data_dir(config, options))
  stale_input = _record_run(config, options, train_pattern, chief)
  trainer = GANTrainer(config, strategy, options.batch_size)

  def iterator_from(seed):
    return iter(_distributed_dataset(strategy, train_pattern, config, options,
                                     seed))

  saved = checkpoints.RunCheckpoints(trainer, iterator_from(config.seed),
                                     options.model_dir,
                                     options.keep_checkpoints)
  iterator = saved.resume(config.learning_rate,
                          reseed=lambda step: iterator_from(config.seed + step),
                          stale_input_until=stale_input)
  report = summaries.TrainingReport(
      trainer, options, _example_batch(eval_pattern, config) if chief else None)

  step = int(trainer.step.numpy())
  last = {}
  with checkpoints.StopRequest() as stop:
    report.begin(step)
    while step < options.max_steps and stop.signal is None:
      losses = _train_step(trainer, iterator, saved, step, train_pattern)
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


def _train_step(trainer, iterator, saved, step, pattern):
  """One step's losses; a shard read error checkpoints `step` first and
  raises a one-line `pipeline.ShardError` naming the shard."""
  try:
    return trainer.step_for(step)(iterator)
  except tf.errors.DataLossError as e:
    saved.save_final(step)
    raise pipeline.data_error(pattern, e, f"; step {step} is checkpointed, "
                              "rerun to resume once the shards are fixed"
                              ) from e


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


def _record_run(config: VocoderConfig, options: TrainOptions,
                train_pattern: str, chief: bool) -> int:
  """Write config.json and run.json (the chief, once the data is found).

  Returns:
    The step up to which the model dir's checkpoints hold an input position
    of other training data (-1: none; see `model_dir.input_record`).
  """
  newest = checkpoints.checkpoints_newest_first(options.model_dir)
  data, stale = model_dir.input_record(
      options.model_dir, options.data_dir, tf.io.gfile.glob(train_pattern),
      int(newest[0].rsplit("-", 1)[1]) if newest else None)
  if chief:
    model_dir.write_config(options.model_dir, config)
    run_options = dataclasses.asdict(options)
    del run_options["model_dir"]
    run_options["data_dir"] = options.data_dir and os.path.abspath(
        options.data_dir)
    model_dir.write_run(options.model_dir, run_options, data)
  return stale


def _data_dir(config: VocoderConfig, options: TrainOptions) -> str:
  """`options.data_dir`, or the built-in dataset (written once) when None."""
  if options.data_dir is not None:
    return options.data_dir
  return sources.ensure_synthetic_dataset(
      os.path.join(options.model_dir, SYNTHETIC_DATA_DIR), config,
      minutes=options.synthetic_minutes)


def _shard_patterns(data_dir: str):
  """(train, held-out) shard globs, checked (`pipeline.check_shards`: a bad
  shard is a `ShardError` before training); held-out falls back to train."""
  train_shards = os.path.join(data_dir, "train-*.tfrecord")
  test_shards = os.path.join(data_dir, "test-*.tfrecord")
  if not tf.io.gfile.glob(train_shards):
    raise FileNotFoundError(
        f"no training shards matching {train_shards}; prepare them with "
        "`python -m tfvocoder.data.prepare --input_dir=... "
        f"--output_dir={data_dir}`")
  patterns = train_shards, (test_shards if tf.io.gfile.glob(test_shards)
                            else train_shards)
  pipeline.check_shards(sorted(set(patterns)))
  return patterns


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
