"""The learning-curve runner: segments, evaluation at marks, resume, outputs.

train.py is stood in for by FAKE_TRAIN (no TensorFlow: milliseconds a
segment): it records its command line and leaves the model dir as train.py
would, copying from a bank of tiny generator checkpoints made here the
first whose saved training seconds reach --max_train_seconds (else the
last: its steps ran out). The budget itself is train.py's (tests of
`loop.StepClock`); the runner must take each mark's training seconds and
step from the checkpoint, not from its wall clock (which includes start-up
and evaluation), and evaluate exactly that checkpoint on the same windows.
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
from tfvocoder import models
from tfvocoder.config import tiny_config
from tfvocoder.evaluation import EvaluateError, curve_setup, learning_curve
from tfvocoder.evaluation import metrics, scores
from tfvocoder.evaluation.examples import dataset_examples
from tfvocoder.evaluation.griffin_lim import griffin_lim

FAKE_TRAIN = r'''
import json, os, shutil, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
with open(os.path.join(os.environ["LC_BANK"], "calls.txt"), "a") as f:
  f.write(json.dumps(sys.argv[1:]) + "\n")
if "fail" in args:
  print("some log line\ntrain: error: " + args["fail"], file=sys.stderr)
  sys.exit(1)
bank = os.path.join(os.environ["LC_BANK"], os.path.basename(args["model_dir"]))
saved = json.load(open(os.path.join(bank, "seconds.json")))
name = next((c for c, s in saved if s >= float(args["max_train_seconds"])),
            saved[-1][0])
for f in os.listdir(bank):
  if f.startswith(name + ".") or f == "config.json":
    shutil.copy(os.path.join(bank, f), args["model_dir"])
with open(os.path.join(args["model_dir"], "checkpoint"), "w") as f:
  f.write('model_checkpoint_path: "%s"\n' % name)
'''
# Recipe -> (model, [(step, training seconds)]) of its bank checkpoints.
BANK = {"ms": ("multiscale", [(4, 3.4), (9, 6.2)]),
        "mg": ("melgan", [(5, 3.1)])}
SEED = 3


def _write_bank(root):
  """The checkpoints FAKE_TRAIN hands out: generator, step, train_seconds."""
  for name, (model, saves) in BANK.items():
    config = tiny_config(model=model)
    os.makedirs(root / name)
    (root / name / "config.json").write_text(config.to_json())
    for step, seconds in saves:
      keras.utils.set_random_seed(step)
      checkpoint = tf.train.Checkpoint(
          generator=models.build_generator(config),
          step=tf.Variable(step, dtype=tf.int64),
          train_seconds=tf.Variable(seconds, dtype=tf.float64))
      tf.train.CheckpointManager(checkpoint, str(root / name), None).save(
          checkpoint_number=step)
    (root / name / "seconds.json").write_text(json.dumps(
        [[f"ckpt-{step}", seconds] for step, seconds in saves]))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """(recipes, settings, fake train.py, bank dir, data dir)."""
  root = tmp_path_factory.mktemp("curves")
  bank = root / "bank"
  _write_bank(bank)
  script = root / "fake_train.py"
  script.write_text(FAKE_TRAIN)
  flagfile = root / "tiny.flags"
  flagfile.write_text("--batch_size=2\n")
  recipes = curve_setup.parse_recipes([
      f"ms={flagfile} --model=multiscale", f"mg={flagfile} --model=melgan",
      f"bad={flagfile} --fail=boom"])
  data_dir = eval_fixtures.shared_shards(tmp_path_factory)
  settings = curve_setup.Settings(
      data_dir=data_dir, budget_minutes=0.1,
      marks=tuple(curve_setup.check_marks([0.05], 0.1)), examples=2,
      seconds=0.5, seed=SEED, visqol=False, gl_iters=4)
  return recipes, settings, str(script), bank, data_dir


@pytest.fixture(scope="module")
def first(setup, tmp_path_factory):
  """One run: {"state", "out", "calls"}."""
  recipes, settings, script, bank, _ = setup
  out = str(tmp_path_factory.mktemp("out"))
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv("LC_BANK", str(bank))   # reruns: a call would fail
    state = learning_curve.run_curves(recipes, settings, out, script)
  return {"state": state, "out": out, "calls": _calls(bank)}


def _calls(bank):
  with open(bank / "calls.txt") as f:
    return [json.loads(line) for line in f]


def test_segments_run_train_py_interleaved_with_the_runner_flags(setup,
                                                                  first):
  recipes, settings, _, _, data_dir = setup
  out = first["out"]
  expected = []
  for budget, names in ((3.0, ("ms", "mg", "bad")), (6.0, ("ms", "mg"))):
    for recipe in [r for r in recipes if r.name in names]:
      expected.append(recipe.train_args() + [
          f"--data_dir={os.path.abspath(data_dir)}",
          f"--model_dir={os.path.join(out, recipe.name)}",
          f"--max_train_seconds={budget}"])
  assert first["calls"] == expected
  assert settings.marks == (0.05, 0.1)


def test_each_mark_records_its_checkpoint_not_the_wall_clock(first):
  recipes = first["state"]["recipes"]
  ms, mg = recipes["ms"]["marks"], recipes["mg"]["marks"]
  assert [(m["minutes"], m["checkpoint"], m["step"], m["train_seconds"],
           m["stopped"]) for m in ms + mg] == [
               (0.05, "ckpt-4", 4, 3.4, "budget"),
               (0.1, "ckpt-9", 9, 6.2, "budget"),
               (0.05, "ckpt-5", 5, 3.1, "budget"),
               (0.1, "ckpt-5", 5, 3.1, "max_steps")]
  for m in ms + mg:
    assert m["train_minutes"] == pytest.approx(m["train_seconds"] / 60)
    assert m["segment_seconds"] > 0 and m["eval_seconds"] >= 0
    assert set(m["metrics"]) == set(scores.DISTANCES)   # --novisqol
    assert len(m["metrics"]["lsd_db"]["bands"]) == tiny_config().n_bands
  # Not trained since the last mark: its figures carry over; trained: new.
  assert mg[1]["metrics"] == mg[0]["metrics"]
  assert ms[1]["metrics"] != ms[0]["metrics"]
  assert recipes["bad"]["marks"] == []
  assert recipes["bad"]["error"].startswith(
      "recipe bad: train.py exited with status 1: train: error: boom (log: ")


def test_marks_score_the_checkpoint_on_the_same_seeded_windows(setup, first):
  _, _, _, bank, data_dir = setup
  state = first["state"]
  config = tiny_config()
  examples = dataset_examples(data_dir, "test", config, 2, 0.5, SEED)
  assert [e["name"] for e in state["held_out"]["examples"]] == [
      e.name for e in examples]

  def mean_l1(vocode):
    return np.mean([metrics.log_mel_l1(e.audio, vocode(i, e), config)
                    ["overall"] for i, e in enumerate(examples)])
  # Griffin-Lim, example i seeded SEED + i, as the reference line.
  assert state["griffin_lim"]["log_mel_l1"]["overall"] == pytest.approx(
      mean_l1(lambda i, e: griffin_lim(e.mel, config, 4, SEED + i)))
  for minutes, step in ((0.05, 4), (0.1, 9)):
    generator = models.build_generator(config)
    tf.train.Checkpoint(generator=generator).read(
        str(bank / "ms" / f"ckpt-{step}")).expect_partial()
    figures = next(m["metrics"] for m in state["recipes"]["ms"]["marks"]
                   if m["minutes"] == minutes)
    assert figures["log_mel_l1"]["overall"] == pytest.approx(mean_l1(
        lambda i, e: np.clip(generator.generate_audio(e.mel[None]).numpy()[0],
                             -1, 1)), rel=1e-5)


def test_outputs_are_json_a_table_and_a_chart(first):
  out = first["out"]
  with open(os.path.join(out, "curves.json")) as f:
    assert json.load(f) == json.loads(json.dumps(first["state"]))
  table = open(os.path.join(out, "curves.md")).read()
  assert table == learning_curve.curve_report.table(first["state"])
  rows = [line for line in table.splitlines() if line.startswith("| ")]
  assert rows[0].startswith("| recipe | mark min | trained min | steps | "
                            "log-mel L1 | MR-STFT | LSD dB | phase excess")
  assert [r.split(" | ")[:4] for r in rows[1:]] == [
      ["| ms", "0.05", "0.06", "4"], ["| ms", "0.1", "0.10", "9"],
      ["| mg", "0.05", "0.05", "5"], ["| mg", "0.1", "0.05", "5"],
      ["| Griffin-Lim", "-", "-", "-"]]
  assert "- bad: recipe bad: train.py exited with status 1" in table
  with open(os.path.join(out, "curves.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rerun_trains_nothing_and_keeps_the_json(setup, first):
  recipes, settings, script, bank, _ = setup
  out = first["out"]
  before = open(os.path.join(out, "curves.json")).read()
  state = learning_curve.run_curves(recipes[:2], settings, out, script)
  assert _calls(bank) == first["calls"]
  assert open(os.path.join(out, "curves.json")).read() == before
  assert state == first["state"]


def test_killed_before_its_evaluation_a_mark_is_evaluated_not_retrained(
    setup, first, tmp_path):
  recipes, settings, script, bank, _ = setup
  out = str(tmp_path / "out")
  shutil.copytree(first["out"], out)
  path = os.path.join(out, "curves.json")
  with open(path) as f:
    saved = json.load(f)
  lost = saved["recipes"]["ms"]["marks"].pop()      # trained, not evaluated
  with open(path, "w") as f:
    json.dump(saved, f)
  state = learning_curve.run_curves(recipes[:2], settings, out, script)
  assert _calls(bank) == first["calls"]             # ckpt-9 has its 6 s
  again = state["recipes"]["ms"]["marks"][-1]
  assert (again["checkpoint"], again["train_seconds"]) == ("ckpt-9", 6.2)
  for metric in scores.DISTANCES:
    assert again["metrics"][metric]["overall"] == pytest.approx(
        lost["metrics"][metric]["overall"], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("change, expected", [
    (dict(seconds=1.0), "seconds=1.0 differs from 0.5 in "),
    (dict(marks=(0.02, 0.1)), "--marks=0.02,0.1: recipe ms has marks "
     "0.05,0.1 in "),
])
def test_rerun_with_other_settings_is_refused(setup, first, change, expected):
  recipes, settings, script, _, _ = setup
  changed = curve_setup.Settings(**dict(settings.__dict__, **change))
  with pytest.raises(EvaluateError, match=expected):
    learning_curve.run_curves(recipes[:2], changed, first["out"], script)


def test_rerun_with_a_changed_recipe_is_refused(setup, first, tmp_path):
  _, settings, script, _, _ = setup
  flagfile = tmp_path / "x.flags"
  flagfile.write_text("")
  recipe = curve_setup.parse_recipe(f"ms={flagfile}")
  with pytest.raises(EvaluateError, match=f"recipe ms: '{flagfile}' differs "
                     "from .* give it another name"):
    learning_curve.run_curves([recipe], settings, first["out"], script)


def test_cli_errors_are_one_line(tmp_path):
  run = subprocess.run(
      [sys.executable, "-m", "benchmarks.learning_curve",
       f"--data_dir={tmp_path}", f"--output_dir={tmp_path / 'out'}",
       "--recipe=no_equals_sign", "--budget_minutes=1"],
      capture_output=True, text=True, timeout=120, cwd=eval_fixtures.REPO,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert run.returncode == 1, run.stderr[-2000:]
  errors = [line for line in run.stderr.splitlines()
            if line.startswith("learning_curve: error:")]
  assert errors == ["learning_curve: error: --recipe='no_equals_sign': "
                    "expected NAME=FLAGFILE [--flag=value ...] with NAME of "
                    "letters, digits, '_', '.', '-'"], run.stderr[-2000:]
  assert "Traceback" not in run.stderr
  assert not os.path.exists(tmp_path / "out")


def test_windows_too_short_for_visqol_fail_before_training(setup, tmp_path):
  recipes, settings, script, _, _ = setup
  with_visqol = curve_setup.Settings(**dict(settings.__dict__, visqol=True))
  with pytest.raises(EvaluateError, match=r"^--seconds=0.5: audio of .* too "
                     r"short for ViSQOL.*; give a longer --seconds, or "
                     "--novisqol$"):
    learning_curve.run_curves(recipes, with_visqol, str(tmp_path / "out"),
                              script)
  assert not os.path.exists(tmp_path / "out")
