"""Input pipeline throughput: windows/s from shards of real music.

  python -m benchmarks.pipeline [--data_dir=SHARDS | --input_dir=AUDIO]
      [--batch_size=16] [--cores=2] [--model_steps_per_sec=X]

Data: `--data_dir` (already prepared shards), else `--input_dir` (audio,
prepared into `--work_dir` first), else Debian's hyperrogue-music (found
with `dpkg -L hyperrogue-music`; install it with apt-get). The process is
pinned to `--cores` CPUs and TensorFlow to as many threads.

Prints the training pipeline's windows/s and audio seconds/s (after a
warm-up that fills the shuffle buffer) and, for the target "the pipeline is
>= 5x faster than the model consumes", the ratio to the multiscale model's
consumption at the same batch size: `--model_steps_per_sec` if given, else
measured here (`measure_model`: the trainer's GAN step on a real batch) when
`tfvocoder.training.gan` imports, else left out.

TensorFlow (and every module that imports it) is imported inside the
functions, after `main` has pinned the process: TensorFlow sizes its thread
pools for the CPUs it sees when it loads.
"""

import json
import os
import tempfile
import time

from absl import app, flags, logging

from benchmarks import debian_music_dir as _debian_music_dir
from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_write_text

flags.DEFINE_string("data_dir", None, "Prepared shards (prepare's output).")
flags.DEFINE_string("input_dir", None, "Audio to prepare first.")
flags.DEFINE_string("work_dir", None, "Where --input_dir is prepared "
                    "(default: a temp dir, removed afterwards).")
flags.DEFINE_integer("batch_size", 16, "Windows per batch.")
flags.DEFINE_integer("batches", 300, "Timed batches.")
flags.DEFINE_integer("warmup", 30, "Untimed batches first.")
flags.DEFINE_integer("cores", 2, "CPUs to pin the process to (0: all).")
flags.DEFINE_float("model_steps_per_sec", 0.0, "Multiscale training steps/s "
                   "at --batch_size (0: measure it if the models import).")
flags.DEFINE_integer("model_steps", 3, "Timed steps when measuring the model.")
flags.DEFINE_string("json", None, "Also write the figures here.")
FLAGS = flags.FLAGS


def _pin(cores: int) -> int:
  if cores > 0 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
      else os.cpu_count()


def _shards(config, temp):
  from tfvocoder.data import prepare, sources   # after pinning (docstring)
  if FLAGS.data_dir:
    return FLAGS.data_dir
  input_dir = FLAGS.input_dir or _debian_music_dir()
  if not input_dir:
    raise app.UsageError("no --data_dir/--input_dir and hyperrogue-music is "
                         "not installed (apt-get install hyperrogue-music)")
  out = FLAGS.work_dir or temp
  manifest = sources.prepare_dir(input_dir, out, config,
                                 shard_bytes=10 * 10 ** 6)
  print(f"prepared {input_dir}: "
        + prepare.summarize(manifest).splitlines()[0])
  return out


def measure_pipeline(data_dir, config, batch_size, batches, warmup) -> dict:
  """Windows/s, batches/s and audio seconds/s of the training pipeline."""
  from tfvocoder.data import pipeline           # after pinning (docstring)
  dataset = pipeline.make_dataset(pipeline.shard_pattern(data_dir, "train"),
                                  config, batch_size, training=True, seed=0)
  iterator = iter(dataset)
  for _ in range(warmup):
    next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    batch = next(iterator)
  float(batch["mel"][0, 0, 0])
  seconds = time.perf_counter() - start
  windows = batches * batch_size / seconds
  return {"windows_per_sec": windows, "batches_per_sec": batches / seconds,
          "audio_seconds_per_sec": windows * config.window /
          config.sample_rate}


def measure_model(data_dir, config, batch_size, steps) -> float:
  """Multiscale GAN training steps/s on one real batch (2 warm-up steps).

  Uses `tfvocoder.training.gan.GANTrainer` (the trainer's step) when it imports.
  """
  # After pinning (module docstring); the trainer may fail to import.
  import tensorflow as tf
  from tfvocoder.data import pipeline
  from tfvocoder.training.gan import GANTrainer
  batch = next(iter(pipeline.make_dataset(
      pipeline.shard_pattern(data_dir, "train"), config, batch_size, seed=1)))
  trainer = GANTrainer(config, tf.distribute.get_strategy(), batch_size)
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
  for _ in range(2):
    trainer.train_step(iterator)
  start = time.perf_counter()
  for _ in range(steps):
    losses = trainer.train_step(iterator)
  tf.nest.map_structure(lambda t: t.numpy(), losses)
  return steps / (time.perf_counter() - start)


def _model_steps_per_sec(data_dir, config, batch_size):
  if FLAGS.model_steps_per_sec > 0:
    return FLAGS.model_steps_per_sec, "given"
  try:
    steps = measure_model(data_dir, config, batch_size, FLAGS.model_steps)
  except Exception as e:  # the models are optional for this benchmark
    logging.warning("model consumption not measured: %s", e)
    return None, None
  return steps, "measured"


def main(argv):
  del argv
  cores = _pin(FLAGS.cores)
  import tensorflow as tf                       # after pinning (docstring)
  tf.config.threading.set_intra_op_parallelism_threads(cores)
  tf.config.threading.set_inter_op_parallelism_threads(cores)
  config = VocoderConfig()
  with tempfile.TemporaryDirectory() as temp:
    data_dir = _shards(config, temp)
    result = measure_pipeline(data_dir, config, FLAGS.batch_size,
                              FLAGS.batches, FLAGS.warmup)
    result.update(cores=cores, batch_size=FLAGS.batch_size)
    print(f"pipeline on {cores} cores, batch {FLAGS.batch_size}: "
          f"{result['windows_per_sec']:.0f} windows/s "
          f"({result['batches_per_sec']:.1f} batches/s, "
          f"{result['audio_seconds_per_sec']:.0f} s of audio per s)")
    steps, how = _model_steps_per_sec(data_dir, config, FLAGS.batch_size)
  if steps:
    ratio = result["batches_per_sec"] / steps
    result.update(model_steps_per_sec=steps, pipeline_to_model_ratio=ratio)
    print(f"multiscale model ({how}): {steps:.3f} steps/s = "
          f"{steps * FLAGS.batch_size:.1f} windows/s; pipeline / model = "
          f"{ratio:.0f}x (target >= 5x)")
  if FLAGS.json:
    atomic_write_text(FLAGS.json, json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)
