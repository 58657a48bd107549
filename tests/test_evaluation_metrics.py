"""tfvocoder.evaluation.metrics against hand-computed values."""

import numpy as np
import pytest

from tfvocoder.evaluation import metrics, phase, scores
from tfvocoder.config import VocoderConfig

CONFIG = VocoderConfig()
RATE = CONFIG.sample_rate
# Bin-centred for every STFT used (n_fft 512 .. 2048): multiples of rate/512.
UNIT_HZ = RATE / min(metrics.MRSTFT_FFTS)


def _noise(seconds=1.0, seed=0):
  return 0.1 * np.random.default_rng(seed).standard_normal(int(RATE * seconds))


def _tones(bins, n, delay=0.0):
  """Sum of bin-centred cosines (frequencies bins * UNIT_HZ), delayed."""
  t = np.arange(n) - delay
  return sum(0.1 * np.cos(2 * np.pi * b * UNIT_HZ * t / RATE + i)
             for i, b in enumerate(bins))


def _scalars(distance):
  """Every figure of a distance dict, None (silent zones) left out."""
  out = [distance["overall"]]
  for key, value in distance.items():
    if isinstance(value, list) and key != "edges_hz":
      out += value
    elif isinstance(value, float) and key != "overall":
      out.append(value)
  return [x for x in out if x is not None]


def test_band_of_matches_config_edges():
  bands = metrics.band_of([0, 689.0, 689.0625, 5512.4, 5512.5, 11025, 11026],
                          CONFIG)
  assert bands.tolist() == [4, 4, 3, 1, 0, 0, -1]
  assert metrics.internal_edges_hz(CONFIG) == [5512.5, 2756.25, 1378.125,
                                               689.0625]


def test_identical_audio_gives_zero_everywhere():
  x = _noise()
  for name, fn in scores.DISTANCES.items():
    np.testing.assert_allclose(_scalars(fn(x, x, CONFIG)), 0.0, atol=1e-9,
                               err_msg=name)


@pytest.mark.parametrize("gain", [0.5, 2.0, 0.9])
def test_gain(gain):
  x = _noise()
  expected_db = abs(20 * np.log10(gain))
  lsd = metrics.lsd_db(x, gain * x, CONFIG)
  np.testing.assert_allclose([lsd["overall"]] + lsd["bands"], expected_db,
                             rtol=1e-9)
  mr = metrics.mr_stft(x, gain * x, CONFIG)
  np.testing.assert_allclose([mr["sc"]] + mr["bands_sc"], abs(1 - gain),
                             rtol=1e-9)
  np.testing.assert_allclose([mr["log_mag"]] + mr["bands_log_mag"],
                             abs(np.log(gain)), rtol=1e-9)
  np.testing.assert_allclose(mr["overall"], abs(1 - gain) + abs(np.log(gain)))
  # The log-mel is log10 of a linear map: a gain shifts it by log10(gain)
  # wherever the floor is not reached.
  np.testing.assert_allclose(metrics.log_mel_l1(x, gain * x,
                                                CONFIG)["overall"],
                             abs(np.log10(gain)), rtol=1e-3)
  # A gain changes no phase.
  assert abs(phase.phase_coherence(x, gain * x, CONFIG)["edge"]) < 1e-9


def test_delay_of_stationary_partials_changes_nothing():
  # Partials at and between the band edges, delayed by a fraction of a
  # sample: every magnitude and every cross-bin phase increment is unchanged.
  edges = [round(e / UNIT_HZ) for e in metrics.internal_edges_hz(CONFIG)]
  bins, n = (3, 20, 47, 100, 200, *edges), RATE
  real, fake = _tones(bins, n), _tones(bins, n, delay=7.3)
  for name in ("mr_stft", "lsd_db", "phase_coherence"):
    distance = scores.DISTANCES[name](real, fake, CONFIG)
    np.testing.assert_allclose(_scalars(distance), 0.0, atol=1e-8,
                               err_msg=name)


def test_delayed_click_gives_the_group_delay_error():
  real, fake = np.zeros(RATE), np.zeros(RATE)
  real[5000], fake[5003] = 1.0, 1.0
  pc = phase.phase_coherence(real, fake, CONFIG)
  expected = 2 * np.pi * 3 / phase.PHASE_FFT
  np.testing.assert_allclose(
      pc["edges"] + [pc["edge"], pc["flank"], pc["elsewhere"]], expected,
      rtol=1e-9)
  np.testing.assert_allclose(pc["edges_excess"] + [pc["overall"]], 0.0,
                             atol=1e-12)


@pytest.mark.parametrize("band", range(CONFIG.n_bands))
def test_energy_in_one_band_changes_only_that_band(band):
  low, high = CONFIG.band_edges_hz[band]
  tone = _tones([round((low + high) / 2 / UNIT_HZ)], RATE)
  x = _noise()
  for name in ("mr_stft", "lsd_db", "log_mel_l1"):
    distance = scores.DISTANCES[name](x, x + tone, CONFIG)
    values = np.array(distance["bands"])
    assert values[band] > 0.01, (name, values)
    others = np.delete(values, band)
    if name == "log_mel_l1":
      # The log-mel's reflect-padded edge frames leak a little everywhere.
      assert np.all(others < 0.01 * values[band]), (name, values)
    else:
      np.testing.assert_allclose(others, 0.0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("band", range(CONFIG.n_bands))
def test_band_with_inconsistent_phase_shows_at_its_edges(band):
  # Rotate one band's spectrum by 90 degrees, as if generated independently.
  x = _noise()
  spectrum = np.fft.rfft(x)
  inside = metrics.band_of(np.fft.rfftfreq(len(x), 1 / RATE), CONFIG) == band
  y = np.fft.irfft(np.where(inside, 1j * spectrum, spectrum), len(x))
  pc = phase.phase_coherence(x, y, CONFIG)
  edges = metrics.internal_edges_hz(CONFIG)
  low, high = CONFIG.band_edges_hz[band]
  for edge, error, excess in zip(edges, pc["edges"], pc["edges_excess"]):
    if edge in (low, high):
      assert error > 0.1 and excess > 0.1, (edge, pc)
    else:
      assert error < 1e-3 and abs(excess) < 1e-3, (edge, pc)  # FFT tails
  assert pc["flank"] < 0.01 and pc["elsewhere"] < 0.01
  assert pc["overall"] > 0.02      # averaged over every edge zone


def test_lengths_must_match():
  with pytest.raises(ValueError, match="differ in length"):
    metrics.lsd_db(np.zeros(4096), np.zeros(4095), CONFIG)


def test_snr_db_of_arrays():
  reference = _noise(0.1)
  assert metrics.snr_db(reference, reference) > 250          # error floored
  np.testing.assert_allclose(metrics.snr_db(reference, 0.9 * reference), 20.0,
                             atol=1e-9)                      # error = ref / 10
  # Any shape, compared flat; float32 inputs use float64 arithmetic.
  block = reference[:2000].reshape(4, 500).astype(np.float32)
  np.testing.assert_allclose(metrics.snr_db(block, 0.9 * block), 20.0,
                             atol=1e-4)
  # Complex (spectra): both parts count. An error that is purely imaginary
  # with |error| = |ref| / 10 is 20 dB, not the real parts' 300.
  spectrum = np.fft.rfft(reference)
  np.testing.assert_allclose(
      metrics.snr_db(spectrum, spectrum + 0.1j * spectrum), 20.0, atol=1e-9)
  # Parseval: the SNR of the full spectra is the SNR of the signals.
  estimate = 0.9 * reference + 0.01 * _noise(0.1, seed=3)
  np.testing.assert_allclose(
      metrics.snr_db(np.fft.fft(reference), np.fft.fft(estimate)),
      metrics.snr_db(reference, estimate), atol=1e-9)


def test_silent_reference():
  t = np.arange(RATE) / RATE
  np.testing.assert_allclose(metrics.rms_dbfs(np.sin(2 * np.pi * 440 * t)),
                             -3.0103, atol=1e-3)
  assert metrics.rms_dbfs(np.zeros(100)) == -np.inf
  # All zeros, or far below audible (-120 dB): no reference. Why: the
  # spectral convergence divides by its energy and explodes.
  for real in (np.zeros(RATE), 1e-6 * _noise(seed=1) / 0.1):
    reason = metrics.silent_reference(real)
    assert reason.startswith("silent reference (RMS ") and "-90 dB" in reason
    assert metrics.mr_stft(real, _noise(), CONFIG)["sc"] > 1e4
  # Quiet but audible (-60 dB RMS) is a reference like any other.
  assert metrics.silent_reference(1e-3 * _noise() / 0.1) is None
  assert metrics.silent_reference(_noise()) is None
