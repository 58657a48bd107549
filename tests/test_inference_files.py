"""`python -m tfvocoder.vocode`: audio / mel in, 16-bit wav, clear errors."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.inference import Vocoder
from tfvocoder.vocode import log_mel_blocks, vocode_files
from tfvocoder.evaluation.metrics import snr_db
from vocoder_models import exported, music_mel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_blocked_log_mel_equals_dsp_log_mel(monkeypatch):
  import tfvocoder.vocode as vocode
  from tfvocoder.config import tiny_config
  config = tiny_config()
  audio, _ = load_music(config.sample_rate, seconds=3.0, seed=3)
  audio = audio[:len(audio) // config.hop_length * config.hop_length]
  monkeypatch.setattr(vocode, "MEL_BLOCK_FRAMES", 37)   # many odd blocks
  expected = dsp.log_mel(audio[None], config).numpy()[0]
  got = log_mel_blocks(audio, config)
  assert got.shape == expected.shape
  assert np.abs(got - expected).max() < 1e-4
  # A partial last frame is zero-padded, not dropped.
  assert len(log_mel_blocks(audio[:-10], config)) == len(expected)


def _write_inputs(tmp_path, config):
  """Good and bad inputs; returns {name: path}."""
  paths = {}
  audio, _ = load_music(config.sample_rate, seconds=2.0, seed=6)
  paths["song"] = str(tmp_path / "song.wav")
  sf.write(paths["song"], audio, config.sample_rate, subtype="PCM_16")
  paths["mel"] = str(tmp_path / "upstream.npy")
  np.save(paths["mel"], music_mel(config, 150, seed=7))
  bad = {
      "wide": np.zeros((50, config.n_mels + 1), np.float32),
      "rank": np.zeros((2, 50, config.n_mels), np.float32),
      "nan": np.full((50, config.n_mels), np.nan, np.float32),
  }
  for name, value in bad.items():
    paths[name] = str(tmp_path / f"{name}.npy")
    np.save(paths[name], value)
  paths["empty"] = str(tmp_path / "empty.wav")
  open(paths["empty"], "wb").close()
  paths["garbage"] = str(tmp_path / "garbage.flac")
  with open(paths["garbage"], "wb") as f:
    f.write(b"definitely not flac" * 50)
  paths["missing"] = str(tmp_path / "missing.npy")
  return paths


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_vocodes_good_inputs_and_reports_bad_ones(tmp_path_factory, tmp_path,
                                                  capsys, model):
  out_dir, _, generator, config = exported(tmp_path_factory, model)
  paths = _write_inputs(tmp_path, config)
  target_dir = tmp_path / "wavs"
  order = ["wide", "song", "rank", "nan", "empty", "mel", "garbage", "missing"]
  failed = vocode_files([paths[n] for n in order],
                        os.path.join(out_dir, "vocoder_fp32.tflite"),
                        str(target_dir))
  assert failed == 6
  out, err = capsys.readouterr()
  errors = err.strip().splitlines()
  assert len(errors) == 6, err
  for name, expected in [("wide", "mel width 33"), ("rank", "rank 3"),
                         ("nan", "NaN/inf"), ("empty", "empty"),
                         ("garbage", "expected a readable audio file"),
                         ("missing", "no such file")]:
    line = [e for e in errors if paths[name] in e]
    assert len(line) == 1 and expected in line[0], (name, errors)
    assert "expected" in line[0]
  assert "x real time" in out
  assert sorted(os.listdir(target_dir)) == ["song.wav", "upstream.wav"]

  # The mel input: 16-bit wav at the model rate equal to one-shot Keras.
  data, rate = sf.read(str(target_dir / "upstream.wav"), dtype="float32")
  assert rate == config.sample_rate
  assert sf.info(str(target_dir / "upstream.wav")).subtype == "PCM_16"
  mel = np.load(paths["mel"])
  reference = np.clip(generator.generate_audio(mel[None]).numpy()[0], -1, 1)
  assert data.shape == reference.shape
  assert np.abs(data - reference).max() <= 2 / 32767 + 1e-3 * np.abs(
      reference).max()
  # The audio input: resynthesised from its own log-mel, full length.
  song, _ = sf.read(str(target_dir / "song.wav"), dtype="float32")
  assert len(song) == -(-2 * config.sample_rate // config.hop_length) * (
      config.hop_length)


def test_matches_streaming_vocoder_output(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  model = os.path.join(out_dir, "saved_model")
  mel_path = str(tmp_path / "long.npy")
  mel = music_mel(config, 400, seed=8)
  np.save(mel_path, mel)
  assert vocode_files([mel_path], model, str(tmp_path / "o")) == 0
  data, _ = sf.read(str(tmp_path / "o" / "long.wav"), dtype="float32")
  expected = np.clip(Vocoder(model).vocode(mel), -1, 1)
  assert snr_db(np.round(expected * 32767) / 32767, data) > 80


def test_cli_missing_model_and_exit_status(tmp_path):
  mel = str(tmp_path / "x.npy")
  np.save(mel, np.zeros((10, 32), np.float32))
  missing = str(tmp_path / "nowhere.tflite")
  run = subprocess.run(
      [sys.executable, "-m", "tfvocoder.vocode", mel, f"--model={missing}",
       f"--output_dir={tmp_path / 'out'}"], cwd=REPO, capture_output=True,
      text=True, timeout=120)
  assert run.returncode == 1
  lines = [l for l in run.stderr.splitlines() if l.startswith("vocode:")]
  assert len(lines) == 1 and f"{missing}: no such model" in lines[0]
  assert not os.path.exists(tmp_path / "out" / "x.wav")
