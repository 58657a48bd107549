"""Size, cost and generation speed of both model families (the baseline).

  python -m benchmarks.generation [--seconds=10] [--repeats=3] [--threads=2]
                                  [--json=PATH]

Reference configs. For each family: parameter counts of the generator and
the discriminator; analytic FLOPs (2 x multiply-adds of every convolution
and filter bank, biases, activations and the band merge not counted) per
second of generated audio; and measured generation speed: `generate_audio`
on one mel of `--seconds` of audio under a `tf.function` with a fixed shape,
one warm-up call, best of `--repeats`, `--threads` intra- and inter-op
threads, as x real time (audio seconds per wall second). For the
multiscale model the network alone (the bands, no merge) is timed too, with
its polyphase frozen banks and with the direct (one output channel)
convolution of `tfvocoder.models.layers.FilterBankConvTranspose`.
"""

import json
import math

from absl import app, flags
import numpy as np
import tensorflow as tf

from tfvocoder import models
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import cost
from tfvocoder.io_utils import atomic_write_text
from tfvocoder.models.layers import FilterBankConvTranspose

flags.DEFINE_float("seconds", 10.0, "Seconds of audio generated per call.")
flags.DEFINE_integer("repeats", 3, "Timed calls (best kept), after warm-up.")
flags.DEFINE_integer("threads", 2, "intra- and inter-op threads (0: default).")
flags.DEFINE_string("json", None, "Also write the figures here.")
FLAGS = flags.FLAGS


def _best_time(fn, arg, repeats):
  """`cost.best_seconds` of `fn(arg)` (warm-up, then best of `repeats`),
  waiting for its tensor or list of tensors."""
  def call():
    out = fn(arg)
    return [o.numpy() for o in out] if isinstance(out, list) else out.numpy()
  return cost.best_seconds(call, repeats)


def measure(family: str, seconds: float, repeats: int) -> dict:
  """Size, analytic cost and measured speed of one family (docstring)."""
  config = VocoderConfig(model=family)
  tf.keras.utils.set_random_seed(config.seed)
  generator = models.build_generator(config)
  discriminator = models.build_discriminator(config)
  frames = math.ceil(seconds * config.sample_rate / config.hop_length)
  audio_seconds = frames / config.frame_rate
  mel = tf.constant(np.random.default_rng(0).normal(
      -2.0, 1.0, (1, frames, config.n_mels)).astype(np.float32))
  spec = [tf.TensorSpec(mel.shape, tf.float32)]
  vocode = tf.function(generator.generate_audio, input_signature=spec)
  elapsed = _best_time(vocode, mel, repeats)
  flops = cost.flops_per_audio_second(generator)
  result = dict(
      model=family,
      generator_parameters=models.parameter_counts(generator),
      discriminator_parameters=models.parameter_counts(discriminator),
      gflops_per_audio_second=flops / 1e9,
      receptive_field_frames=generator.receptive_field_frames,
      audio_seconds=audio_seconds, generate_seconds=elapsed,
      x_real_time=audio_seconds / elapsed,
      achieved_gflops=flops * audio_seconds / elapsed / 1e9)
  if family == "multiscale":
    network = tf.function(lambda m: generator(m, training=False),
                          input_signature=spec)
    network_time = _best_time(network, mel, repeats)
    # The same network with the banks as written in tfvocoder.models.layers
    # (one convolution with a single output channel) instead of polyphase.
    direct = tf.function(lambda m: [
        FilterBankConvTranspose.call(band.synthesis, band.excitation(m))
        for band in generator.band_generators], input_signature=spec)
    direct_time = _best_time(direct, mel, repeats)
    result.update(network_seconds=network_time,
                  network_x_real_time=audio_seconds / network_time,
                  direct_banks_network_seconds=direct_time,
                  direct_banks_network_x_real_time=audio_seconds / direct_time)
  return result


def table(results) -> str:
  """The figures of both families side by side, as aligned text."""
  rows = [("", *[r["model"] for r in results])]
  def add(name, fmt, key, sub=None):
    rows.append((name, *[fmt.format(r[key][sub] if sub else r[key])
                         if key in r else "-" for r in results]))
  add("generator params (trainable)", "{:,}", "generator_parameters",
      "trainable")
  add("generator params (frozen)", "{:,}", "generator_parameters",
      "non_trainable")
  add("discriminator params (trainable)", "{:,}", "discriminator_parameters",
      "trainable")
  add("discriminator params (frozen)", "{:,}", "discriminator_parameters",
      "non_trainable")
  add("GFLOP per audio second", "{:.2f}", "gflops_per_audio_second")
  add("receptive field (frames)", "{}", "receptive_field_frames")
  add("generate_audio, x real time", "{:.1f}", "x_real_time")
  add("network only, x real time", "{:.1f}", "network_x_real_time")
  add("network, direct banks, x real time", "{:.1f}",
      "direct_banks_network_x_real_time")
  add("achieved GFLOP/s", "{:.1f}", "achieved_gflops")
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths)))
                   for row in rows)


def main(argv):
  del argv
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  results = [measure(family, FLAGS.seconds, FLAGS.repeats)
             for family in ("multiscale", "melgan")]
  print(f"{FLAGS.seconds:g} s of audio, best of {FLAGS.repeats}, "
        f"{FLAGS.threads or 'default'} threads")
  print(table(results))
  text = json.dumps(results, indent=2)
  print(text)
  if FLAGS.json:
    atomic_write_text(FLAGS.json, text + "\n")


if __name__ == "__main__":
  app.run(main)
