"""Evaluate trained vocoders against real audio and a Griffin-Lim baseline.

  python -m tfvocoder.evaluate --model_dir=DIR [--model_dir=DIR2 ...]
      --data_dir=SHARDS --output_dir=OUT [--audio=FILE ...] [--examples=6]
      [--seconds=2] [--seed=0] [--export_dir=EXPORT ...] [--notflite]
      [--novisqol]

Examples: `--examples` windows of `--seconds` drawn (seeded reservoir
sample, so the same seed and data give the same windows) from the fixed,
consecutive held-out windows of the `--split` shards of `--data_dir`
(`tfvocoder.data.pipeline.make_dataset(..., training=False)`, peak-normalised
like training windows), and/or one example per `--audio` file (its first
`--max_audio_seconds`). Each example's log-mel is vocoded by every model and
by Griffin-Lim (`tfvocoder.evaluation.griffin_lim`), and compared with the
real audio by every `tfvocoder.evaluation.metrics` distance and, unless
--novisqol, by ViSQOL (`tfvocoder.evaluation.visqol`: MOS-LQO at 48 kHz,
higher is better, 1 to about 4.73; up to 1 s per 2 s example and system;
examples of at least 0.96 s).

Cost and speed (per system): parameter counts, analytic FLOPs per audio
second (`tfvocoder.evaluation.cost`), x real time of Keras `generate_audio` on
`--speed_seconds` of synthetic music, of the TFLite fp32 file through
`tfvocoder.inference.Vocoder` (from `--export_dir`, else exported to a
temporary dir; left out with the reason when export fails or --notflite),
and of Griffin-Lim.

Output: OUT/metrics.json (everything, per example and averaged), and
OUT/report.html with OUT/assets/ (`tfvocoder.evaluation.report`). An example
whose real audio is silent (RMS at or below -90 dB re full scale, e.g. all
zeros: `metrics.silent_reference`) is skipped with a warning, and listed
with the reason in metrics.json ("skipped"), on the page and in the printed
summary. Bad input (model dir, data, audio file, an OUT that cannot be
created or written, every example silent) is one line
`evaluate: error: ...` naming the path, exit status 1; OUT is checked
before any slow work.

This module is the command line only; the run is
`tfvocoder.evaluation.run.evaluate` (see `tfvocoder.evaluation`).
"""

import os
import sys

from absl import app, flags

from tfvocoder import cli

if __name__ == "__main__":  # before TensorFlow loads: its start-up log lines
  cli.setup_logging()

import tensorflow as tf

from tfvocoder.evaluation import EvaluateError
from tfvocoder.evaluation.griffin_lim import N_ITER
from tfvocoder.evaluation.report import (skipped_lines, summary_table,
                                         visqol_note)
from tfvocoder.evaluation.run import evaluate


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so
  importing this module never clashes with other modules' flags)."""
  flags.DEFINE_multi_string("model_dir", [], "Training model dir (config.json "
                            "+ checkpoints); repeat to compare models; none: "
                            "Griffin-Lim only.")
  flags.DEFINE_string("data_dir", None, "Prepared shards (`prepare` output or "
                      "the synthetic dataset dir).")
  flags.DEFINE_multi_string("audio", [], "Audio files to evaluate on (also or "
                            "instead of --data_dir).")
  flags.DEFINE_string("output_dir", None, "Where metrics.json, report.html and "
                      "assets/ go.")
  flags.DEFINE_string("split", "test", "Shard split of --data_dir.")
  flags.DEFINE_integer("examples", 6, "Held-out windows to evaluate.")
  flags.DEFINE_float("seconds", 2.0, "Length of each held-out window.")
  flags.DEFINE_integer("seed", 0, "Seeds the window choice and Griffin-Lim.")
  flags.DEFINE_float("max_audio_seconds", 10.0, "Seconds used of each --audio.")
  flags.DEFINE_integer("gl_iters", N_ITER, "Griffin-Lim iterations.")
  flags.DEFINE_float("speed_seconds", 4.0, "Audio seconds per timed call.")
  flags.DEFINE_integer("speed_repeats", 2, "Timed calls (best kept).")
  flags.DEFINE_bool("tflite", True, "Also time the TFLite fp32 vocoder.")
  flags.DEFINE_multi_string("export_dir", [], "`python -m export` output of "
                            "each --model_dir, in order (default: export to a "
                            "temporary dir for the TFLite timing).")
  flags.DEFINE_integer("threads", 2, "TF intra/inter-op and TFLite threads.")
  flags.DEFINE_bool("visqol", True, "Also score ViSQOL (MOS-LQO, higher is "
                    "better, 1-~4.73; examples of at least 0.96 s).")


def main(argv):
  del argv
  FLAGS = flags.FLAGS
  if not FLAGS.output_dir:
    raise app.UsageError("--output_dir is required")
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  try:
    result = evaluate(
        FLAGS.model_dir, FLAGS.output_dir, data_dir=FLAGS.data_dir,
        audio_files=FLAGS.audio, examples=FLAGS.examples,
        seconds=FLAGS.seconds, seed=FLAGS.seed, split=FLAGS.split,
        max_audio_seconds=FLAGS.max_audio_seconds, gl_iters=FLAGS.gl_iters,
        speed_seconds=FLAGS.speed_seconds, speed_repeats=FLAGS.speed_repeats,
        tflite=FLAGS.tflite, export_dirs=FLAGS.export_dir,
        threads=FLAGS.threads, visqol=FLAGS.visqol)
  except EvaluateError as e:
    print(f"evaluate: error: {e}", file=sys.stderr)
    return 1
  print(summary_table(result))
  print(visqol_note(result))
  for line in skipped_lines(result):
    print(line)
  print(f"report: {os.path.join(FLAGS.output_dir, 'report.html')}")
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
