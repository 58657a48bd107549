"""`python -m tfvocoder.evaluate` end to end on tiny model dirs: the
metrics.json it writes, the report files, its one-line errors."""

import math
import os
import subprocess
import sys

import pytest
import soundfile as sf

import eval_fixtures
from tfvocoder.config import tiny_config
from tfvocoder.evaluation import scores


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
  assert result["skipped"] == []             # music windows: none silent
  assert result["data"]["visqol"] is True
  for s in result["systems"]:
    assert set(s["metrics"]) == set(scores.METRICS)      # ViSQOL included
    for name, distance in s["metrics"].items():
      if name == scores.VISQOL:
        assert set(distance) == {"overall"}              # no bands
        assert 1.0 <= distance["overall"] <= 4.8
        continue
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
  # ViSQOL agrees (measured: Griffin-Lim about 4.5, the untrained GANs 1),
  # and its mean is that of the examples' figures.
  visqol = {name: s["metrics"][scores.VISQOL]["overall"]
            for name, s in systems.items()}
  assert visqol["Griffin-Lim"] > 3.0
  assert visqol["Griffin-Lim"] > visqol["tiny_ms (multiscale)"] + 1.0
  per_example = [e["metrics"][gl["slug"]][scores.VISQOL]["overall"]
                 for e in result["examples"]]
  assert math.isclose(sum(per_example) / 2, visqol["Griffin-Lim"])
  assert "Griffin-Lim" in run["stdout"] and "report:" in run["stdout"]
  header = run["stdout"].splitlines()[0].split()
  assert header[0] == "system" and header[-1] == "ViSQOL"
  assert "ViSQOL: MOS-LQO" in run["stdout"]
  assert "higher is better, 1-~4.73" in run["stdout"]


def test_end_to_end_tflite_timing(run):
  # Exported to a temporary dir by the run (no --export_dir given).
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


def test_cli_error_is_one_line(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "tfvocoder.evaluate",
       f"--model_dir={tmp_path}", f"--data_dir={tmp_path}",
       f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True,
      timeout=120, cwd=eval_fixtures.REPO)
  assert done.returncode == 1
  assert f"evaluate: error: {tmp_path / 'config.json'}: missing" in done.stderr


def test_cli_needs_data_or_audio(tmp_path):
  # (--novisqol: the flag exists; the check comes first either way.)
  done = subprocess.run(
      [sys.executable, "-m", "tfvocoder.evaluate", "--novisqol",
       f"--output_dir={tmp_path / 'out'}"], capture_output=True, text=True,
      timeout=120, cwd=eval_fixtures.REPO)
  assert done.returncode == 1
  lines = [l for l in done.stderr.splitlines() if l.startswith("evaluate:")]
  assert lines == ["evaluate: error: give --data_dir (held-out shards) "
                   "and/or --audio"], done.stderr[-2000:]
  assert not os.path.exists(tmp_path / "out")
