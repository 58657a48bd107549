"""Learning curves: quality against training time for named train.py recipes.

  python -m benchmarks.learning_curve --data_dir=SHARDS --output_dir=OUT \\
      --recipe='multiscale=multiscale.flags --batch_size=8' \\
      --recipe='melgan=melgan.flags' --budget_minutes=10 --marks=1,2,5,10 \\
      [--examples=5 --seconds=6 --seed=0 --novisqol]

A recipe is `NAME=[FLAGFILE] [--flag=value ...]`: what you would type after
`python train.py` (not --data_dir, --model_dir, --max_train_seconds: the
runner sets them). Each recipe trains in OUT/NAME (log: OUT/NAME/train.log)
for an equal budget of training-step time, counted by train.py
(`--max_train_seconds`: start-up, summaries, checkpoints and the
evaluation do not count); at every mark (minutes of that time, the budget
last; default 10/20/50/100 % of it; every recipe reaches a mark before any
goes on) the saved generator is evaluated on the same seeded held-out
windows of the 'test' split: log-mel L1, MR-STFT, ViSQOL, LSD (per band)
and the phase excess at band edges, with Griffin-Lim once as a reference.

Writes OUT/curves.json (every figure, after each mark), OUT/curves.md (the
table, also printed) and OUT/curves.png (a panel per figure against
training minutes). Rerun the same command to resume: finished marks are
skipped, an interrupted segment resumes its checkpoint; later marks (a
larger budget) may be added. Bad input is one line `learning_curve: error:
...` and exit status 1; a recipe whose training fails is listed, the
others go on (exit status 1 at the end); Ctrl-C: 130.
"""

import os
import sys

from absl import app, flags, logging

from tfvocoder import cli

if __name__ == "__main__":  # before TensorFlow loads: its start-up log lines
  cli.setup_logging()

from tfvocoder.evaluation import EvaluateError, curve_report, curve_setup
from tfvocoder.evaluation import learning_curve
from tfvocoder.evaluation.griffin_lim import N_ITER

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(REPO, "train.py")

flags.DEFINE_string("data_dir", None, "Prepared shards (train and test "
                    "splits).", required=True)
flags.DEFINE_string("output_dir", None, "curves.json, curves.md, curves.png "
                    "and a model dir per recipe.", required=True)
flags.DEFINE_multi_string("recipe", None, "NAME=[FLAGFILE] [--flag=value "
                          "...]; repeat for each recipe.", required=True)
flags.DEFINE_float("budget_minutes", None, "Minutes of training steps per "
                   "recipe.", required=True)
flags.DEFINE_list("marks", None, "Evaluate at these training minutes "
                  "(increasing, up to the budget; the budget is always "
                  "last). Default: 10, 20, 50, 100 % of the budget.")
flags.DEFINE_integer("examples", 5, "Held-out windows evaluated.",
                     lower_bound=1)
flags.DEFINE_float("seconds", 6.0, "Seconds per window (ViSQOL needs about "
                   "1 s).", lower_bound=0.01)
flags.DEFINE_integer("seed", 0, "Seeds the window choice and Griffin-Lim.")
flags.DEFINE_string("split", "test", "Held-out shard split.")
flags.DEFINE_bool("visqol", True, "Also score ViSQOL (seconds per window).")
flags.DEFINE_integer("gl_iters", N_ITER, "Griffin-Lim iterations.",
                     lower_bound=1)
FLAGS = flags.FLAGS


def _marks():
  """--marks as floats; EvaluateError naming a non-number."""
  try:
    return [float(m) for m in FLAGS.marks or ()]
  except ValueError as e:
    raise EvaluateError(f"--marks={','.join(FLAGS.marks)}: not numbers "
                        "(minutes)") from e


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    recipes = curve_setup.parse_recipes(FLAGS.recipe)
    settings = curve_setup.Settings(
        data_dir=FLAGS.data_dir, budget_minutes=FLAGS.budget_minutes,
        marks=tuple(curve_setup.check_marks(_marks(), FLAGS.budget_minutes)),
        examples=FLAGS.examples, seconds=FLAGS.seconds, seed=FLAGS.seed,
        split=FLAGS.split, visqol=FLAGS.visqol, gl_iters=FLAGS.gl_iters)
    state = learning_curve.run_curves(recipes, settings, FLAGS.output_dir,
                                      TRAIN_SCRIPT)
  except EvaluateError as e:
    print(f"learning_curve: error: {e}", file=sys.stderr)
    return 1
  except (learning_curve.CurveInterrupted, KeyboardInterrupt) as e:
    logging.warning("%s", e or "interrupted; rerun the same command to "
                    "resume")
    return 130
  print(curve_report.table(state))
  print(f"wrote {os.path.join(FLAGS.output_dir, 'curves.json')}, "
        f"{curve_report.CURVES_MD}, {curve_report.CURVES_PNG}")
  failed = [n for n, r in state["recipes"].items() if r.get("error")]
  return 1 if failed else 0


if __name__ == "__main__":
  app.run(main)
