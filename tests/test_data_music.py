"""Built-in synthetic music: seeded, in key, every band, onsets on notes."""

import librosa
import numpy as np
import pytest

from tfvocoder.config import tiny_config
from tfvocoder.data import music

CONFIG = tiny_config()
RATE = CONFIG.sample_rate


def test_deterministic_and_in_range():
  a = music.generate_music(4.0, RATE, seed=3)
  b = music.generate_music(4.0, RATE, seed=3)
  c = music.generate_music(4.0, RATE, seed=4)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (4 * RATE,) and a.dtype == np.float32
  assert np.all(np.isfinite(a)) and 0.5 <= np.max(np.abs(a)) <= 0.95
  assert np.max(np.abs(a - c)) > 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pitch_classes_follow_the_scale(seed):
  """librosa's chroma: in-scale pitch classes carry most of the energy."""
  score = music.compose(8.0, seed)
  audio = music.generate_music(8.0, RATE, seed=seed)
  chroma = librosa.feature.chroma_stft(y=audio, sr=RATE).sum(axis=1)
  in_scale = sorted({(score["root"] + p) % 12
                     for p in music.SCALES[score["scale"]]})
  out_scale = sorted(set(range(12)) - set(in_scale))
  assert chroma[in_scale].mean() > 2.0 * chroma[out_scale].mean()


def test_every_band_has_energy_and_onsets_follow_the_score():
  """All five bands get signal (numpy FFT); librosa's onsets are notes."""
  score = music.compose(8.0, 5)
  audio = music.generate_music(8.0, RATE, seed=5)
  power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
  freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
  for low, high in CONFIG.band_edges_hz:
    share = power[(freqs >= low) & (freqs < high)].sum() / power.sum()
    assert share > 1e-4, (low, high, share)
  onsets = librosa.onset.onset_detect(y=audio, sr=RATE, units="time")
  events = np.array([n[0] for n in score["notes"]]
                    + [d[0] for d in score["drums"]])
  assert len(onsets) >= 10
  near = [np.min(np.abs(events - t)) < 0.05 for t in onsets]
  assert np.mean(near) > 0.75
  timbres = {n[4] for seed in range(6)
             for n in music.compose(8.0, seed)["notes"]}
  assert timbres == set(music.TIMBRES)
  assert any(music.compose(8.0, seed)["drums"] for seed in range(6))
