"""`make run`: the whole job on the built-in data, one command after another.

  python -m tfvocoder.quickstart [--run_dir=runs/quickstart] [--max_steps=N]

Runs, as a user would, each project command in turn:
  1. `train.py --flagfile=quickstart.flags` (built-in synthetic music),
  2. `python -m export` (SavedModel + TFLite),
  3. writes a held-out example (test split) as a wav and vocodes it with
     `python -m tfvocoder.vocode` through the exported SavedModel,
  4. `python -m tfvocoder.evaluate` against Griffin-Lim on the test split
     (it prints the summary table: distances, ViSQOL, speed),
and prints where the report, TensorBoard logs and exported models are.
Re-running resumes training and redoes the later steps.
"""

import os
import subprocess
import sys
import time

from absl import app, flags, logging
import numpy as np
import soundfile as sf

from tfvocoder import cli
from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_path

flags.DEFINE_string("run_dir", os.path.join("runs", "quickstart"),
                    "Model dir of the quick-start run.")
flags.DEFINE_integer("max_steps", None, "Override quickstart.flags' steps.")
flags.DEFINE_integer("examples", 4, "Held-out windows in the report.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(title, args):
  logging.info("==> %s", title)
  command = [sys.executable] + args
  print("$ " + " ".join(args), flush=True)
  start = time.perf_counter()
  subprocess.run(command, cwd=ROOT, check=True)
  logging.info("%s done in %.0f s", title, time.perf_counter() - start)


def write_held_out_wav(run_dir: str, path: str) -> str:
  """Write the first held-out window (4x the training length) as a wav."""
  # TensorFlow only now, after training: this process does not hold it
  # while the training subprocess runs.
  from tfvocoder.data import pipeline
  with open(os.path.join(run_dir, "config.json")) as f:
    config = VocoderConfig.from_json(f.read())
  data_dir = os.path.join(run_dir, "synthetic_data")
  long_config = config.replace(window=config.window * 4)
  batch = next(iter(pipeline.make_dataset(
      pipeline.shard_pattern(data_dir, "test"), long_config, 1,
      training=False)))
  audio = np.asarray(batch["audio"][0])
  with atomic_path(path) as tmp:
    sf.write(tmp, audio, config.sample_rate, subtype="PCM_16", format="WAV")
  return path


def main(argv):
  del argv
  run_dir = FLAGS.run_dir
  train_args = ["train.py", "--flagfile=quickstart.flags",
                f"--model_dir={run_dir}"]
  if FLAGS.max_steps:
    train_args.append(f"--max_steps={FLAGS.max_steps}")
  _run("train (quickstart.flags, built-in synthetic music)", train_args)
  exported = os.path.join(run_dir, "exported")
  _run("export SavedModel + TFLite",
       ["-m", "export", f"--model_dir={run_dir}", f"--output_dir={exported}"])
  example = write_held_out_wav(run_dir, os.path.join(run_dir, "example",
                                                     "held_out.wav"))
  vocoded = os.path.join(run_dir, "vocoded")
  _run("vocode a held-out example",
       ["-m", "tfvocoder.vocode", example,
        f"--model={os.path.join(exported, 'saved_model')}",
        f"--output_dir={vocoded}",
        "--overwrite"])   # its own output of an earlier run: redone
  report = os.path.join(run_dir, "report")
  _run("evaluate against Griffin-Lim",
       ["-m", "tfvocoder.evaluate", f"--model_dir={run_dir}",
        f"--data_dir={os.path.join(run_dir, 'synthetic_data')}",
        f"--output_dir={report}", f"--examples={FLAGS.examples}",
        f"--export_dir={exported}"])
  print(f"""
Quick start finished.
  report:        {os.path.join(report, 'report.html')}
  metrics:       {os.path.join(report, 'metrics.json')}
  TensorBoard:   tensorboard --logdir={run_dir}
  SavedModel:    {os.path.join(exported, 'saved_model')}
  TFLite:        {exported}/vocoder_{{fp32,fp16,int8}}.tflite
  vocoded audio: {vocoded}  (from {example})
""")


if __name__ == "__main__":
  cli.setup_logging()
  app.run(main)
