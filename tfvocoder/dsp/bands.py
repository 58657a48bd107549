"""Band split / merge: which band owns which rFFT bin, and the exact split/merge.

`band_bins` is the one rule of bin ownership; every split, merge, edge
correction and per-band metric derives its bins (or Hz ranges) from it.
`band_bins`, `band_bin_ranges`, `check_band_lengths`, `reference_band_gains`
and `smooth_gain` are plain arithmetic: the TFLite runtime
(`tfvocoder.inference`) uses them without TensorFlow, which `split_bands` /
`merge_bands` import when called.
"""

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tfvocoder.config import VocoderConfig

EDGE_TRANSITION_HZ = 20.0   # half-width of the smooth band crossovers, Hz


def band_bins(k: int, m, config: VocoderConfig):
  """Band k's own rFFT bins `[low, high)` for a band of M samples.

  A signal of N samples split into `n_bands` bands gives band k M = N / 2**k
  samples at `band_rates[k]`; bin j of its M-point rFFT is bin j of the
  N-point full-rate rFFT (same frequency). Band k < n_bands - 1 owns
  [M / 4, M / 2) -- its lower edge included, its own Nyquist bin excluded --
  except band 0, which also owns the full-rate Nyquist bin M / 2. The last
  band owns [0, M / 2). Every bin of the N-point spectrum thus belongs to
  exactly one band, and no band needs the (real-only) Nyquist bin of its
  own rate, which is what makes split then merge exact.

  Args:
    k: band index, 0 (highest) .. n_bands - 1.
    m: the band's length M in samples: a Python int, or a scalar int tensor
      for lengths known only at run time.
    config: gives `n_bands`.
  Returns:
    `(low, high)`: ints for an int M, else scalar tensors (`low` may be
    the int 0 for the last band).
  """
  low = 0 if k == config.n_bands - 1 else m // 4
  high = m // 2 + 1 if k == 0 else m // 2
  return low, high


def check_band_length(num_samples: int, config: VocoderConfig,
                      caller: str) -> None:
  """Raises ValueError unless N is divisible by 2**n_bands.

  Args:
    num_samples: N, full-rate samples.
    caller: the public function named in the message.
  """
  if num_samples % (2 ** config.n_bands):
    raise ValueError(f"{caller} needs a length divisible by 2**n_bands = "
                     f"{2 ** config.n_bands}; got {num_samples} samples")


def check_band_lengths(bands: Sequence, config: VocoderConfig,
                       caller: str) -> Optional[int]:
  """The one check of a band list: `n_bands` bands `[batch, N / 2**k]`.

  Lengths known only at run time (a `None` static length) are not checked.

  Args:
    bands: tensors or arrays with a static `shape`, largest band first.
    caller: the public function named in the messages.
  Returns:
    N, full-rate samples, when band 0's length is static; else None.
  Raises:
    ValueError: wrong band count, N not divisible by 2**n_bands, or a band
      whose length is not N / 2**k.
  """
  if len(bands) != config.n_bands:
    raise ValueError(f"{caller} expects {config.n_bands} bands, got "
                     f"{len(bands)}")
  n = bands[0].shape[-1]
  if n is None:
    return None
  n = int(n)
  check_band_length(n, config, caller)
  for k, band in enumerate(bands):
    m = band.shape[-1]
    if m is not None and int(m) * 2 ** k != n:
      raise ValueError(f"{caller}: band {k} has {m} samples; expected "
                       f"{n // 2 ** k} (= {n} / 2**{k})")
  return n


def reference_band_gains(config: VocoderConfig) -> Tuple[float, ...]:
  """g_k: the reference's band k over `split_bands`'s, largest band first.

  The reference split with orthonormal FFTs (rfft at N, irfft at the band's
  N_k, both `norm="ortho"`), which leaves band k scaled by sqrt(N / N_k)
  relative to this split (which keeps the amplitude): 1, sqrt(2), 2, ...
  up to 4 for the lowest of 5 bands. `band_scaling` models train on those
  scaled bands (`tfvocoder.models.multiscale`).

  Returns:
    `n_bands` floats sqrt(band_lengths[0] / band_lengths[k]).
  """
  lengths = config.band_lengths
  return tuple(math.sqrt(lengths[0] / m) for m in lengths)


def band_bin_ranges(num_samples: int,
                    config: VocoderConfig) -> List[Tuple[int, int]]:
  """`band_bins` of every band of an N-sample signal, largest band first.

  Args:
    num_samples: N, divisible by 2**n_bands.
  Returns:
    `n_bands` half-open full-rate bin ranges `(start, stop)`; together they
    partition bins 0 .. N / 2.
  """
  check_band_length(num_samples, config, "band_bin_ranges")
  return [band_bins(k, num_samples // 2 ** k, config)
          for k in range(config.n_bands)]


def smooth_gain(freq_hz, band: int, config: VocoderConfig,
                transition_hz: float = EDGE_TRANSITION_HZ,
                clip=np.clip, sin=np.sin):
  """Band `band`'s smooth mask S at full-rate frequencies (Hz).

  S is 1 inside the band's range, 0 outside, and crosses each inner edge
  f_e as `0.5 (1 + sin(pi/2 x))`, x = +-(f - f_e) / transition_hz clipped
  to [-1, 1] (C^1, so its kernel decays like 1/t^3). The band's outer
  edges at 0 Hz and at sample_rate / 2 are not edges (the spectrum
  continues into its mirror image there). One formula for numpy (the
  edge correction, float64) and TensorFlow (the smooth merge: pass
  `clip=tf.clip_by_value, sin=tf.sin`).

  Args:
    freq_hz: frequencies, any shape, numpy array or float tensor.
    clip, sin: `clip(x, low, high)` and `sin(x)` for that array type.
  Returns:
    S, same shape and type as `freq_hz`.
  """
  low, high = config.band_edges_hz[band]
  gain = freq_hz * 0.0 + 1.0
  if band < config.n_bands - 1:
    x = clip((freq_hz - low) / transition_hz, -1.0, 1.0)
    gain = gain * (0.5 * (1.0 + sin(math.pi / 2 * x)))
  if band > 0:
    x = clip((high - freq_hz) / transition_hz, -1.0, 1.0)
    gain = gain * (0.5 * (1.0 + sin(math.pi / 2 * x)))
  return gain


def _band_masks(num_samples: int, config: VocoderConfig) -> List[np.ndarray]:
  """Per band, a 0/1 mask over that band's own rFFT bins (length M/2 + 1)."""
  masks = []
  for k, (start, stop) in enumerate(band_bin_ranges(num_samples, config)):
    mask = np.zeros(num_samples // 2 ** (k + 1) + 1, np.float32)
    mask[start:stop] = 1.0
    masks.append(mask)
  return masks


def split_bands(audio, config: VocoderConfig) -> List:
  """Split audio into `n_bands` critically sampled bands.

  Args:
    audio: `[batch, N]` float32 at `sample_rate`; N divisible by
      2**n_bands.
  Returns:
    list of `[batch, N / 2**k]` float32 tensors, k = 0 .. n_bands - 1: band
    k holds the frequencies `config.band_edges_hz[k]` at rate
    `config.band_rates[k]` Hz (band 0 the highest).
  """
  import tensorflow as tf  # on first use: the TFLite runtime needs no TF
  audio = tf.convert_to_tensor(audio, tf.float32)
  n = int(audio.shape[-1])
  check_band_length(n, config, "split_bands")
  spectrum = tf.signal.rfft(audio)                      # [batch, N/2 + 1]
  bands = []
  for k, mask in enumerate(_band_masks(n, config)):
    m = n // 2 ** k
    # Same bins, fewer samples: scale so irfft(M) keeps the amplitude.
    sub = spectrum[:, :m // 2 + 1] * tf.cast(mask / 2 ** k, tf.complex64)
    bands.append(tf.signal.irfft(sub, fft_length=[m]))
  return bands


def merge_bands(bands: Sequence, config: VocoderConfig):
  """Inverse of `split_bands`: band-limited upsampling of each band, summed.

  Each band keeps only its own bins (`band_bins`), is zero-padded in
  frequency to the full rate and the bands are summed. Lengths may be
  static (checked here) or known only at run time (a `tf.function` whose
  time axis is `None`, e.g. a SavedModel signature with any frame count):
  the masks come from `tf.shape`.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]`, largest first.
  Returns:
    `[batch, N]` float32 tensor at `sample_rate`.
  """
  import tensorflow as tf  # on first use: the TFLite runtime needs no TF
  bands = [tf.convert_to_tensor(band, tf.float32) for band in bands]
  static_n = check_band_lengths(bands, config, "merge_bands")
  n = tf.shape(bands[0])[-1]
  total = None
  for k, band in enumerate(bands):
    m = tf.shape(band)[-1]                       # N / 2**k
    bins = tf.range(m // 2 + 1)                  # this band's own rFFT bins
    low, high = band_bins(k, m, config)
    mask = tf.cast((bins >= low) & (bins < high), tf.float32) * 2.0 ** k
    sub = tf.signal.rfft(band) * tf.cast(mask, tf.complex64)
    sub = tf.pad(sub, [[0, 0], [0, n // 2 - m // 2]])
    total = sub if total is None else total + sub
  fft_length = [static_n] if static_n is not None else tf.reshape(n, [1])
  return tf.signal.irfft(total, fft_length=fft_length)
