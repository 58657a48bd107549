"""tfvocoder.evaluate end to end on tiny model dirs, and its parts."""

import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import eval_fixtures
from conftest import load_music
from tfvocoder import dsp, evaluate
from tfvocoder.evaluation import metrics
from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.evaluation.griffin_lim import griffin_lim


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return eval_fixtures.shared_run(tmp_path_factory)


def _finite_numbers(value):
  if isinstance(value, dict):
    return [x for v in value.values() for x in _finite_numbers(v)]
  if isinstance(value, list):
    return [x for v in value for x in _finite_numbers(v)]
  return [value] if isinstance(value, (int, float)) else []


def test_end_to_end_metrics_json(run):
  result = run["result"]
  systems = {s["name"]: s for s in result["systems"]}
  assert list(systems) == ["tiny_ms (multiscale)", "tiny_mg (melgan)",
                           "Griffin-Lim"]
  assert result["data"]["examples"] == 2 and len(result["examples"]) == 2
  for s in result["systems"]:
    assert set(s["metrics"]) == set(metrics.METRICS)
    for name, distance in s["metrics"].items():
      assert len(distance["bands"] if "bands" in distance
                 else distance["edges"]) in (5, 4), name
    assert all(math.isfinite(x) for x in _finite_numbers(s["metrics"]))
  for name in ("tiny_ms (multiscale)", "tiny_mg (melgan)"):
    s = systems[name]
    assert s["parameters"]["total"] > 0
    assert s["gflops_per_audio_second"] > 0
    assert s["speed"]["keras"]["x_real_time"] > 0
  gl = systems["Griffin-Lim"]
  assert gl["n_iter"] == 32 and gl["speed"]["librosa"]["x_real_time"] > 0
  # Griffin-Lim inverts the very mel it is scored on: far better than an
  # untrained GAN.
  assert (gl["metrics"]["log_mel_l1"]["overall"] <
          systems["tiny_ms (multiscale)"]["metrics"]["log_mel_l1"]["overall"])
  assert "Griffin-Lim" in run["stdout"] and "report:" in run["stdout"]


def test_end_to_end_tflite_timing(run):
  try:
    from tfvocoder.export import export_model  # noqa: F401
  except ImportError:
    try:
      from export import export_model  # noqa: F401
    except ImportError:
      pytest.skip("export is not importable: TFLite timing is reported n/a")
  for s in run["result"]["systems"][:2]:
    lite = s["speed"]["tflite_fp32"]
    assert "error" not in lite, lite
    assert lite["x_real_time"] > 0


def test_end_to_end_files(run):
  out = run["output_dir"]
  assert os.path.isfile(os.path.join(out, "report.html"))
  leftovers = [f for f in os.listdir(out) if f.startswith(".")]
  assert not leftovers, leftovers
  config = tiny_config()
  for example in run["result"]["examples"]:
    assets = example["assets"]
    for slug, wav in assets["wav"].items():
      audio, rate = sf.read(os.path.join(out, "assets", wav))
      assert rate == config.sample_rate and len(audio) == example["samples"]
      assert os.path.isfile(os.path.join(out, "assets",
                                         assets["spectrogram"][slug]))


def test_rerun_replaces_the_report_atomically(run, tmp_path):
  # A second run into the same dir keeps one assets dir and a whole page.
  out = str(tmp_path / "report")
  shutil.copytree(run["output_dir"], out)
  before = sorted(os.listdir(os.path.join(out, "assets")))
  result = evaluate.evaluate(
      run["model_dirs"][:1], out, data_dir=run["data_dir"], examples=1,
      seconds=0.5, seed=3, speed_seconds=0.25, speed_repeats=1, tflite=False)
  after = sorted(os.listdir(os.path.join(out, "assets")))
  assert len(after) < len(before) and len(result["examples"]) == 1
  assert not [f for f in os.listdir(out) if f.startswith(".")]
  with open(os.path.join(out, "report.html")) as f:
    page = f.read()
  assert page.count("<audio") == 3 and page.rstrip().endswith("</html>")


def test_seeded_windows_are_reproducible(run):
  data_dir = run["data_dir"]
  config = tiny_config()
  pick = lambda seed: [e["name"] for e in evaluate.dataset_examples(
      data_dir, "test", config, 3, 0.25, seed)]
  assert pick(0) == pick(0)
  examples = evaluate.dataset_examples(data_dir, "test", config, 2, 0.25, 0)
  for e in examples:
    assert len(e["audio"]) == evaluate.example_samples(config, 0.25)
    assert len(e["audio"]) % (2 ** config.n_bands) == 0
    np.testing.assert_allclose(np.max(np.abs(e["audio"])),
                               config.peak_normalize, rtol=1e-5)
  with pytest.raises(evaluate.EvaluateError, match="no 'nope' shards"):
    evaluate.dataset_examples(data_dir, "nope", config, 1, 0.25, 0)


def test_audio_file_examples(tmp_path):
  config = tiny_config()
  path = str(tmp_path / "clip.wav")
  music, _ = load_music(44100, seconds=1.5)
  sf.write(path, 0.3 * music, 44100)
  (example,) = evaluate.file_examples([path], config, max_seconds=1.0)
  assert len(example["audio"]) == evaluate.example_samples(config, 1.0)
  np.testing.assert_allclose(np.max(np.abs(example["audio"])),
                             config.peak_normalize, rtol=1e-5)
  with pytest.raises(evaluate.EvaluateError, match="missing.wav"):
    evaluate.file_examples([str(tmp_path / "missing.wav")], config, 1.0)


def test_bad_model_dirs_name_the_path(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(evaluate.EvaluateError, match=str(empty / "config.json")):
    evaluate.load_model(str(empty))
  (empty / "config.json").write_text(tiny_config().to_json())
  with pytest.raises(evaluate.EvaluateError,
                     match=f"{empty}: no checkpoint"):
    evaluate.load_model(str(empty))
  with pytest.raises(evaluate.EvaluateError, match="does not exist"):
    evaluate.load_model(str(tmp_path / "nowhere"))
  a, b = tiny_config(), tiny_config(n_mels=16)
  with pytest.raises(evaluate.EvaluateError, match="n_mels"):
    evaluate.check_compatible(["a", "b"], [a, b])


def test_cli_error_is_one_line(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "tfvocoder.evaluate",
       f"--model_dir={tmp_path}", f"--data_dir={tmp_path}",
       f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True,
      timeout=120, cwd=eval_fixtures.REPO)
  assert done.returncode == 1
  assert f"evaluate: error: {tmp_path / 'config.json'}: missing" in done.stderr


def test_griffin_lim_is_aligned_with_the_real_audio():
  config = VocoderConfig()
  music, _ = load_music(config.sample_rate, seconds=1.0)
  n = len(music) // config.hop_length * config.hop_length
  real = music[:n]
  mel = dsp.log_mel(real[None], config).numpy()[0]
  out = griffin_lim(mel, config, n_iter=16, seed=0)
  assert out.shape == (n,) and out.dtype == np.float32
  np.testing.assert_array_equal(out, griffin_lim(mel, config, 16, seed=0))
  # Best alignment at zero shift: shifting by half a hop scores worse.
  score = lambda x: metrics.log_mel_l1(real, x, config)["overall"]
  aligned = score(out)
  assert aligned < 0.15
  half = config.hop_length // 2
  assert aligned < score(np.roll(out, half))
  assert aligned < score(np.roll(out, -half))
