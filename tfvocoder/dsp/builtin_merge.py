"""Band merge with TensorFlow Lite builtin ops only (no irfft, no Flex ops).

`dsp.merge_bands` rebuilds audio from the `n_bands` critically sampled bands
by taking each band's rFFT, keeping the band's own bins, placing them at their
full-rate frequencies and running one `tf.signal.irfft`. TFLite has a builtin
for the forward real FFT (`RFFT2D`, plus `REAL` / `IMAG` to split its complex
output) but none for the inverse, so a converter restricted to
`TFLITE_BUILTINS` rejects `merge_bands`.

Formulation used here: the *same* DFT-domain merge, with the inverse real FFT
rewritten as one forward real FFT of a rearranged real sequence. For a
Hermitian half-spectrum `X[k] = a_k + i b_k`, k = 0 .. N/2, let

    e[0] = a_0,  e[N/2] = a_{N/2},
    e[k] = a_k + b_k,  e[N - k] = a_k - b_k      (1 <= k < N/2).

Pairing bins k and N - k in `F = rfft(e)` gives `F[n] = C[n] - i S[n]`,
`C[n] = a_0 + a_{N/2} (-1)^n + 2 sum a_k cos(2 pi k n / N)`,
`S[n] = 2 sum b_k sin(2 pi k n / N)`, so

    N x[n]     = C[n] - S[n] = Re F[n] + Im F[n]     (0 <= n <= N/2),
    N x[N - n] = C[n] + S[n] = Re F[n] - Im F[n]     (1 <= n < N/2),

which is exactly `irfft(X)` (the imaginary parts of the DC and Nyquist bins
are ignored, as irfft does). Only RFFT2D, REAL, IMAG, STRIDED_SLICE,
CONCATENATION, ADD/SUB/MUL and REVERSE_V2 are needed: all builtins. The merge
is mathematically identical to `dsp.merge_bands` for the same length N (no
filter design, no approximation; the difference is float rounding), and it is
circular over the N samples just like the FFT merge.

Cost per chunk of N output samples: one real FFT per band (about 2N points
in all) and one N-point real FFT for the inverse, about 6 N log2(N) real
multiply-adds counting 2 M log2(M) per M-point FFT: under 100 MACs per
output sample, about 2 MMAC per audio second for chunks of 2**15 samples
(`merge_macs_per_second`), against 3-4 GMAC for the generators. TFLite's
RFFT2D needs power-of-two lengths, so a fixed-size TFLite chunk must have
power-of-two band lengths (`check_tflite_length`). TensorFlow accepts any
length, so the same functions also serve the dynamic-length SavedModel.

`merge_bands_smooth` is the same construction with smooth crossovers
(`dsp.bands.smooth_gain`) instead of brick walls at the inner band edges:
the local part of the streamed merge (`tfvocoder.inference.streaming_merge`).

Shapes: bands are a list of `n_bands` tensors `[batch, N / 2**k]`, largest
band (highest rate) first; audio `[batch, N]` float32 at `sample_rate` Hz.
"""

import math
from typing import Sequence, Tuple, Union

import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp.bands import (EDGE_TRANSITION_HZ, band_bins,
                                 check_band_lengths, smooth_gain)

Length = Union[int, tf.Tensor]


def _length(x: tf.Tensor) -> Length:
  """Static last-axis length when known, else a scalar int32 tensor."""
  static = x.shape[-1]
  return int(static) if static is not None else tf.shape(x)[-1]


def rfft_parts(x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Real and imaginary parts of `rfft(x)` over the last axis.

  Args:
    x: `[batch, N]` float32.
  Returns:
    `(re, im)`, each `[batch, N // 2 + 1]` float32.
  """
  spectrum = tf.signal.rfft(x)
  return tf.math.real(spectrum), tf.math.imag(spectrum)


def irfft_builtin(re: tf.Tensor, im: tf.Tensor) -> tf.Tensor:
  """Inverse real FFT through one forward real FFT (see module docstring).

  Args:
    re, im: `[batch, N / 2 + 1]` float32, the half-spectrum of an even-length
      real signal (imaginary parts of bins 0 and N/2 are ignored).
  Returns:
    `[batch, N]` float32, equal to `tf.signal.irfft(tf.complex(re, im))`.
  """
  a_mid, b_mid = re[:, 1:-1], im[:, 1:-1]
  rearranged = tf.concat(
      [re[:, :1], a_mid + b_mid, re[:, -1:], tf.reverse(a_mid - b_mid, [1])],
      axis=1)                                          # [batch, N]
  f_re, f_im = rfft_parts(rearranged)                  # [batch, N/2 + 1]
  n = 2 * (_length(re) - 1)
  scale = 1.0 / tf.cast(n, tf.float32) if isinstance(n, tf.Tensor) else 1.0 / n
  first = f_re + f_im                                  # N x[0 .. N/2]
  second = tf.reverse((f_re - f_im)[:, 1:-1], [1])     # N x[N/2+1 .. N-1]
  return tf.concat([first, second], axis=1) * scale


def merge_bands_builtin(bands: Sequence[tf.Tensor],
                        config: VocoderConfig) -> tf.Tensor:
  """Builtin-op twin of `dsp.merge_bands` (same bins, same scaling).

  Band k (M = N / 2**k samples) contributes its own rFFT bins
  (`band_bins`: [M/4, M/2), band 0 also its Nyquist bin M/2, the last band
  [0, M/2)), scaled by 2**k, at the same bin indices of the N-point
  spectrum; the bands' bin ranges are disjoint and contiguous, so the full
  half-spectrum is their concatenation, lowest band first.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]` float32, largest first;
      static or dynamic lengths.
  Returns:
    `[batch, N]` float32 audio at `config.sample_rate`.
  """
  bands = [tf.convert_to_tensor(b, tf.float32) for b in bands]
  check_band_lengths(bands, config, "merge_bands_builtin")
  re_parts, im_parts = [], []
  for k in range(config.n_bands - 1, -1, -1):        # ascending frequency
    re, im = rfft_parts(bands[k])
    start, stop = band_bins(k, _length(bands[k]), config)
    scale = float(2 ** k)
    re_parts.append(re[:, start:stop] * scale)
    im_parts.append(im[:, start:stop] * scale)
  return irfft_builtin(tf.concat(re_parts, axis=1), tf.concat(im_parts, axis=1))


def check_tflite_length(num_samples: int, config: VocoderConfig) -> None:
  """Raises unless every band of an N-sample chunk has a power-of-two length.

  TFLite's RFFT2D kernel only takes power-of-two FFT sizes.
  """
  lengths = [num_samples // 2 ** k for k in range(config.n_bands)]
  bad = [m for m in lengths if m < 4 or m & (m - 1)]
  if num_samples % 2 ** config.n_bands or bad:
    raise ValueError(
        f"a TFLite band merge over {num_samples} samples needs every band "
        f"length ({lengths}) to be a power of two >= 4; choose a chunk of "
        f"2**j frames with a power-of-two hop_length "
        f"(hop_length={config.hop_length})")


def merge_macs_per_second(num_samples: int, config: VocoderConfig) -> float:
  """Estimated real multiply-adds per audio second of the builtin merge.

  Counts a real FFT of M points as (M / 2) log2(M) complex butterflies of
  one complex multiply-add (4 real MACs) each, i.e. 2 M log2 M; FFTs of
  every band plus one N-point inverse, for chunks of `num_samples`.
  """
  def fft(m):
    return 2.0 * m * math.log2(m)
  per_chunk = sum(fft(num_samples // 2 ** k) for k in range(config.n_bands))
  per_chunk += fft(num_samples) + 4.0 * num_samples   # inverse + rearranging
  return per_chunk * config.sample_rate / num_samples


# ---------------------------------------------------------------------------
# Smooth-edged merge (the local part of the streamed merge)
# ---------------------------------------------------------------------------
def edge_bins(num_samples: Length, config: VocoderConfig,
              transition_hz: float = EDGE_TRANSITION_HZ) -> Length:
  """Bins J of an N-point spectrum covering `transition_hz` (ceil)."""
  if isinstance(num_samples, int):
    return int(math.ceil(transition_hz * num_samples / config.sample_rate))
  j = tf.math.ceil(transition_hz * tf.cast(num_samples, tf.float32)
                   / config.sample_rate)
  return tf.cast(j, tf.int32)


def _smooth_segment(band: tf.Tensor, k: int, j_edge: Length,
                    config: VocoderConfig):
  """Band k's spectrum at full-rate bins [start, stop) for the smooth merge.

  Its own bins (`band_bins`), continued J bins across each inner edge: below
  its lower edge by its own aliased bins, past its own Nyquist by their
  mirror image.

  Args:
    band: `[batch, M]` float32, M = N / 2**k.
    j_edge: J, bins of the N-point spectrum per `transition_hz`.
  Returns:
    `(re, im, start, stop)`: re, im `[batch, stop - start]` float32.
  """
  re, im = rfft_parts(band)
  low, high = band_bins(k, _length(band), config)
  start = low if k == config.n_bands - 1 else low - j_edge
  parts_re, parts_im = [re[:, start:high]], [im[:, start:high]]
  stop = high
  if k > 0:                         # an inner edge at the band's own Nyquist
    parts_re.append(tf.reverse(re[:, high - j_edge:high + 1], [1]))
    parts_im.append(-tf.reverse(im[:, high - j_edge:high + 1], [1]))
    stop = high + 1 + j_edge
  return tf.concat(parts_re, 1), tf.concat(parts_im, 1), start, stop


def merge_bands_smooth(bands: Sequence[tf.Tensor], config: VocoderConfig,
                       transition_hz: float = EDGE_TRANSITION_HZ) -> tf.Tensor:
  """Band merge with smooth crossovers, builtin ops only.

  Like `merge_bands_builtin`, but band k's full-rate spectrum (its own bins,
  continued past its own Nyquist by their mirror image and below its lower
  edge by its own aliased bins) is weighted by `smooth_gain` instead of
  the brick-wall mask. Its kernel is short (~ 1 / transition_hz), so it is
  computed exactly on overlapping windows;
  `tfvocoder.inference.edge_correction.EdgeCorrection` adds back the
  brick-wall minus smooth difference, which lives within `transition_hz` of
  the edges, to recover `dsp.merge_bands` exactly.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]`, largest first.
  Returns:
    `[batch, N]` float32.
  """
  bands = [tf.convert_to_tensor(b, tf.float32) for b in bands]
  check_band_lengths(bands, config, "merge_bands_smooth")
  n = _length(bands[0])
  j_edge = edge_bins(n, config, transition_hz)
  half = n // 2 + 1
  bin_hz = config.sample_rate / tf.cast(n, tf.float32) if isinstance(
      n, tf.Tensor) else config.sample_rate / n
  total_re = total_im = None
  for k, band in enumerate(bands):
    seg_re, seg_im, start, stop = _smooth_segment(band, k, j_edge, config)
    freqs = tf.cast(tf.range(start, stop), tf.float32) * bin_hz
    gain = smooth_gain(freqs, k, config, transition_hz,
                       clip=tf.clip_by_value, sin=tf.sin) * float(2 ** k)
    pad = [[0, 0], [start, half - stop]]
    seg_re = tf.pad(seg_re * gain, pad)
    seg_im = tf.pad(seg_im * gain, pad)
    total_re = seg_re if total_re is None else total_re + seg_re
    total_im = seg_im if total_im is None else total_im + seg_im
  return irfft_builtin(total_re, total_im)
