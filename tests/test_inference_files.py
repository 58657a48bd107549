"""tfvocoder.inference.files: audio / mel in, 16-bit wav, clear errors
(the library of `python -m tfvocoder.vocode`)."""

import os

import numpy as np
import pytest
import soundfile as sf

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference import Vocoder
from tfvocoder.inference.files import (ModelError, Outcome, audio_log_mel,
                                       output_path, vocode_files)
from vocoder_models import exported, music_mel


def test_blocked_log_mel_equals_dsp_log_mel():
  config = tiny_config()
  audio, _ = load_music(config.sample_rate, seconds=3.0, seed=3)
  audio = audio[:len(audio) // config.hop_length * config.hop_length]
  expected = dsp.log_mel(audio[None], config).numpy()[0]
  got = audio_log_mel(audio, config, block_frames=37)   # many odd blocks
  assert got.shape == expected.shape
  assert np.abs(got - expected).max() < 1e-4
  # A partial last frame is zero-padded, not dropped.
  assert len(audio_log_mel(audio[:-10], config, block_frames=37)) == len(
      expected)
  assert len(audio_log_mel(audio[:-10], config)) == len(expected)


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
                                                  model):
  out_dir, _, generator, config = exported(tmp_path_factory, model)
  paths = _write_inputs(tmp_path, config)
  target_dir = tmp_path / "wavs"
  order = ["wide", "song", "rank", "nan", "empty", "mel", "garbage", "missing"]
  outcomes = list(vocode_files([paths[n] for n in order],
                               os.path.join(out_dir, "vocoder_fp32.tflite"),
                               str(target_dir)))
  assert [o.path for o in outcomes] == [paths[n] for n in order]
  failed = sum(o.error is not None for o in outcomes)
  assert failed == 6
  out = "\n".join(o.message for o in outcomes if o.error is None)
  err = "\n".join(o.message for o in outcomes if o.error is not None)
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
  (outcome,) = vocode_files([mel_path], model, str(tmp_path / "o"))
  assert outcome.error is None
  assert outcome.target == str(tmp_path / "o" / "long.wav")
  data, _ = sf.read(str(tmp_path / "o" / "long.wav"), dtype="float32")
  expected = np.clip(Vocoder(model).vocode(mel), -1, 1)
  assert snr_db(np.round(expected * 32767) / 32767, data) > 80


def test_missing_model_is_a_model_error(tmp_path):
  missing = str(tmp_path / "nowhere.tflite")
  with pytest.raises(ModelError, match="no such model"):
    list(vocode_files([str(tmp_path / "x.npy")], missing, str(tmp_path / "o")))
  assert not os.path.exists(tmp_path / "o")


def test_output_names_and_messages(tmp_path):
  used = set()
  assert output_path("/a/song.wav", "out", used) == os.path.join(
      "out", "song.wav")
  assert output_path("/b/song.flac", "out", used) == os.path.join(
      "out", "song.flac.wav")                  # the extension kept on a clash
  ok = Outcome("in.npy", "out/in.wav", seconds=3.0, elapsed=0.5)
  assert ok.message == ("in.npy -> out/in.wav: 3.00 s of audio in 0.50 s "
                        "(6.0x real time)")
  assert Outcome("x", error="why").message == "vocode: error: x: why"
