"""Band split / merge: which band owns which rFFT bin, and the exact split/merge."""

from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig

EDGE_TRANSITION_HZ = 20.0   # half-width of the smooth band crossovers, Hz


def band_bin_ranges(num_samples: int,
                    config: VocoderConfig) -> List[Tuple[int, int]]:
  """Half-open rFFT bin ranges `[start, stop)` of each band, largest first.

  For a signal of N samples (rFFT bins 0 .. N/2), band k < n_bands - 1
  owns bins [N / 2**(k+2), N / 2**(k+1)) -- its lower edge included, its
  own Nyquist bin excluded -- except band 0, which also owns the full-rate
  Nyquist bin N/2. The last band owns [0, N / 2**n_bands). Every bin thus
  belongs to exactly one band, and no band needs the (real-only) Nyquist
  bin of its own rate, which is what makes split then merge exact.
  """
  n = num_samples
  if n % (2 ** config.n_bands):
    raise ValueError(f"band split needs a length divisible by "
                     f"2**n_bands = {2 ** config.n_bands}; got {n} samples")
  ranges = []
  for k in range(config.n_bands):
    top = n // 2 ** (k + 1)
    low = 0 if k == config.n_bands - 1 else n // 2 ** (k + 2)
    ranges.append((low, top + 1 if k == 0 else top))
  return ranges


def _band_masks(num_samples: int, config: VocoderConfig) -> List[np.ndarray]:
  """Per band, a 0/1 mask over that band's own rFFT bins (length M/2 + 1)."""
  masks = []
  for k, (start, stop) in enumerate(band_bin_ranges(num_samples, config)):
    mask = np.zeros(num_samples // 2 ** (k + 1) + 1, np.float32)
    mask[start:stop] = 1.0
    masks.append(mask)
  return masks


def split_bands(audio: tf.Tensor, config: VocoderConfig) -> List[tf.Tensor]:
  """Split audio into `n_bands` critically sampled bands.

  Args:
    audio: `[batch, N]` float32 at `sample_rate`; N divisible by
      2**n_bands.
  Returns:
    list of `[batch, N / 2**k]` float32, k = 0 .. n_bands - 1: band k
    holds the frequencies `config.band_edges_hz[k]` at rate
    `config.band_rates[k]` Hz (band 0 the highest).
  """
  audio = tf.convert_to_tensor(audio, tf.float32)
  n = int(audio.shape[-1])
  spectrum = tf.signal.rfft(audio)                      # [batch, N/2 + 1]
  bands = []
  for k, mask in enumerate(_band_masks(n, config)):
    m = n // 2 ** k
    # Same bins, fewer samples: scale so irfft(M) keeps the amplitude.
    sub = spectrum[:, :m // 2 + 1] * tf.cast(mask / 2 ** k, tf.complex64)
    bands.append(tf.signal.irfft(sub, fft_length=[m]))
  return bands


def merge_bands(bands: Sequence[tf.Tensor],
                config: VocoderConfig) -> tf.Tensor:
  """Inverse of `split_bands`: band-limited upsampling of each band, summed.

  Each band keeps only its own frequency range (the bins `split_bands` gave
  it, see `band_bin_ranges`), is zero-padded in frequency to the full rate
  and the bands are summed. Lengths may be static (checked here) or known
  only at run time (a `tf.function` whose time axis is `None`, e.g. a
  SavedModel signature with any frame count): the masks come from
  `tf.shape`.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]`, largest first.
  Returns:
    `[batch, N]` float32 at `sample_rate`.
  """
  if len(bands) != config.n_bands:
    raise ValueError(f"merge_bands expects {config.n_bands} bands, got "
                     f"{len(bands)}")
  bands = [tf.convert_to_tensor(band, tf.float32) for band in bands]
  static_n = bands[0].shape[-1]
  if static_n is not None:
    band_bin_ranges(int(static_n), config)      # length divisible by 2**bands
    for k, band in enumerate(bands):
      if band.shape[-1] is not None and int(band.shape[-1]) * 2 ** k != static_n:
        raise ValueError(f"band {k} has {band.shape[-1]} samples; expected "
                         f"{static_n // 2 ** k} (= {static_n} / 2**{k})")
  n = tf.shape(bands[0])[-1]
  total = None
  for k, band in enumerate(bands):
    m = tf.shape(band)[-1]                       # N / 2**k
    bins = tf.range(m // 2 + 1)                  # this band's own rFFT bins
    low = 0 if k == config.n_bands - 1 else m // 4
    high = m // 2 + 1 if k == 0 else m // 2
    mask = tf.cast((bins >= low) & (bins < high), tf.float32) * 2.0 ** k
    sub = tf.signal.rfft(band) * tf.cast(mask, tf.complex64)
    sub = tf.pad(sub, [[0, 0], [0, n // 2 - m // 2]])
    total = sub if total is None else total + sub
  fft_length = [int(static_n)] if static_n is not None else tf.reshape(n, [1])
  return tf.signal.irfft(total, fft_length=fft_length)


# ---------------------------------------------------------------------------
