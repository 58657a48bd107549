"""Train a vocoder: flags -> VocoderConfig -> tfvocoder.training.train().

  python train.py --flagfile=multiscale.flags --data_dir=SHARDS --model_dir=DIR

Flags given after --flagfile override it. Every VocoderConfig field is a
flag (see `python train.py --helpfull`). Resuming (a model dir with a
config.json): every flag not given keeps the run's saved value
(config.json, run.json); given ones override it (model fields must match).
A user error (a bad value, missing shards, an unusable model dir) is one
line `train: error: ...` on stderr and exit status 1.
"""

import sys

from absl import app, flags, logging

from tfvocoder import cli

if __name__ == "__main__":  # before TensorFlow loads: its start-up log lines
  cli.setup_logging()

from tfvocoder import flags as config_flags
from tfvocoder import training
from tfvocoder.training import checkpoints, model_dir
from tfvocoder.training.distribute import STRATEGIES

flags.DEFINE_string("data_dir", None, "Prepared TFRecord shards "
                    "(tfvocoder.data.prepare); none: the built-in synthetic "
                    "music dataset, written once under the model dir.")
flags.DEFINE_string("model_dir", None, "Checkpoints, config.json and "
                    "TensorBoard logs.", required=True)
flags.DEFINE_integer("batch_size", 16, "Global batch size (all replicas).",
                     lower_bound=1)
flags.DEFINE_integer("max_steps", 100_000, "Train until this step.",
                     lower_bound=0)
flags.DEFINE_float("max_train_seconds", 0, "Also stop (with a checkpoint) "
                   "once the run has spent this many seconds in training "
                   "steps, counted across resumes (not start-up, summaries "
                   "or saves; a resumed run's re-tracing is not charged); "
                   "0: no limit.", lower_bound=0)
flags.DEFINE_enum("strategy", "auto", STRATEGIES, "tf.distribute strategy; "
                  "auto: multi_worker with TF_CONFIG, mirrored with >1 GPU.")
flags.DEFINE_integer("cpu_replicas", 1, "With --strategy=mirrored and no GPU: "
                     "logical CPU replicas.", lower_bound=1)
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.",
                     lower_bound=1)
flags.DEFINE_integer("summary_every", 100, "Steps between progress lines and "
                     "scalar summaries (audio/images every 10x).",
                     lower_bound=1)
flags.DEFINE_bool("overfit", False, "Train on a single batch (debugging).")
flags.DEFINE_bool("deterministic", False, "Op determinism: identical weights "
                  "when resuming.")
flags.DEFINE_float("synthetic_minutes", 5.0, "Minutes of built-in synthetic "
                   "music when no --data_dir is given.")
flags.register_validator("synthetic_minutes", lambda minutes: minutes > 0,
                         message="must be > 0")
config_flags.define_config_flags()
FLAGS = flags.FLAGS

# TrainOptions fields that are flags; run.json keeps them for a resume.
OPTION_FLAGS = ("data_dir", "batch_size", "max_steps", "max_train_seconds",
                "strategy", "cpu_replicas", "checkpoint_every",
                "summary_every", "overfit", "deterministic",
                "synthetic_minutes")
# What a user can cause; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, model_dir.ModelDirError,
               checkpoints.NonFiniteLossError, checkpoints.CheckpointError)


def _option_values(saved):
  """{flag: value} of OPTION_FLAGS: given, else `saved`'s, else default."""
  values = {name: FLAGS[name].value for name in OPTION_FLAGS}
  kept = {name: saved[name] for name in OPTION_FLAGS
          if not FLAGS[name].present and name in saved}
  changed = [f"--{k}={v}" for k, v in sorted(kept.items()) if v != values[k]]
  if changed:
    logging.info("resuming with %s (saved in %s)", " ".join(changed),
                 model_dir.RUN_FILE)
  return dict(values, **kept)


def _config_and_options():
  """(VocoderConfig, TrainOptions) from the flags and, on resume, the run's
  saved config.json and run.json (flags given win)."""
  model_dir.check_model_dir(FLAGS.model_dir)
  saved = model_dir.saved_config(FLAGS.model_dir)
  config = config_flags.config_from_flags(base=saved)
  saved_options = {}
  if saved:
    logging.info("resuming %s: flags not given keep the run's saved values",
                 FLAGS.model_dir)
    saved_options = model_dir.load_run(FLAGS.model_dir).get("options")
  options = training.TrainOptions(
      model_dir=FLAGS.model_dir,
      **_option_values(saved_options if isinstance(saved_options, dict)
                       else {}))
  return config, options


def _one_line(error: BaseException) -> str:
  return " ".join(str(error).strip().splitlines()) or type(error).__name__


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    config, options = _config_and_options()
    result = training.train(config, options)
  except USER_ERRORS as e:
    print(f"train: error: {_one_line(e)}", file=sys.stderr)
    return 1
  # Stopped by SIGINT/SIGTERM after a checkpoint: 130/143, like the signal.
  return checkpoints.EXIT_STATUS.get(result.stopped_by, 0)


if __name__ == "__main__":
  app.run(main)
