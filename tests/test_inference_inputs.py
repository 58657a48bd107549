"""tfvocoder.inference.inputs: audio or .npy log-mel in, a checked log-mel out."""

import numpy as np
import pytest

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.inference import inputs
from tfvocoder.inference.inputs import (InputError, audio_log_mel,
                                        load_mel_npy, mel_range)
from vocoder_models import music_mel


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


def test_mel_values_outside_the_log10_range(tmp_path, monkeypatch):
  config = tiny_config()
  monkeypatch.setattr(inputs, "CHECK_BLOCK_FRAMES", 8)  # many blocks
  floor, ceiling = mel_range(config)
  assert floor == pytest.approx(np.log10(config.log_floor) - 3)
  assert 4 < ceiling < 5
  good = music_mel(config, 30, seed=1)
  assert floor + 3 <= good.min() and good.max() < ceiling - 3
  cases = {
      "float32_1e30": (np.full((40, config.n_mels), 1e30, np.float32),
                       "values from 1e+30 to 1e+30"),
      # Finite in float64, inf once cast to float32: still its value.
      "float64_1e300": (np.full((40, config.n_mels), 1e300, np.float64),
                        "values from 1e+300 to 1e+300"),
      "natural_log": (np.log(np.full((40, config.n_mels), 1e-5)),
                      "values from -11.51 to -11.51"),
  }
  # One outlier in a later checked block is found too.
  late = np.concatenate([good, good]).astype(np.float64)
  late[-1, 3] = -40.0
  cases["late_outlier"] = (late, "values from -40 to")
  for name, (value, expected) in cases.items():
    path = str(tmp_path / f"{name}.npy")
    np.save(path, value)
    with pytest.raises(InputError) as raised:
      load_mel_npy(path, config)
    message = str(raised.value)
    assert message.startswith(expected), (name, message)
    assert f"outside [{floor:.3g}, {ceiling:.3g}]" in message
    assert "log10(log_floor) = -5" in message and "\n" not in message
  # The range's own ends (silence at the floor) are accepted.
  path = str(tmp_path / "silence.npy")
  np.save(path, np.full((40, config.n_mels), np.log10(config.log_floor)))
  assert load_mel_npy(path, config).shape == (40, config.n_mels)
