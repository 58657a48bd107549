"""Band split / merge oracles: bin ownership, exact reconstruction, tones."""

import numpy as np
import pytest
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.dsp import bands as bands_lib
from tfvocoder.evaluation import metrics
from tfvocoder.evaluation.metrics import snr_db
from tests.conftest import music_windows

# Band k's own bins for N = 8192 (the reference window), worked by hand:
# band k has M = 8192 / 2**k samples and owns [M / 4, M / 2), band 0 also its
# Nyquist bin 4096, the last band everything from 0 Hz.
BINS_8192 = [(2048, 4097), (1024, 2048), (512, 1024), (256, 512), (0, 256)]


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


def test_band_bins_by_hand_for_the_reference_window():
  config = VocoderConfig()
  got = [dsp.band_bins(k, 8192 // 2 ** k, config) for k in range(5)]
  assert got == BINS_8192
  assert all(isinstance(b, int) for pair in got for b in pair)
  assert dsp.band_bin_ranges(8192, config) == BINS_8192
  with pytest.raises(ValueError, match="band_bin_ranges needs a length "
                     "divisible by 2\\*\\*n_bands = 32; got 8200"):
    dsp.band_bin_ranges(8200, config)


def test_band_bins_with_run_time_lengths():
  config = VocoderConfig()

  @tf.function(input_signature=[tf.TensorSpec([None])])
  def bins(band_0):
    n = tf.shape(band_0)[-1]
    return tf.stack([tf.stack(dsp.band_bins(k, n // 2 ** k, config))
                     for k in range(config.n_bands)])

  assert bins(tf.zeros([8192])).numpy().tolist() == [
      list(pair) for pair in BINS_8192]
  assert bins(tf.zeros([40 * 256])).numpy().tolist() == [
      list(pair) for pair in dsp.band_bin_ranges(40 * 256, config)]


def test_hz_users_follow_the_bin_rule(config):
  # In Hz (bins times sample_rate / N) the bins are the config's band edges.
  n = config.window
  for (low, high), (low_hz, high_hz) in zip(dsp.band_bin_ranges(n, config),
                                            config.band_edges_hz):
    assert low * config.sample_rate / n == low_hz
    assert min(high, n // 2) * config.sample_rate / n == high_hz
  # The per-band metrics put each bin of an N-point spectrum in its band.
  owner = np.full(n // 2 + 1, -1)
  for k, (low, high) in enumerate(dsp.band_bin_ranges(n, config)):
    owner[low:high] = k
  freqs = np.fft.rfftfreq(n, 1 / config.sample_rate)
  np.testing.assert_array_equal(metrics.band_of(freqs, config), owner)
  assert metrics.internal_edges_hz(config) == [
      low * config.sample_rate / n
      for low, _ in dsp.band_bin_ranges(n, config)[:-1]]


def test_band_length_checks_name_their_caller(config):
  bands = dsp.split_bands(np.zeros((1, config.window), np.float32), config)
  with pytest.raises(ValueError, match="^merge_bands_smooth expects 5 bands"):
    bands_lib.check_band_lengths(bands[:4], config, "merge_bands_smooth")
  assert bands_lib.check_band_lengths(bands, config, "x") == config.window
  assert bands_lib.check_band_lengths(
      [tf.TensorSpec([1, None])] * 5, config, "x") is None
  with pytest.raises(ValueError, match="^split_bands needs a length"):
    dsp.split_bands(np.zeros((1, config.window + 16), np.float32), config)


def test_smooth_gain_is_one_formula_for_numpy_and_tf():
  config = VocoderConfig()
  freqs = np.linspace(0, config.sample_rate / 2, 4097)
  for k, (low, high) in enumerate(config.band_edges_hz):
    gain = bands_lib.smooth_gain(freqs, k, config)
    assert gain.dtype == np.float64
    freqs32 = freqs.astype(np.float32)
    with_tf = bands_lib.smooth_gain(tf.constant(freqs32), k, config,
                                    clip=tf.clip_by_value, sin=tf.sin)
    assert with_tf.dtype == tf.float32
    np.testing.assert_allclose(
        with_tf.numpy(),
        bands_lib.smooth_gain(freqs32.astype(np.float64), k, config),
        atol=1e-6)
    inside = (freqs > low + 20) & (freqs < high - 20)
    outside = (freqs < low - 20) | (freqs > high + 20)
    np.testing.assert_array_equal(gain[inside], 1.0)
    np.testing.assert_array_equal(gain[outside & (freqs > 0)
                                       & (freqs < freqs[-1])], 0.0)
    # Half-way at each inner edge; the outer edges (0 Hz, Nyquist) are none.
    edges = bands_lib.smooth_gain(np.array([low, high]), k, config)
    assert edges.tolist() == [0.5 if k < 4 else 1.0, 0.5 if k > 0 else 1.0]
