"""tfvocoder.evaluation.visqol: ViSQOL's MOS-LQO of identical, low-passed,
delayed and silent audio, and its minimum length (1 s clips of music)."""

import numpy as np
import pytest

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import visqol
from tfvocoder.evaluation.examples import example_samples
from conftest import load_music

CONFIG = VocoderConfig()                       # 22 050 Hz
RATE = CONFIG.sample_rate


@pytest.fixture(scope="module")
def music():
  """About 1 s of music (22 016 samples), peak 0.9."""
  audio, _ = load_music(RATE, seconds=1.5, seed=0)
  audio = audio[:example_samples(CONFIG, 1.0)].astype(np.float64)
  return 0.9 * audio / np.abs(audio).max()


def _low_pass(audio, cutoff_hz):
  """Brick-wall low-pass (rFFT bins above `cutoff_hz` zeroed)."""
  spectrum = np.fft.rfft(audio)
  spectrum[np.fft.rfftfreq(len(audio), 1 / RATE) > cutoff_hz] = 0
  return np.fft.irfft(spectrum, len(audio))


def test_identical_gain_and_low_pass(music):
  identical = visqol.visqol(music, music, CONFIG)
  assert set(identical) == {"overall"}             # no bands
  assert identical["overall"] >= 4.7               # the model's ceiling
  # Level matched before scoring: half the amplitude changes nothing.
  half = visqol.visqol(music, 0.5 * music, CONFIG)["overall"]
  assert half == pytest.approx(identical["overall"], abs=0.01)
  # Nothing above 4 kHz (of 11 kHz) is clearly worse (measured: 2.1).
  low = visqol.visqol(music, _low_pass(music, 4000.0), CONFIG)["overall"]
  assert 1.0 <= low < identical["overall"] - 1.0


def test_a_delay_barely_moves_the_score(music):
  # The package aligns the signals itself (see the module docstring): a
  # 384-sample delay (zeros in front) costs less than 0.05.
  delayed = np.concatenate([np.zeros(384), music[:-384]])
  assert (visqol.visqol(music, delayed, CONFIG)["overall"]
          > visqol.visqol(music, music, CONFIG)["overall"] - 0.05)


def test_minimum_length():
  # Hand-computed: 80 ms windows (3840 samples at 48 kHz) every 960, and
  # 30 + 15 frames: 3840 + 44 * 960 = 46 080 samples; 0.96 s is 21 168
  # samples at 22 050 Hz.
  assert visqol.min_samples_48k() == 46080
  assert visqol.min_samples(CONFIG) == 21168
  assert visqol.min_samples(VocoderConfig(sample_rate=16000)) == 15360
  # The package itself (the oracle): 46 079 samples are one frame short.
  api = visqol._api()  # pylint: disable=protected-access
  x = 0.1 * np.random.default_rng(0).standard_normal(46080)
  assert api.measure_from_arrays(x, x, sample_rate=48000).moslqo > 4.5
  with pytest.raises(ValueError, match="smaller than minimum patch size"):
    api.measure_from_arrays(x[:-1], x[:-1], sample_rate=48000)


def test_too_short_is_one_clear_line(music):
  short = music[:21167]
  with pytest.raises(ValueError) as raised:
    visqol.visqol(short, short, CONFIG)
  assert str(raised.value) == (
      "audio of 21167 samples at 22050 Hz is too short for ViSQOL: it needs "
      "at least 21168 (0.96 s)")
  assert visqol.visqol(music[:21168], music[:21168], CONFIG)["overall"] > 4.7
  with pytest.raises(ValueError, match="differ in length: 22016 vs 22015"):
    visqol.visqol(music, music[:-1], CONFIG)


def test_silence(music):
  # An all-zero output: the floor (the package's level matching would give
  # NaN); a silent reference: no score.
  assert visqol.visqol(music, np.zeros_like(music), CONFIG) == {
      "overall": visqol.MOS_MIN}
  assert visqol.visqol(np.zeros_like(music), music, CONFIG) == {
      "overall": None}
