"""Learning-curve inputs: recipe strings, marks, the data dir, settings."""

import os

import pytest

from tfvocoder.evaluation import EvaluateError
from tfvocoder.evaluation import curve_setup


@pytest.fixture
def flagfile(tmp_path):
  path = tmp_path / "tiny.flags"
  path.write_text("--model=melgan\n")
  return str(path)


def test_a_recipe_is_its_flagfile_then_its_flags(flagfile, tmp_path,
                                                 monkeypatch):
  monkeypatch.chdir(tmp_path)          # a relative flagfile: made absolute
  recipe = curve_setup.parse_recipe(
      "ms.v2=tiny.flags --batch_size=8 --gen_channels='16'")
  assert recipe == curve_setup.Recipe(
      "ms.v2", "tiny.flags --batch_size=8 --gen_channels='16'", flagfile,
      ("--batch_size=8", "--gen_channels=16"))
  assert recipe.train_args() == [f"--flagfile={flagfile}", "--batch_size=8",
                                 "--gen_channels=16"]
  flags_only = curve_setup.parse_recipe("mg=--model=melgan")
  assert (flags_only.flagfile, flags_only.train_args()) == (
      None, ["--model=melgan"])


@pytest.mark.parametrize("spec, expected", [
    ("tiny.flags", "expected NAME=FLAGFILE"),
    ("=tiny.flags", "expected NAME=FLAGFILE"),
    ("a b=tiny.flags", "expected NAME=FLAGFILE"),
    ("a=", "empty recipe"),
    ("a=nope.flags", "flagfile {tmp}/nope.flags does not exist"),
    ("a=tiny.flags batch_size=8", "'batch_size=8' is not a --flag=value"),
    ("a=tiny.flags -x", "'-x' is not a --flag=value"),
    ("a=tiny.flags --model_dir=elsewhere", "--model_dir is set by the runner"),
    ("a=tiny.flags --max_train_seconds=5", "--max_train_seconds is set by"),
    ("a=tiny.flags --model='melgan", "No closing quotation"),
])
def test_bad_recipes_are_one_line_naming_them(flagfile, tmp_path, monkeypatch,
                                              spec, expected):
  monkeypatch.chdir(tmp_path)
  with pytest.raises(EvaluateError) as raised:
    curve_setup.parse_recipe(spec)
  message = str(raised.value)
  assert message.startswith(f"--recipe={spec!r}: "), message
  assert expected.format(tmp=tmp_path) in message
  assert "\n" not in message


def test_recipe_names_are_unique_and_one_is_needed(flagfile):
  with pytest.raises(EvaluateError, match="give at least one --recipe"):
    curve_setup.parse_recipes([])
  for names in (["a", "a"], ["griffin_lim"]):
    with pytest.raises(EvaluateError, match=f"name '{names[-1]}' is repeated "
                       "or reserved"):
      curve_setup.parse_recipes([f"{n}={flagfile}" for n in names])


def test_marks_end_at_the_budget():
  assert curve_setup.check_marks([1, 2, 5, 10], 10) == [1, 2, 5, 10]
  assert curve_setup.check_marks([1, 2], 10) == [1, 2, 10]
  assert curve_setup.check_marks(None, 10) == [1, 2, 5, 10]
  assert curve_setup.check_marks([], 0.5) == [0.05, 0.1, 0.25, 0.5]


@pytest.mark.parametrize("marks, budget, expected", [
    ([1, 5, 2], 10, "--marks=1,5,2: must be increasing"),
    ([1, 1], 10, "--marks=1,1: must be increasing"),
    ([1, 12], 10, "--marks=1,12: 12 is above --budget_minutes=10"),
    ([0, 1], 10, "--marks=0,1: every mark must be > 0 minutes"),
    ([1], 0, "--budget_minutes=0 must be > 0"),
    (None, -1, "--budget_minutes=-1 must be > 0"),
])
def test_bad_marks_are_named(marks, budget, expected):
  with pytest.raises(EvaluateError) as raised:
    curve_setup.check_marks(marks, budget)
  assert str(raised.value) == expected


def test_data_dir_needs_train_and_held_out_shards(tmp_path):
  with pytest.raises(EvaluateError, match=f"--data_dir={tmp_path}/nope: no "
                     "such directory"):
    curve_setup.check_data_dir(str(tmp_path / "nope"), "test")
  (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"")
  with pytest.raises(EvaluateError) as raised:
    curve_setup.check_data_dir(str(tmp_path), "test")
  assert str(raised.value).startswith(
      f"--data_dir={tmp_path}: no 'test' shards "
      f"({os.path.join(tmp_path, 'test-*-of-*.tfrecord')})")
  (tmp_path / "test-00000-of-00001.tfrecord").write_bytes(b"")
  curve_setup.check_data_dir(str(tmp_path), "test")


@pytest.mark.parametrize("field, value, expected", [
    ("examples", 0, "--examples=0 must be >= 1"),
    ("seconds", 0.0, "--seconds=0.0 must be > 0"),
    ("gl_iters", 0, "--gl_iters=0 must be >= 1"),
])
def test_bad_settings_are_named(field, value, expected):
  with pytest.raises(EvaluateError) as raised:
    curve_setup.Settings(data_dir="d", budget_minutes=1, marks=(1,),
                         **{field: value})
  assert str(raised.value) == expected
