"""Objective distances between real and vocoded audio, overall and per band.

Functions of one example pair (numpy; the log-mel goes through
`dsp.log_mel`, the conditioning itself): `real`, `fake` float arrays
`[samples]` at `config.sample_rate` Hz (same length), plus the config. Every
distance is 0 for identical audio. Each returns a dict with an "overall"
float and "bands", a list of `n_bands` floats, one per
`config.band_edges_hz` range (largest band first, like the model's bands),
computed on the STFT bins (or mel channels) whose frequency lies in that
range: band k holds bins with `low_k <= f < high_k`, band 0 also the
Nyquist bin. A band with no bin or channel gets None.

STFTs here (`stft`): periodic Hann window of `n_fft` samples, hop
`n_fft / 4` unless given, frames entirely inside the signal (no padding),
so a sinusoid at an exact bin frequency touches only its bin and the two
neighbours, and silence is silence.

Definitions (S = |STFT|, natural log, magnitudes floored at `MAG_FLOOR`):

- `log_mel_l1`: mean |log10-mel(real) - log10-mel(fake)| with the model's
  own log-mel (`dsp.log_mel`); per band over the mel channels whose centre
  frequency lies in the band.
- `mr_stft`: for FFT sizes 512, 1024, 2048 (hop n_fft / 4): spectral
  convergence ||S_r - S_f||_F / ||S_r||_F plus log-magnitude distance
  mean |ln S_r - ln S_f|; both averaged over the resolutions ("sc",
  "log_mag"), "overall" their sum. Not the training loss of that name
  (other resolutions, windows and padding; see `mr_stft`).
- `lsd_db`: log-spectral distance at the config's n_fft / hop_length:
  per frame sqrt(mean over bins of (20 log10(S_r / S_f))^2) dB, averaged
  over frames. A gain g gives |20 log10 g| dB.
- `phase.phase_coherence` (its own module, over this one's STFT):
  cross-band phase coherence, the group-delay error of fake against real
  within 40 Hz of each band edge minus the same error 40-120 Hz from it.

A silent reference (`silent_reference`: RMS at or below `SILENT_DBFS`,
e.g. all zeros) has no spectrum to compare with: MR-STFT's spectral
convergence divides by its (floored) energy, 1e7 and more for any audible
output, and the phase error has no weights. The evaluation skips such
examples (`tfvocoder.evaluation.run`) instead of averaging them in.

`scores.DISTANCES` names the four; `scores.METRICS` adds ViSQOL, and
`scores` averages over examples.
"""

import functools
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp.bands import band_bin_ranges
from tfvocoder.dsp.mel import log_mel

MRSTFT_FFTS = (512, 1024, 2048)
MAG_FLOOR = 1e-5            # |STFT| floor before logs
ENERGY_FLOOR = 1e-10        # bin pairs this far below the loudest: silent
SILENT_DBFS = -90.0         # reference RMS (dB re 1) at or below: silent

Distance = Dict[str, object]


# ---------------------------------------------------------------------------
# Spectra
# ---------------------------------------------------------------------------
def snr_db(reference, estimate) -> float:
  """Signal-to-error ratio `10 log10(sum |ref|^2 / sum |ref - est|^2)`, dB.

  Args:
    reference, estimate: arrays of the same size (any shape), float or
      complex (e.g. spectra: both parts count).
  Returns:
    dB, float64 arithmetic; identical inputs give about 300 dB (the error
    energy is floored at 1e-30).
  """
  dtype = (np.complex128 if np.iscomplexobj(reference)
           or np.iscomplexobj(estimate) else np.float64)
  reference = np.asarray(reference, dtype).reshape(-1)
  error = reference - np.asarray(estimate, dtype).reshape(-1)
  return float(10 * np.log10(np.sum(np.abs(reference) ** 2)
                             / max(np.sum(np.abs(error) ** 2), 1e-30)))


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
  n = np.arange(n_fft)
  return 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)      # periodic


def stft(audio: np.ndarray, n_fft: int, hop: Optional[int] = None
         ) -> np.ndarray:
  """Complex STFT `[frames, n_fft // 2 + 1]` of `[samples]` audio.

  Frames start at 0, hop, 2 hop, ... and end inside the signal; a signal
  shorter than `n_fft` gives no frames (shape `[0, bins]`).
  """
  audio = np.asarray(audio, np.float64)
  hop = hop or n_fft // 4
  count = max(0, (len(audio) - n_fft) // hop + 1)
  index = np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]
  frames = audio[index] if count else np.zeros((0, n_fft))
  return np.fft.rfft(frames * _hann(n_fft), axis=-1)


def bin_frequencies(n_fft: int, sample_rate: float) -> np.ndarray:
  """Centre frequency in Hz of each rFFT bin `[n_fft // 2 + 1]`."""
  return np.arange(n_fft // 2 + 1) * sample_rate / n_fft


def band_of(frequencies: np.ndarray, config: VocoderConfig) -> np.ndarray:
  """Band index (0 = highest) of each frequency in Hz, -1 outside all.

  The Hz form of `dsp.bands.band_bins`: band k holds `low_k <= f < high_k`
  (its bins' edges in Hz, the `config.band_edges_hz` values), band 0 also
  its top edge (Nyquist); nothing above Nyquist or below 0 Hz.

  Args:
    frequencies: Hz, any shape.
  Returns:
    int64 band indices, the shape of `frequencies`.
  """
  frequencies = np.asarray(frequencies, np.float64)
  out = np.full(frequencies.shape, -1, np.int64)
  n = 2 ** config.n_bands            # bin edges scale with N: any N will do
  in_spectrum = frequencies <= config.sample_rate / 2
  for k, (low, high) in enumerate(band_bin_ranges(n, config)):
    inside = (in_spectrum & (frequencies >= low * config.sample_rate / n)
              & (frequencies < high * config.sample_rate / n))
    out[inside & (out < 0)] = k
  return out


def internal_edges_hz(config: VocoderConfig) -> List[float]:
  """The n_bands - 1 frequencies where two bands meet (Hz), highest first:
  the lower edge of each band but the last (`dsp.bands.band_bins`)."""
  n = 2 ** config.n_bands            # bin edges scale with N: any N will do
  return [low * config.sample_rate / n
          for low, _ in band_bin_ranges(n, config)[:-1]]


def rms_dbfs(audio: np.ndarray) -> float:
  """RMS level of `[samples]` audio in dB re 1 (full scale); -inf for all
  zeros (a full-scale sine: -3 dB)."""
  audio = np.asarray(audio, np.float64).reshape(-1)
  mean_square = float(np.mean(np.square(audio))) if audio.size else 0.0
  return 10 * float(np.log10(mean_square)) if mean_square > 0 else -np.inf


def silent_reference(real: np.ndarray) -> Optional[str]:
  """Why `real` cannot be a reference (one line), or None.

  Args:
    real: `[samples]` float reference audio.
  Returns:
    a reason when its RMS is at or below `SILENT_DBFS` (all zeros, or far
    below audible: the noise floor of 16-bit audio is about -101 dB), where
    `mr_stft`'s spectral convergence has nothing to divide by; else None.
  """
  level = rms_dbfs(real)
  if level > SILENT_DBFS:
    return None
  return (f"silent reference (RMS {level:.1f} dB re full scale, at or below "
          f"{SILENT_DBFS:g} dB): MR-STFT's spectral convergence and the "
          "phase error are undefined")


def audio_pair(real, fake):
  """(real, fake) as float64 `[samples]`; ValueError if lengths differ."""
  real = np.asarray(real, np.float64).reshape(-1)
  fake = np.asarray(fake, np.float64).reshape(-1)
  if real.shape != fake.shape:
    raise ValueError(f"real and fake audio differ in length: {real.shape[0]} "
                     f"vs {fake.shape[0]} samples")
  return real, fake


def _per_band(values_fn, band_index: np.ndarray, n_bands: int) -> list:
  """[values_fn(mask of band k) or None when band k is empty]."""
  return [values_fn(band_index == k) if np.any(band_index == k) else None
          for k in range(n_bands)]


# ---------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------
def mel_centres_hz(config: VocoderConfig) -> np.ndarray:
  """Centre frequency in Hz of each Slaney mel channel `[n_mels]`."""
  import librosa  # slow to import; only for the mel centres
  return librosa.mel_frequencies(config.n_mels + 2, fmin=config.fmin,
                                 fmax=config.mel_fmax, htk=False)[1:-1]


def log_mel_l1(real: np.ndarray, fake: np.ndarray,
               config: VocoderConfig) -> Distance:
  """Mean |log-mel(real) - log-mel(fake)| (log10 units), overall and per
  band of mel channels (by centre frequency)."""
  real, fake = audio_pair(real, fake)
  hop = config.hop_length
  n = len(real) // hop * hop
  mels = log_mel(np.stack([real[:n], fake[:n]]).astype(np.float32),
                 config).numpy().astype(np.float64)
  diff = np.abs(mels[0] - mels[1])                  # [frames, n_mels]
  bands = band_of(mel_centres_hz(config), config)
  return {"overall": float(diff.mean()),
          "bands": _per_band(lambda m: float(diff[:, m].mean()), bands,
                             config.n_bands)}


def _sc(real_mag, fake_mag):
  num = np.sqrt(np.sum((real_mag - fake_mag) ** 2))
  den = np.sqrt(np.sum(real_mag ** 2))
  return float(num / max(den, MAG_FLOOR))


def _log_mag(real_mag, fake_mag):
  return float(np.mean(np.abs(np.log(np.maximum(real_mag, MAG_FLOOR)) -
                              np.log(np.maximum(fake_mag, MAG_FLOOR)))))


def mr_stft(real: np.ndarray, fake: np.ndarray, config: VocoderConfig,
            ffts: Sequence[int] = MRSTFT_FFTS) -> Distance:
  """Multi-resolution STFT distance: spectral convergence + log magnitude.

  Not the training loss of the same name
  (`tfvocoder.training.losses.multi_resolution_stft`): same two terms, but
  this metric uses its own resolutions (`ffts`, a full-length periodic Hann
  window, hop n_fft / 4, only frames inside the signal, no padding), floors
  magnitudes at `MAG_FLOOR` instead of adding an epsilon, is computed in
  float64 numpy on one example, and is also reported per band, so its
  figures are comparable between systems here, not with training logs.

  Args:
    real, fake: `[samples]` float audio at `config.sample_rate`, the same
      length, at least `max(ffts)` samples.
    config: gives the bands and the sample rate.
    ffts: FFT sizes (samples) of the resolutions.
  Returns:
    {"overall", "sc", "log_mag", "bands", "bands_sc", "bands_log_mag"};
    "overall" = "sc" + "log_mag", each the mean over `ffts`. A gain g gives
    sc = |1 - g|, log_mag = |ln g|. Meaningless for a silent `real`
    (`silent_reference`): sc is then ||S_f|| / `MAG_FLOOR`, ~1e7.
  """
  real, fake = audio_pair(real, fake)
  sc, lm = [], []
  band_sc, band_lm = [], []
  for n_fft in ffts:
    r, f = np.abs(stft(real, n_fft)), np.abs(stft(fake, n_fft))
    if not len(r):
      raise ValueError(f"audio of {len(real)} samples is shorter than the "
                       f"{n_fft}-sample STFT window")
    sc.append(_sc(r, f))
    lm.append(_log_mag(r, f))
    bands = band_of(bin_frequencies(n_fft, config.sample_rate), config)
    band_sc.append(_per_band(lambda m: _sc(r[:, m], f[:, m]), bands,
                             config.n_bands))
    band_lm.append(_per_band(lambda m: _log_mag(r[:, m], f[:, m]), bands,
                             config.n_bands))

  def mean_over_ffts(rows):
    out = []
    for k in range(config.n_bands):
      values = [row[k] for row in rows if row[k] is not None]
      out.append(float(np.mean(values)) if values else None)
    return out
  bsc, blm = mean_over_ffts(band_sc), mean_over_ffts(band_lm)
  return {"overall": float(np.mean(sc) + np.mean(lm)),
          "sc": float(np.mean(sc)), "log_mag": float(np.mean(lm)),
          "bands": [None if a is None else a + b for a, b in zip(bsc, blm)],
          "bands_sc": bsc, "bands_log_mag": blm}


def lsd_db(real: np.ndarray, fake: np.ndarray,
           config: VocoderConfig) -> Distance:
  """Log-spectral distance in dB at n_fft = `config.n_fft`, hop =
  `config.hop_length`: mean over frames of the RMS over bins of
  20 log10(S_r / S_f); per band over that band's bins."""
  real, fake = audio_pair(real, fake)
  r = np.maximum(np.abs(stft(real, config.n_fft, config.hop_length)),
                 MAG_FLOOR)
  f = np.maximum(np.abs(stft(fake, config.n_fft, config.hop_length)),
                 MAG_FLOOR)
  if not len(r):
    raise ValueError(f"audio of {len(real)} samples is shorter than n_fft="
                     f"{config.n_fft}")
  db2 = (20.0 * np.log10(r / f)) ** 2                   # [frames, bins]
  bands = band_of(bin_frequencies(config.n_fft, config.sample_rate), config)
  return {"overall": float(np.mean(np.sqrt(db2.mean(axis=1)))),
          "bands": _per_band(
              lambda m: float(np.mean(np.sqrt(db2[:, m].mean(axis=1)))),
              bands, config.n_bands)}
