"""Band split / merge oracles: bin ownership, exact reconstruction, tones."""

import numpy as np
import pytest

from tfvocoder import dsp
from tfvocoder.evaluation.metrics import snr_db
from tests.conftest import music_windows


def test_split_merge_reconstructs_music(config):
  windows = music_windows(config, 8, seed=1)
  bands = dsp.split_bands(windows, config)
  assert [b.shape for b in bands] == [(8, n) for n in config.band_lengths]
  merged = dsp.merge_bands(bands, config).numpy()
  assert snr_db(windows, merged) >= 80


def test_bin_ranges_partition_the_spectrum(config):
  ranges = dsp.band_bin_ranges(config.window, config)
  covered = sorted(b for start, stop in ranges for b in range(start, stop))
  assert covered == list(range(config.window // 2 + 1))


@pytest.mark.parametrize("freq", [40.0, 600.0, 689.0625, 700.0, 1300.0,
                                  1500.0, 2700.0, 3000.0, 5500.0, 5512.5,
                                  8000.0, 11000.0])
def test_tone_lands_in_its_band_at_its_frequency(config, freq):
  n = config.window
  cycles = round(freq * n / config.sample_rate)
  freq = cycles * config.sample_rate / n           # whole cycles per window
  t = np.arange(n) / config.sample_rate
  tone = np.cos(2 * np.pi * freq * t + 0.3)[None].astype(np.float32)
  bands = [b.numpy()[0] for b in dsp.split_bands(tone, config)]
  # Energy per unit time: band k has 2**k fewer samples for the same span.
  energy = np.array([np.sum(b ** 2) * 2 ** k for k, b in enumerate(bands)])
  expected = [k for k, (lo, hi) in enumerate(config.band_edges_hz)
              if lo <= freq <= hi][0]
  assert energy[expected] / energy.sum() >= 0.999
  band = bands[expected]
  rate = config.band_rates[expected]
  spectrum = np.abs(np.fft.rfft(band))
  peak_hz = np.argmax(spectrum) * rate / len(band)
  assert abs(peak_hz - freq) < 1e-6 * rate


def test_merge_rejects_wrong_band_count_and_length(config):
  bands = dsp.split_bands(np.zeros((1, config.window), np.float32), config)
  with pytest.raises(ValueError, match="expects 5 bands"):
    dsp.merge_bands(bands[:4], config)
  bands[2] = bands[2][:, :-32]
  with pytest.raises(ValueError, match="band 2 has"):
    dsp.merge_bands(bands, config)
