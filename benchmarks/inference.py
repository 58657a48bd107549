"""Inference speed of the exported vocoders against the machine's peak.

  python -m benchmarks.inference [--seconds=10] [--repeats=3] [--threads=2]
                                 [--json=PATH] [--work_dir=DIR]

For each family (reference configs, freshly initialised weights: speed
does not depend on their values) the generator is checkpointed and
exported (`tfvocoder.export.export_model`, parity checks skipped), then a
log-mel of `--seconds` of synthetic music (`cost.speed_mel`) is vocoded,
one warm-up then best of `--repeats`, with `--threads` threads, by:

  keras          `generate_audio` under a fixed-shape `tf.function`
  saved_model    the SavedModel's serving_default, whole mel in one call
  tflite_<v>     `tfvocoder.inference.Vocoder` over the fixed-chunk TFLite
                 file (what a user of `vocode` gets: chunking, the smooth
                 merge windows and, for the multiscale model, the exact
                 band-edge correction included)
  tflite_<v>_chunk  one bare `serving_default` call on one chunk

Figures: x real time (audio seconds per wall second), GFLOP per audio
second (2 x the generator's multiply-adds), achieved GFLOP/s and its
fraction of the measured peak: a 2048^3 float32 GEMM in TensorFlow and a
[512, 1024] x [1024, 1024] FULLY_CONNECTED in LiteRT/XNNPACK, same threads,
each measured before and after the runs (best kept). int8 figures count the
same FLOPs against the float32 peak (int8 GEMMs can exceed it).
"""

import os

# Quiet TensorFlow's C++ logs unless asked otherwise: set before it loads,
# so the imports below come after this line.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfvocoder import cli

if __name__ == "__main__":  # before TensorFlow loads: readable logs,
  cli.setup_logging()       # no INFO chatter above the tables

import tempfile
import time

from absl import app, flags
from ai_edge_litert.interpreter import Interpreter
import numpy as np
import tensorflow as tf

from benchmarks import report_json
from tfvocoder import models
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import cost
from tfvocoder.evaluation.cost import best_seconds
from tfvocoder.export import export_model
from tfvocoder.inference import Vocoder
from tfvocoder.io_utils import atomic_write_text

flags.DEFINE_float("seconds", 10.0, "Seconds of audio per vocoding call.")
flags.DEFINE_integer("repeats", 3, "Timed calls (best kept), after warm-up.")
flags.DEFINE_integer("threads", 2, "TF intra/inter-op and TFLite threads.")
flags.DEFINE_string("json", None, "Also write the figures here.")
flags.DEFINE_string("work_dir", None, "Keep model dirs and exports here "
                    "(default: a temporary dir).")
flags.DEFINE_list("families", ["multiscale", "melgan"], "Generator families.")
FLAGS = flags.FLAGS

VARIANTS = ("fp32", "fp16", "int8")


def peak_gflops(threads: int, repeats: int) -> dict:
  """Measured float32 GEMM peak of TensorFlow and of LiteRT (XNNPACK)."""
  n = 2048
  a = tf.random.normal([n, n])
  b = tf.random.normal([n, n])
  matmul = tf.function(lambda: tf.matmul(a, b))
  tf_seconds = best_seconds(lambda: matmul().numpy(), repeats)
  rows, depth = 512, 1024
  weight = tf.constant(np.random.default_rng(0).normal(
      0, 0.03, (depth, depth)).astype(np.float32))
  module = tf.Module()
  module.dense = tf.function(
      lambda x: {"y": tf.matmul(x, weight)},
      input_signature=[tf.TensorSpec([rows, depth], tf.float32, name="x")])
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [module.dense.get_concrete_function()], module)
  runner = Interpreter(model_content=converter.convert(),
                       num_threads=threads).get_signature_runner()
  x = np.random.default_rng(1).normal(size=(rows, depth)).astype(np.float32)
  lite_seconds = best_seconds(lambda: runner(x=x), repeats * 3)
  return {"tf_gemm_gflops": 2 * n ** 3 / tf_seconds / 1e9,
          "litert_gemm_gflops": 2 * rows * depth ** 2 / lite_seconds / 1e9}


def export_family(family: str, work_dir: str):
  """(export dir, generator, config, export seconds) of a fresh
  reference-config model."""
  config = VocoderConfig(model=family)
  tf.keras.utils.set_random_seed(config.seed)
  generator = models.build_generator(config)
  model_dir = os.path.join(work_dir, f"{family}_model")
  tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator),
                             model_dir, 1).save()
  atomic_write_text(os.path.join(model_dir, "config.json"), config.to_json())
  out_dir = os.path.join(work_dir, f"{family}_export")
  start = time.perf_counter()
  export_model(model_dir, out_dir, check_parity=False)
  return out_dir, generator, config, time.perf_counter() - start


def measure(family: str, work_dir: str, seconds: float, repeats: int,
            threads: int) -> dict:
  """x real time of every runtime of one family (module docstring)."""
  out_dir, generator, config, export_seconds = export_family(family, work_dir)
  hop = config.hop_length
  mel = cost.speed_mel(config, seconds)
  frames = len(mel)
  audio_seconds = frames * hop / config.sample_rate
  flops = cost.flops_per_audio_second(generator)
  result = {"model": family, "gflop_per_audio_second": flops / 1e9,
            "export_seconds": export_seconds, "x_real_time": {}}

  def record(name, elapsed, covered_seconds=audio_seconds):
    result["x_real_time"][name] = covered_seconds / elapsed

  keras_fn = tf.function(generator.generate_audio, input_signature=[
      tf.TensorSpec([1, frames, config.n_mels], tf.float32)])
  batch = tf.constant(mel[None])
  record("keras", best_seconds(lambda: keras_fn(batch).numpy(), repeats))
  serve = tf.saved_model.load(os.path.join(out_dir, "saved_model")).signatures[
      "serving_default"]
  record("saved_model", best_seconds(
      lambda: serve(mel=batch)["audio"].numpy(), repeats))
  for variant in VARIANTS:
    vocoder = Vocoder(os.path.join(out_dir, f"vocoder_{variant}.tflite"),
                      num_threads=threads)
    record(f"tflite_{variant}", best_seconds(lambda: vocoder.vocode(mel),
                                             repeats))
    chunk = mel[:vocoder.chunk_frames]
    record(f"tflite_{variant}_chunk",
           best_seconds(lambda: vocoder.one_shot(chunk), repeats * 3),
           covered_seconds=len(chunk) * hop / config.sample_rate)
  result["tflite_chunk_frames"] = vocoder.chunk_frames
  return result


def table(results, peak) -> str:
  """x real time (and fraction of the peak) per runtime and family."""
  names = list(results[0]["x_real_time"])
  rows = [("x real time (fraction of peak)", *[r["model"] for r in results])]
  rows.append(("GFLOP per audio second",
               *[f"{r['gflop_per_audio_second']:.2f}" for r in results]))
  for name in names:
    rows.append((name, *[f"{r['x_real_time'][name]:.1f} "
                         f"({100 * r['fraction_of_peak'][name]:.0f} %)"
                         for r in results]))
  widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
  lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths)))
           for row in rows]
  lines.append(f"peak GEMM: TensorFlow {peak['tf_gemm_gflops']:.0f} GFLOP/s, "
               f"LiteRT {peak['litert_gemm_gflops']:.0f} GFLOP/s")
  return "\n".join(lines)


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  peak = peak_gflops(FLAGS.threads, FLAGS.repeats)
  with tempfile.TemporaryDirectory() as tmp:
    work_dir = FLAGS.work_dir or tmp
    results = [measure(family, work_dir, FLAGS.seconds, FLAGS.repeats,
                       FLAGS.threads) for family in FLAGS.families]
  # The peak is measured before and after (best kept): on a shared machine
  # one reading can fall in a busy moment.
  again = peak_gflops(FLAGS.threads, FLAGS.repeats)
  peak = {key: max(value, again[key]) for key, value in peak.items()}
  for result in results:
    result["fraction_of_peak"] = {
        name: result["gflop_per_audio_second"] * x / peak[
            "litert_gemm_gflops" if name.startswith("tflite") else
            "tf_gemm_gflops"]
        for name, x in result["x_real_time"].items()}
  print(f"{FLAGS.seconds:g} s of audio, best of {FLAGS.repeats} after a "
        f"warm-up, {FLAGS.threads} threads")
  print(table(results, peak))
  if len(results) == 2:
    ms, mg = results
    speed = lambda r, v: r["x_real_time"][f"tflite_{v}"]
    print("targets: multiscale tflite_fp32 >= 10x: "
          f"{speed(ms, 'fp32') >= 10}; every multiscale TFLite variant at "
          "least as fast as MelGAN's: "
          f"{all(speed(ms, v) >= speed(mg, v) for v in VARIANTS)}")
  report_json({"peak": peak, "results": results}, FLAGS.json)


if __name__ == "__main__":
  app.run(main)
