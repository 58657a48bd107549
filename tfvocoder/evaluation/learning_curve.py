"""Learning curves: training recipes given equal training time, evaluated
at fixed marks (`run_curves`, behind `python -m benchmarks.learning_curve`).

Recipes, marks and the saved state are `curve_setup`'s. For each mark
(minutes of training steps: the `train.py --max_train_seconds` counter, so
start-up, summaries, saves and the evaluation here do not count) and each
recipe in turn, train.py runs as a subprocess in OUT/NAME (`train_to`, its
output appended to OUT/NAME/train.log) until the run has spent that mark,
resuming the checkpoint of the previous mark; then the saved generator
vocodes the same seeded held-out windows (`examples.dataset_examples`,
silent ones skipped) at every mark and `scores.all_metrics` scores them
(`Evaluator`). Marks are interleaved (every recipe reaches a mark before
any trains on), so an interrupted ablation still has comparable curves.
Griffin-Lim is scored once on the same windows, as a reference line.

After each mark OUT/curves.json is rewritten atomically, with OUT/curves.md
and OUT/curves.png (`curve_report`). A rerun skips the marks it holds. A
recipe whose train.py fails is recorded ("error") and skipped for the rest
of the run; Ctrl-C (or SIGTERM) lets train.py checkpoint, then stops
(`CurveInterrupted`): rerun to resume.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import (EvaluateError, curve_report, run, scores,
                                  visqol)
from tfvocoder.evaluation.curve_setup import (CURVES_JSON, Recipe, Settings,
                                              check_data_dir, curves_state)
from tfvocoder.evaluation.examples import dataset_examples, example_samples
from tfvocoder.evaluation.systems import (GRIFFIN_LIM, SIGNAL_FIELDS,
                                          GriffinLimSystem, ModelSystem,
                                          check_compatible, load_model)
from tfvocoder.io_utils import atomic_write_text, output_dir_problem
from tfvocoder.training import checkpoints

TRAIN_LOG = "train.log"           # in each recipe's model dir
STOP_WAIT_S = 120                 # for train.py to checkpoint after Ctrl-C


class CurveInterrupted(RuntimeError):
  """train.py stopped by SIGINT/SIGTERM (checkpointed: rerun to resume)."""


class TrainFailed(EvaluateError):
  """A recipe's train.py failed; the message names its error and log."""


# --- training ---------------------------------------------------------------
def latest_progress(model_dir: str) -> Optional[Dict]:
  """{"checkpoint", "step", "train_seconds"} of the newest checkpoint of
  `model_dir` (seconds 0 when it predates the counter), or None."""
  newest = checkpoints.checkpoints_newest_first(model_dir)
  if not newest:
    return None
  step, seconds = checkpoints.saved_progress(newest[0])
  return {"checkpoint": os.path.basename(newest[0]), "step": step,
          "train_seconds": seconds or 0.0}


def _failure_line(log_path: str) -> str:
  """The line of train.py's log that says why it failed."""
  with open(log_path, errors="replace") as f:
    lines = [line.strip() for line in f.read().splitlines()[-200:]
             if line.strip()]
  for line in reversed(lines):
    if line.startswith(("train: error:", "FATAL Flags parsing error")):
      return line
  return lines[-1] if lines else "(no output)"


class _Terminated(Exception):
  """SIGTERM reached the runner while train.py ran."""


def _raise_terminated(signum, frame):
  del signum, frame
  raise _Terminated()


def _wait(process: subprocess.Popen) -> int:
  """train.py's exit status; on Ctrl-C, or SIGTERM to this process (`kill`,
  a job scheduler), it gets SIGINT (it checkpoints and exits), then
  CurveInterrupted: train.py is never left running on its own."""
  main_thread = threading.current_thread() is threading.main_thread()
  previous = (signal.signal(signal.SIGTERM, _raise_terminated)
              if main_thread else None)
  try:
    return process.wait()
  except (KeyboardInterrupt, _Terminated):
    process.send_signal(signal.SIGINT)
    try:
      process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
      process.kill()
    raise CurveInterrupted("interrupted; rerun the same command to "
                           "resume") from None
  finally:
    if main_thread:
      signal.signal(signal.SIGTERM, previous)


def train_to(recipe: Recipe, settings: Settings, model_dir: str,
             minutes: float, train_script: str) -> Dict:
  """Train `recipe` in `model_dir` until its run has spent `minutes` of
  training steps (no-op when it has), as a train.py subprocess.

  Returns:
    `latest_progress` plus "stopped" ("budget", or "max_steps": the
    recipe's steps ran out first) and "segment_seconds" (wall time).
  Raises:
    EvaluateError: train.py failed (the message names its error line and
      log). CurveInterrupted: train.py stopped by a signal.
  """
  budget = round(minutes * 60, 3)
  start = time.perf_counter()
  before = latest_progress(model_dir)
  if before is None or before["train_seconds"] < budget:
    os.makedirs(model_dir, exist_ok=True)
    command = [sys.executable, train_script, *recipe.train_args(),
               f"--data_dir={os.path.abspath(settings.data_dir)}",
               f"--model_dir={os.path.abspath(model_dir)}",
               f"--max_train_seconds={budget!r}"]
    log_path = os.path.join(model_dir, TRAIN_LOG)
    logging.info("%s: training to %g min (from %.2f)", recipe.name, minutes,
                 (before or {}).get("train_seconds", 0.0) / 60)
    with open(log_path, "a") as log:
      log.write(f"\n# learning_curve: {shlex.join(command)}\n")
      log.flush()
      status = _wait(subprocess.Popen(command, stdout=log,
                                      stderr=subprocess.STDOUT))
    if status in checkpoints.EXIT_STATUS.values():
      raise CurveInterrupted(f"{recipe.name}: train.py stopped by a signal "
                             "(checkpointed); rerun to resume")
    if status != 0:
      raise TrainFailed(f"recipe {recipe.name}: train.py exited with "
                        f"status {status}: {_failure_line(log_path)} "
                        f"(log: {log_path})")
  after = latest_progress(model_dir)
  if after is None:
    raise TrainFailed(f"recipe {recipe.name}: train.py saved no "
                      f"checkpoint in {model_dir}")
  return dict(after, segment_seconds=time.perf_counter() - start,
              stopped="budget" if after["train_seconds"] >= budget
              else "max_steps")


# --- evaluation -------------------------------------------------------------
class Evaluator:
  """The held-out windows (picked once, with the first model's signal
  settings, which every later model must share) and the scoring of a
  system on them."""

  def __init__(self, settings: Settings):
    self.settings = settings
    self.examples = None
    self.skipped: List[Dict] = []
    self.config: Optional[VocoderConfig] = None
    self._first_dir = None

  def _pick(self, config: VocoderConfig, model_dir: str) -> None:
    if self.examples is not None:
      check_compatible([self._first_dir, model_dir], [self.config, config])
      return
    s = self.settings
    chosen = dataset_examples(s.data_dir, s.split, config, s.examples,
                              s.seconds, s.seed)
    self.examples, self.skipped = run.skip_silent(chosen)
    if s.visqol:
      run.check_visqol_lengths(self.examples, config)
    self.config, self._first_dir = config, model_dir

  def describe(self) -> Dict:
    """What curves.json records of the windows (a rerun must match it)."""
    return {"signal": {f: getattr(self.config, f) for f in SIGNAL_FIELDS},
            "examples": [{"name": e.name, "source": e.source,
                          "samples": int(len(e.audio))}
                         for e in self.examples],
            "skipped": self.skipped}

  def _score(self, system) -> Dict:
    outputs = run.vocode_examples([system], self.examples)
    per_example = run.score([system], self.examples, outputs, self.config,
                            visqol=self.settings.visqol)
    return scores.mean_metrics([e[system.slug] for e in per_example])

  def model(self, name: str, model_dir: str, checkpoint: str) -> Dict:
    """Mean metrics of `model_dir`'s newest checkpoint, which must be
    `checkpoint` (its base name: the one trained to the mark)."""
    generator, config, path = load_model(model_dir)
    if os.path.basename(path) != checkpoint:
      raise EvaluateError(f"{model_dir}: its newest checkpoint is {path}, "
                          f"not {checkpoint}: is another run training it?")
    self._pick(config, model_dir)
    return self._score(ModelSystem(name, "model", config, generator=generator,
                                   model_dir=model_dir, checkpoint=path))

  def griffin_lim(self) -> Dict:
    """Griffin-Lim's mean metrics on the windows (after a `model`)."""
    s = self.settings
    return self._score(GriffinLimSystem("Griffin-Lim", GRIFFIN_LIM,
                                        self.config, n_iter=s.gl_iters,
                                        seed=s.seed))


# --- the run ------------------------------------------------------------------
def save_state(output_dir: str, state: Dict) -> None:
  """OUT/curves.json (atomically, only when it changed), curves.md and
  curves.png."""
  path = os.path.join(output_dir, CURVES_JSON)
  text = run.json_dumps(state) + "\n"
  try:
    with open(path) as f:
      unchanged = f.read() == text
  except OSError:
    unchanged = False
  if not unchanged:
    atomic_write_text(path, text)
  curve_report.write_report(output_dir, state)


def _check_held_out(state: Dict, evaluator: Evaluator) -> None:
  """Record the windows (and score Griffin-Lim on them) the first time;
  later runs must pick the same ones."""
  picked = json.loads(run.json_dumps(evaluator.describe()))
  if state["held_out"] is None:
    state["held_out"] = picked
  elif state["held_out"] != picked:
    raise EvaluateError(f"the held-out windows of {evaluator.settings.data_dir}"
                        f" are not those in {CURVES_JSON} (the data or the "
                        "models' signal settings changed); use another "
                        "--output_dir")
  if state["griffin_lim"] is None:
    logging.info("scoring Griffin-Lim on the same windows (reference line)")
    state["griffin_lim"] = evaluator.griffin_lim()


def _mark(recipe: Recipe, minutes: float, state: Dict, evaluator: Evaluator,
          model_dir: str, train_script: str) -> Dict:
  """Train `recipe` to `minutes`, evaluate it; its curves.json mark entry."""
  progress = train_to(recipe, evaluator.settings, model_dir, minutes,
                      train_script)
  marks = state["recipes"][recipe.name]["marks"]
  logging.info("%s: %.2f min of training steps at step %d (stopped by %s; "
               "%.0f s wall time); evaluating", recipe.name,
               progress["train_seconds"] / 60, progress["step"],
               progress["stopped"], progress["segment_seconds"])
  start = time.perf_counter()
  if marks and (marks[-1]["checkpoint"], marks[-1]["step"]) == (
      progress["checkpoint"], progress["step"]):
    figures = marks[-1]["metrics"]       # nothing trained since: same model
    logging.info("%s: not trained since the %g min mark: same figures",
                 recipe.name, marks[-1]["minutes"])
  else:
    figures = evaluator.model(recipe.name, model_dir, progress["checkpoint"])
    _check_held_out(state, evaluator)
  entry = dict(progress, minutes=minutes,
               train_minutes=progress["train_seconds"] / 60,
               eval_seconds=time.perf_counter() - start, metrics=figures)
  logging.info("%s @ %g min: %s (evaluated in %.0f s, not counted)",
               recipe.name, minutes, curve_report.summary(figures),
               entry["eval_seconds"])
  return entry


def _check_visqol_seconds(seconds: float) -> None:
  """EvaluateError before any training when windows of `seconds` are too
  short for ViSQOL (its minimum in seconds is the same at every rate)."""
  config = VocoderConfig()
  try:
    visqol.check_length(example_samples(config, seconds), config)
  except ValueError as e:
    raise EvaluateError(f"--seconds={seconds:g}: {e}; give a longer "
                        "--seconds, or --novisqol") from e


def run_curves(recipes: Sequence[Recipe], settings: Settings,
               output_dir: str, train_script: str) -> Dict:
  """Train and evaluate every recipe at every mark (the module doc).

  Args:
    recipes: `curve_setup.parse_recipes`.
    settings: the data, marks and evaluation (`curve_setup.Settings`).
    output_dir: OUT: curves.json, curves.md, curves.png, a model dir per
      recipe.
    train_script: train.py's path.
  Returns:
    curves.json's content; "recipes"[NAME]["error"] says which failed.
  Raises:
    EvaluateError: bad input, before any training (the output dir, the
      data dir, a rerun that differs from curves.json), or held-out
      windows that cannot be evaluated.
    CurveInterrupted: Ctrl-C / a signal stopped train.py.
  """
  problem = output_dir_problem(output_dir)
  if problem:
    raise EvaluateError(problem)
  check_data_dir(settings.data_dir, settings.split)
  if settings.visqol:
    _check_visqol_seconds(settings.seconds)
  if not os.path.isfile(train_script):
    raise EvaluateError(f"{train_script}: no such train.py")
  state = curves_state(os.path.join(output_dir, CURVES_JSON), recipes,
                       settings)
  os.makedirs(output_dir, exist_ok=True)
  evaluator = Evaluator(settings)
  for minutes in settings.marks:
    for recipe in recipes:
      entry = state["recipes"][recipe.name]
      if entry["error"] or any(m["minutes"] == minutes
                               for m in entry["marks"]):
        continue
      try:
        entry["marks"].append(_mark(recipe, minutes, state, evaluator,
                                    os.path.join(output_dir, recipe.name),
                                    train_script))
      except TrainFailed as e:
        logging.error("%s; its curve stops here", e)
        entry["error"] = str(e)
      save_state(output_dir, state)
  save_state(output_dir, state)
  return state
