"""`train(config, options)`: the training job behind `python train.py`.

One loop for every strategy: data from prepared TFRecord shards (or the
built-in synthetic dataset), a `GANTrainer` step under `strategy.run`,
checkpoints every `checkpoint_every` steps and on SIGINT/SIGTERM with a
non-finite-loss guard (`checkpoints`), progress lines and TensorBoard
summaries (`summaries.TrainingReport`), and an optional budget of training
seconds (`max_train_seconds`, counted by `StepClock` and kept in the
checkpoint). The model dir's layout is in `model_dir`.
"""

import dataclasses
import os
import time
from typing import Callable, Dict, Optional

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
  # Stop once this many seconds of training steps (`StepClock`, the whole
  # run's, across resumes) are spent; 0 / None: no limit.
  max_train_seconds: Optional[float] = None

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
    if self.max_train_seconds is not None and not self.max_train_seconds >= 0:
      raise ValueError(f"--max_train_seconds={self.max_train_seconds} must be "
                       ">= 0 (0: no limit)")
    if self.data_dir == "":
      raise ValueError("--data_dir is empty: give the dir of the prepared "
                       "shards, or leave it out for the built-in data")


@dataclasses.dataclass
class TrainResult:
  step: int                      # the step training stopped at
  losses: Dict[str, float]       # the last step's losses
  trainer: GANTrainer            # networks and optimizers, as trained
  stopped_by: Optional[str]      # signal name when SIGINT/SIGTERM stopped it
  train_seconds: float = 0.0     # seconds of training steps (`StepClock`)


class StepClock:
  """Seconds of training steps, as one uninterrupted run would spend them.

  Counts the wall time of the step calls only (input, both updates, reading
  the losses back), not start-up, summaries or checkpoint saves. The first
  call of each compiled step in a process traces it (and fills the input
  pipeline): a fresh run pays that once and it counts; a resumed run's
  re-tracing would not happen in a continuous run, so each such call is
  charged a steady step instead: the mean of this process's other steps
  (nothing until there is one, so a resumed run of a single step does not
  count it). The total is kept in `variable` after every step, so every
  checkpoint holds it.

  Args:
    variable: float64 scalar tf.Variable holding the seconds so far
      (restored from the checkpoint when resuming).
    resumed: whether the run resumed from a checkpoint.
    timer: seconds, monotonic (tests inject one).
  """

  def __init__(self, variable: tf.Variable, resumed: bool,
               timer: Callable[[], float] = time.perf_counter):
    self.variable = variable
    self.resumed = resumed
    self._timer = timer
    self._start = float(variable.numpy())      # seconds before this process
    self._called = set()                       # step functions called here
    self._steady_seconds = 0.0
    self._steady_steps = 0
    self._retraces = 0                         # charged a steady step each

  @property
  def step_seconds(self) -> float:
    """A steady step's seconds: this process's mean (0 before one)."""
    return self._steady_seconds / max(self._steady_steps, 1)

  @property
  def seconds(self) -> float:
    """Training seconds of the whole run so far."""
    return (self._start + self._steady_seconds
            + self._retraces * self.step_seconds)

  def spent(self, budget: Optional[float]) -> bool:
    """True when `budget` seconds (None / 0: no limit) are spent."""
    return bool(budget) and self.seconds >= budget

  def time(self, step_fn, run: Callable[[], Dict[str, float]]
           ) -> Dict[str, float]:
    """`run()` (one call of `step_fn`), timed and charged; its value."""
    start = self._timer()
    values = run()
    elapsed = self._timer() - start
    name = getattr(step_fn, "__name__", repr(step_fn))
    if self.resumed and name not in self._called:
      self._retraces += 1
      logging.info("resumed run: the first %s call took %.2f s (tracing); "
                   "charged as a steady step", name, elapsed)
    else:
      self._steady_seconds += elapsed
      self._steady_steps += 1
    self._called.add(name)
    self.variable.assign(self.seconds)
    return values


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

  clock = StepClock(saved.train_seconds, resumed=saved.good is not None)
  with checkpoints.StopRequest() as stop:
    step, last = _run_steps(trainer, iterator, saved, report, clock, stop,
                            options, train_pattern)
    saved.save_final(step)
  report.end(step)
  saved.close()
  if stop.signal:
    logging.info("stopped by %s at step %d", stop.signal, step)
  return TrainResult(step, last, trainer, stop.signal, clock.seconds)


def _run_steps(trainer, iterator, saved, report, clock, stop, options,
               pattern):
  """Train until `max_steps`, a stop request or the `max_train_seconds`
  budget; checkpoints every `checkpoint_every` steps.

  Returns:
    (the step reached, the last step's losses {name: float}).
  """
  step = int(trainer.step.numpy())
  last = {}
  budget = options.max_train_seconds
  report.begin(step)
  if budget and clock.seconds:
    logging.info("%.1f s of the %g s training budget spent before step %d",
                 clock.seconds, budget, step)
  while (step < options.max_steps and stop.signal is None
         and not clock.spent(budget)):
    step_fn = trainer.step_for(step)
    values = clock.time(step_fn, lambda: _train_step(
        step_fn, iterator, saved, step, pattern))
    step = int(trainer.step.numpy())
    saved.check_losses(step, values)
    last = values
    report.add(step, values)
    if step % options.checkpoint_every == 0:
      saved.save(step)
  if clock.spent(budget):
    logging.info("training budget of %g s spent at step %d (%.1f s of "
                 "steps)", budget, step, clock.seconds)
  return step, last


def _train_step(step_fn, iterator, saved, step, pattern):
  """One step's losses {name: float} (`step_fn`: the trainer's `step_for`
  `step`); a shard read error checkpoints `step` first and raises a
  one-line `pipeline.ShardError` naming the shard."""
  try:
    return {k: float(v) for k, v in step_fn(iterator).items()}
  except tf.errors.DataLossError as e:
    saved.save_final(step)
    raise pipeline.data_error(pattern, e, f"; step {step} is checkpointed, "
                              "rerun to resume once the shards are fixed"
                              ) from e


# --- setup ------------------------------------------------------------------
def _make_strategy(config: VocoderConfig,
                   options: TrainOptions) -> tf.distribute.Strategy:
  """Set determinism, seeds and precision; the strategy for the batch size
  (and the training budget: one clock, one host)."""
  if options.deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(config.seed)
  if config.mixed_precision:
    keras.mixed_precision.set_global_policy("mixed_float16")
  strategy = distribute.make_strategy(options.strategy, options.cpu_replicas)
  if options.batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"--batch_size={options.batch_size} must be divisible by "
                     f"the {strategy.num_replicas_in_sync} replicas")
  if options.max_train_seconds and isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy):
    raise ValueError(f"--max_train_seconds={options.max_train_seconds} needs "
                     "a single-host strategy: each worker's clock would stop "
                     "it at another step")
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
