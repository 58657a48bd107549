"""audio_io: decode (mono, resample, peak), validate, int16 PCM."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from conftest import load_music
from tfvocoder.config import tiny_config
from tfvocoder.data import audio_io

CONFIG = tiny_config()
RATE = CONFIG.sample_rate


def test_decode_mixes_to_mono_and_resamples_like_librosa(tmp_path):
  left = 0.6 * load_music(48000, 1.5, seed=0)[0]
  right = 0.6 * load_music(48000, 1.5, seed=1)[0]
  path = str(tmp_path / "stereo48k.wav")
  sf.write(path, np.stack([left, right], axis=1), 48000, subtype="FLOAT")
  decoded = audio_io.decode(path, CONFIG)
  assert (decoded.source_rate, decoded.channels) == (48000, 2)
  assert decoded.audio.dtype == np.float32
  # Oracle: librosa's mono mean + soxr_hq (it rounds the length up).
  expected, _ = librosa.load(path, sr=RATE, mono=True, res_type="soxr_hq")
  assert 0 <= len(expected) - len(decoded.audio) <= 1
  np.testing.assert_allclose(decoded.audio, expected[:len(decoded.audio)],
                             atol=1e-5)


def test_decode_scales_loud_float_files_down_instead_of_clipping(tmp_path):
  t = np.arange(RATE) / RATE
  sine = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
  path = str(tmp_path / "loud.wav")
  sf.write(path, 2.5 * sine, RATE, subtype="FLOAT")
  audio = audio_io.decode(path, CONFIG).audio
  np.testing.assert_allclose(audio, sine / np.max(np.abs(sine)), atol=1e-6)


@pytest.mark.parametrize("content, code", [
    (b"", "empty"), (b"not audio at all\n" * 20, "unreadable")])
def test_decode_skips_unusable_files(tmp_path, content, code):
  path = tmp_path / "bad.wav"
  path.write_bytes(content)
  with pytest.raises(audio_io.SkipFile) as error:
    audio_io.decode(str(path), CONFIG)
  assert error.value.code == code and "\n" not in error.value.detail


def test_validate_needs_one_loud_window():
  window, threshold = CONFIG.window, CONFIG.silence_rms
  with pytest.raises(audio_io.SkipFile, match="too_short"):
    audio_io.validate(np.ones(window - 1, np.float32), CONFIG)
  quiet = np.full(3 * window, 0.9 * threshold, np.float32)   # RMS < limit
  with pytest.raises(audio_io.SkipFile, match="silent"):
    audio_io.validate(quiet, CONFIG)
  quiet[window:2 * window] = 1.1 * threshold   # one block's RMS reaches it
  audio_io.validate(quiet, CONFIG)


def test_pcm16_rounds_and_clips():
  audio = np.array([0.0, 1.0, -1.0, 0.25, 0.5, 1.5, -2.0, 1 / 32767],
                   np.float32)
  pcm = audio_io.to_pcm16(audio)
  assert pcm.dtype == np.dtype("<i2")
  # By hand: round(x * 32767) half to even, clipped to +-32767.
  assert pcm.tolist() == [0, 32767, -32767, 8192, 16384, 32767, -32767, 1]
