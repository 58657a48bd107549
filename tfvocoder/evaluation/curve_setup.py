"""What a learning-curve run is: recipes, marks, settings, and the state
saved in curves.json (`tfvocoder.evaluation.learning_curve` runs it).

A recipe is a named train.py command line, `NAME=[FLAGFILE] [--flag=value
...]` (shell quoting; `parse_recipe`): exactly what a user would type after
`python train.py`, less the flags the runner sets (`RUNNER_FLAGS`). Marks
are minutes of training steps (`train.py --max_train_seconds`), increasing,
the budget last (`check_marks`). Every check raises a one-line
`EvaluateError` naming the value and what was expected.
"""

import dataclasses
import json
import math
import os
import re
import shlex
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from tfvocoder.data import pipeline
from tfvocoder.evaluation import EvaluateError
from tfvocoder.evaluation.griffin_lim import N_ITER
from tfvocoder.evaluation.systems import GRIFFIN_LIM

CURVES_JSON = "curves.json"
# Flags the runner gives train.py itself (a recipe may not).
RUNNER_FLAGS = ("data_dir", "model_dir", "max_train_seconds")
DEFAULT_MARK_FRACTIONS = (0.1, 0.2, 0.5, 1.0)   # of the budget
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A named train.py command line.

  Attributes:
    name: display name and model dir name (OUT/<name>).
    text: the recipe as given, after "NAME=".
    flagfile: absolute path of its flagfile, or None.
    overrides: its other flags, `--flag=value`, after the flagfile.
  """
  name: str
  text: str
  flagfile: Optional[str]
  overrides: tuple

  def train_args(self) -> List[str]:
    """train.py arguments (before the runner's own)."""
    head = [f"--flagfile={self.flagfile}"] if self.flagfile else []
    return head + list(self.overrides)


def parse_recipe(spec: str) -> Recipe:
  """`NAME=[FLAGFILE] [--flag=value ...]` (shell quoting) -> Recipe.

  Raises:
    EvaluateError: one line naming `spec` and what was expected.
  """
  what = f"--recipe={spec!r}"
  name, sep, text = spec.partition("=")
  name = name.strip()
  if not sep or not _NAME.match(name):
    raise EvaluateError(f"{what}: expected NAME=FLAGFILE [--flag=value ...] "
                        "with NAME of letters, digits, '_', '.', '-'")
  try:
    words = shlex.split(text)
  except ValueError as e:
    raise EvaluateError(f"{what}: {e}") from e
  flagfile = None
  if words and not words[0].startswith("-"):
    flagfile = os.path.abspath(os.path.expanduser(words.pop(0)))
    if not os.path.isfile(flagfile):
      raise EvaluateError(f"{what}: flagfile {flagfile} does not exist")
  if not flagfile and not words:
    raise EvaluateError(f"{what}: empty recipe; give a flagfile and/or flags")
  for word in words:
    flag = word.lstrip("-").split("=", 1)[0]
    if not word.startswith("--") or not flag:
      raise EvaluateError(f"{what}: {word!r} is not a --flag=value")
    if flag in RUNNER_FLAGS:
      raise EvaluateError(f"{what}: --{flag} is set by the runner for every "
                          "recipe; leave it out")
  return Recipe(name, text.strip(), flagfile, tuple(words))


def parse_recipes(specs: Sequence[str]) -> List[Recipe]:
  """Every `--recipe`, parsed; EvaluateError on none or a repeated name."""
  if not specs:
    raise EvaluateError("give at least one --recipe=NAME=FLAGFILE ...")
  recipes = [parse_recipe(s) for s in specs]
  names = [r.name for r in recipes]
  for name in names:
    if names.count(name) > 1 or name == GRIFFIN_LIM:
      raise EvaluateError(f"--recipe name {name!r} is repeated or reserved; "
                          "give each recipe its own name")
  return recipes


def check_marks(marks: Optional[Sequence[float]],
                budget_minutes: float) -> List[float]:
  """The evaluation marks in minutes, the budget last.

  Args:
    marks: increasing minutes in (0, budget]; None or empty:
      `DEFAULT_MARK_FRACTIONS` of the budget.
    budget_minutes: training minutes per recipe, > 0.
  Raises:
    EvaluateError: a bad budget, marks not increasing, or above the budget.
  """
  if not budget_minutes > 0 or not math.isfinite(budget_minutes):
    raise EvaluateError(f"--budget_minutes={budget_minutes:g} must be > 0")
  if not marks:
    return [round(budget_minutes * f, 6) for f in DEFAULT_MARK_FRACTIONS]
  marks = [float(m) for m in marks]
  shown = ",".join(f"{m:g}" for m in marks)
  if any(not m > 0 for m in marks):
    raise EvaluateError(f"--marks={shown}: every mark must be > 0 minutes")
  if any(b <= a for a, b in zip(marks, marks[1:])):
    raise EvaluateError(f"--marks={shown}: must be increasing")
  if marks[-1] > budget_minutes:
    raise EvaluateError(f"--marks={shown}: {marks[-1]:g} is above "
                        f"--budget_minutes={budget_minutes:g}")
  return marks if marks[-1] == budget_minutes else marks + [budget_minutes]


def check_data_dir(data_dir: str, split: str) -> None:
  """EvaluateError unless `data_dir` holds train and `split` shards."""
  if not os.path.isdir(data_dir):
    raise EvaluateError(f"--data_dir={data_dir}: no such directory")
  for wanted in ("train", split):
    pattern = pipeline.shard_pattern(data_dir, wanted)
    if not tf.io.gfile.glob(pattern):
      raise EvaluateError(f"--data_dir={data_dir}: no '{wanted}' shards "
                          f"({pattern}); training reads the 'train' split, "
                          f"the evaluation the '{split}' split")


@dataclasses.dataclass(frozen=True)
class Settings:
  """One learning-curve experiment (`fixed()`: what a rerun must keep)."""
  data_dir: str
  budget_minutes: float
  marks: tuple                      # minutes, increasing, the budget last
  examples: int = 5
  seconds: float = 6.0
  seed: int = 0
  split: str = "test"
  visqol: bool = True
  gl_iters: int = N_ITER

  def __post_init__(self):
    """EvaluateError naming the first bad setting (as its flag)."""
    for name, low in (("examples", 1), ("gl_iters", 1), ("seconds", 1e-9)):
      if not getattr(self, name) >= low:
        raise EvaluateError(f"--{name}={getattr(self, name)} must be "
                            f"{'> 0' if name == 'seconds' else f'>= {low}'}")

  def fixed(self) -> Dict:
    return {"data_dir": os.path.abspath(self.data_dir), "split": self.split,
            "examples": self.examples, "seconds": self.seconds,
            "seed": self.seed, "visqol": self.visqol,
            "gl_iters": self.gl_iters}


def _recipe_entry(recipe: Recipe) -> Dict:
  return {"recipe": recipe.text, "flagfile": recipe.flagfile,
          "overrides": list(recipe.overrides), "marks": [], "error": None}


def curves_state(path: str, recipes: Sequence[Recipe],
                 settings: Settings) -> Dict:
  """curves.json's content: the saved one (checked: same evaluation
  settings and recipe text, its marks a prefix of `settings.marks`; old
  errors cleared for a retry) or a new one.

  Raises:
    EvaluateError: naming what differs from the saved file.
  """
  state = {"settings": dict(settings.fixed(),
                            budget_minutes=settings.budget_minutes,
                            marks_minutes=list(settings.marks)),
           "recipes": {}, "held_out": None, "griffin_lim": None}
  saved = load_curves(path) if os.path.exists(path) else None
  if saved:
    for key, value in settings.fixed().items():
      if saved["settings"].get(key) != value:
        raise EvaluateError(
            f"{key}={value!r} differs from {saved['settings'].get(key)!r} in "
            f"{path}: a rerun must evaluate the same way (or use another "
            "--output_dir)")
    state.update(recipes=saved["recipes"], held_out=saved["held_out"],
                 griffin_lim=saved["griffin_lim"])
  for recipe in recipes:
    entry = state["recipes"].setdefault(recipe.name, _recipe_entry(recipe))
    if entry["recipe"] != recipe.text:
      raise EvaluateError(f"recipe {recipe.name}: {recipe.text!r} differs "
                          f"from {entry['recipe']!r} in {path}; give it "
                          "another name (or use another --output_dir)")
    done = [m["minutes"] for m in entry["marks"]]
    if done != list(settings.marks[:len(done)]):
      raise EvaluateError(
          f"--marks={','.join(f'{m:g}' for m in settings.marks)}: recipe "
          f"{recipe.name} has marks {','.join(f'{m:g}' for m in done)} in "
          f"{path}; keep them and add later ones only")
    entry["error"] = None
  return state


def load_curves(path: str) -> Dict:
  """A saved curves.json, or EvaluateError naming it."""
  try:
    with open(path) as f:
      saved = json.load(f)
    if not isinstance(saved, dict) or not {
        "settings", "recipes", "held_out", "griffin_lim"} <= set(saved):
      raise ValueError("missing settings, recipes, held_out or griffin_lim")
  except (OSError, ValueError) as e:
    raise EvaluateError(f"{path}: not a learning-curve file ({e}); move it "
                        "away to start over") from e
  return saved
