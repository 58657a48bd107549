"""tfvocoder.evaluation.run: the run as a library call (report replaced
atomically), its argument checks (ViSQOL's minimum length too), the TFLite
timing's export, metrics.json encoding."""

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

import eval_fixtures
from tfvocoder.config import tiny_config
from tfvocoder.evaluation import EvaluateError, run as run_lib
from tfvocoder.evaluation.examples import Example
from tfvocoder.evaluation.systems import ModelSystem


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return eval_fixtures.shared_run(tmp_path_factory)


def test_rerun_replaces_the_report_atomically(run, tmp_path):
  # A second run into the same dir keeps one assets dir and a whole page.
  out = str(tmp_path / "report")
  shutil.copytree(run["output_dir"], out)
  before = sorted(os.listdir(os.path.join(out, "assets")))
  result = run_lib.evaluate(
      run["model_dirs"][:1], out, data_dir=run["data_dir"], examples=1,
      seconds=0.5, seed=3, speed_seconds=0.25, speed_repeats=1, tflite=False,
      visqol=False)
  after = sorted(os.listdir(os.path.join(out, "assets")))
  assert len(after) < len(before) and len(result["examples"]) == 1
  assert not [f for f in os.listdir(out) if f.startswith(".")]
  with open(os.path.join(out, "report.html")) as f:
    page = f.read()
  assert page.count("<audio") == 3 and page.rstrip().endswith("</html>")
  # metrics.json holds what was returned; no TFLite figure with --notflite.
  with open(os.path.join(out, "metrics.json")) as f:
    saved = json.load(f)
  assert [s["name"] for s in saved["systems"]] == [
      s["name"] for s in result["systems"]]
  assert saved["systems"][0]["speed"]["tflite_fp32"] == {
      "error": "not measured (--notflite)"}
  # No ViSQOL figure with visqol=False, and the page says so.
  assert saved["data"]["visqol"] is False
  assert "visqol" not in saved["systems"][0]["metrics"]
  assert "ViSQOL: not measured (--novisqol)" in page


def test_argument_errors(tmp_path):
  with pytest.raises(EvaluateError, match="--data_dir .* and/or --audio"):
    run_lib.evaluate([], str(tmp_path / "out"))
  with pytest.raises(EvaluateError, match="2 --export_dir for 1 --model_dir"):
    run_lib.evaluate(["m"], str(tmp_path / "out"), data_dir="d",
                     export_dirs=["a", "b"])
  assert not os.path.exists(tmp_path / "out")
  # An output dir that cannot hold files: named before any slow work (the
  # model dir "m" and the data "d" are never looked at).
  blocker = tmp_path / "file"
  blocker.write_text("x")
  for out, expected in [
      (blocker, f"output dir {blocker}: exists and is not a directory"),
      (blocker / "out", f"output dir {blocker / 'out'}: cannot be created, "
                        f"{blocker} is not a directory")]:
    with pytest.raises(EvaluateError) as raised:
      run_lib.evaluate(["m"], str(out), data_dir="d")
    assert str(raised.value) == expected


def test_failed_export_is_reported_not_raised(tmp_path):
  # No --export_dir: the run exports the model dir itself, and an export
  # that fails is an {"error"} figure (the evaluation goes on).
  system = ModelSystem("x", "x", tiny_config(),
                       model_dir=str(tmp_path / "nowhere"))
  mel = np.zeros((8, 32), np.float32)
  figure = run_lib.tflite_speed(system, None, mel, repeats=1, threads=1)
  assert set(figure) == {"error"} and "nowhere" in figure["error"]
  # A given export dir without the file: the path is named.
  figure = run_lib.tflite_speed(system, str(tmp_path), mel, 1, 1)
  assert figure == {"error": f"{tmp_path / 'vocoder_fp32.tflite'}: missing"}


def test_json_dumps_plain_numbers_and_null():
  text = run_lib.json_dumps({"a": np.float32(0.5), "b": [np.int64(3), 2.0],
                             "c": (float("nan"), np.float64(np.inf)),
                             4: None})
  assert json.loads(text) == {"a": 0.5, "b": [3, 2.0], "c": [None, None],
                              "4": None}


def _example(name, audio):
  return Example(name, f"/x/{name}", np.asarray(audio, np.float32),
                 np.zeros((1, 32), np.float32))


def test_skip_silent_examples():
  rng = np.random.default_rng(0)
  loud, faint = 0.1 * rng.standard_normal(4096), 1e-7 * rng.standard_normal(
      4096)
  kept, skipped = run_lib.skip_silent([
      _example("a", loud), _example("zeros", np.zeros(4096)),
      _example("faint", faint)])
  assert [e.name for e in kept] == ["a"]
  assert [(s["name"], s["source"], s["samples"]) for s in skipped] == [
      ("zeros", "/x/zeros", 4096), ("faint", "/x/faint", 4096)]
  assert all(s["reason"].startswith("silent reference") for s in skipped)
  with pytest.raises(EvaluateError, match="no example left to evaluate: "
                     "/x/zeros: silent reference"):
    run_lib.skip_silent([_example("zeros", np.zeros(4096))])


def test_silent_reference_is_skipped_and_reported(tmp_path):
  # Griffin-Lim only, two short files: one music-like, one all zeros.
  config = tiny_config()
  t = np.arange(config.sample_rate) / config.sample_rate
  tone, silent = str(tmp_path / "tone.wav"), str(tmp_path / "silent.wav")
  sf.write(tone, 0.3 * np.sin(2 * np.pi * 440 * t), config.sample_rate)
  sf.write(silent, np.zeros_like(t), config.sample_rate)
  out = str(tmp_path / "report")
  result = run_lib.evaluate([], out, audio_files=[tone, silent], gl_iters=2,
                            speed_seconds=0.25, speed_repeats=1, tflite=False,
                            visqol=False)
  with open(os.path.join(out, "metrics.json")) as f:
    saved = json.load(f)
  assert [e["name"] for e in saved["examples"]] == ["tone.wav"]
  assert [(s["name"], s["source"]) for s in saved["skipped"]] == [
      ("silent.wav", silent)]
  assert saved["skipped"][0]["reason"].startswith("silent reference (RMS ")
  # The means are those of the audible example alone: finite, the phase
  # figure too (a silent reference has none).
  mean = saved["systems"][0]["metrics"]
  assert mean["mr_stft"] == saved["examples"][0]["metrics"]["griffin_lim"][
      "mr_stft"]
  assert mean["mr_stft"]["overall"] < 10
  assert mean["phase_coherence"]["overall"] is not None
  assert result["skipped"] == saved["skipped"]
  with open(os.path.join(out, "report.html")) as f:
    page = f.read()
  assert "1 example(s) left out of every figure" in page
  assert f"skipped silent.wav ({silent}): silent reference" in page
  assert page.count("<audio") == 2           # real + Griffin-Lim of one


def test_example_too_short_for_visqol_fails_before_vocoding(tmp_path,
                                                           monkeypatch):
  # 0.5 s of audio (11 008 samples: whole frames), below ViSQOL's 0.96 s:
  # named with the fix, and nothing is vocoded (or written) first.
  config = tiny_config()
  t = np.arange(config.sample_rate // 2) / config.sample_rate
  short = str(tmp_path / "short.wav")
  sf.write(short, 0.3 * np.sin(2 * np.pi * 440 * t), config.sample_rate)
  monkeypatch.setattr(run_lib, "vocode_examples", None)   # must not be called
  out = tmp_path / "report"
  with pytest.raises(EvaluateError) as raised:
    run_lib.evaluate([], str(out), audio_files=[short], gl_iters=1)
  assert str(raised.value) == (
      f"{short}: audio of 11008 samples at 22050 Hz is too short for ViSQOL: "
      "it needs at least 21168 (0.96 s); give a longer --seconds (or "
      "--max_audio_seconds), or --novisqol")
  assert not os.path.exists(out / "metrics.json")
