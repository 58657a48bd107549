"""Training speed of both model families: steps/s and audio seconds/s.

  python -m benchmarks.train_speed [--batch_size=16] [--steps=5]

Both models train on the same in-memory batch (no input pipeline: this
measures the step itself) under the default strategy, reference configs,
after two warm-up steps. Prints steps/s, audio seconds per second, the
multiscale/MelGAN speed ratio, and peak RSS; `--json` writes them.
"""

import json
import resource
import time

from absl import app, flags
import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.data import music, pipeline
from tfvocoder.io_utils import atomic_write_text
from tfvocoder.training.gan import GANTrainer

flags.DEFINE_integer("batch_size", 16, "Global batch size.")
flags.DEFINE_integer("steps", 5, "Timed steps per model (after 2 warm-up).")
flags.DEFINE_integer("threads", 2, "intra-op threads (0: TF default).")
flags.DEFINE_string("json", None, "Write the figures here.")
FLAGS = flags.FLAGS


def _batch(config, size):
  """`pipeline.features` of `size` windows of the synthetic music."""
  audio = music.generate_music(size * config.window / config.sample_rate
                               + 0.1, config.sample_rate, seed=0)
  audio = audio[:size * config.window].reshape(size, config.window)
  audio = tf.constant(config.peak_normalize * audio /
                      np.max(np.abs(audio), axis=1, keepdims=True), tf.float32)
  return pipeline.features(audio, config)


def measure(model: str, batch_size: int, steps: int) -> dict:
  """Steps/s and audio seconds/s of one family's GAN step."""
  config = VocoderConfig(model=model)
  trainer = GANTrainer(config, tf.distribute.get_strategy(), batch_size)
  iterator = iter(tf.data.Dataset.from_tensors(_batch(config, batch_size))
                  .repeat())
  for _ in range(2):
    trainer.train_step(iterator)
  start = time.perf_counter()
  for _ in range(steps):
    losses = trainer.train_step(iterator)
  float(losses["g_loss"])
  seconds = time.perf_counter() - start
  rate = steps / seconds
  return {"model": model, "batch_size": batch_size, "steps_per_sec": rate,
          "audio_seconds_per_sec": rate * batch_size * config.window /
          config.sample_rate}


def main(argv):
  del argv
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  results = [measure(m, FLAGS.batch_size, FLAGS.steps)
             for m in ("melgan", "multiscale")]
  ratio = results[1]["steps_per_sec"] / results[0]["steps_per_sec"]
  peak_rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
  print(f"{'model':<11} {'batch':>5} {'steps/s':>8} {'audio s/s':>10}")
  for r in results:
    print(f"{r['model']:<11} {r['batch_size']:>5} {r['steps_per_sec']:>8.3f} "
          f"{r['audio_seconds_per_sec']:>10.3f}")
  print(f"multiscale / MelGAN steps/s ratio: {ratio:.2f}")
  print(f"peak RSS: {peak_rss_gib:.2f} GiB")
  if FLAGS.json:
    atomic_write_text(FLAGS.json, json.dumps(
        {"results": results, "multiscale_over_melgan": ratio,
         "peak_rss_gib": peak_rss_gib}, indent=2))


if __name__ == "__main__":
  app.run(main)
