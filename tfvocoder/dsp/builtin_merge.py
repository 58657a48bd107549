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
(`smooth_gain`) instead of brick walls at the inner band edges: the local
part of the streamed merge (`tfvocoder.inference.streaming_merge`).

Shapes: bands are a list of `n_bands` tensors `[batch, N / 2**k]`, largest
band (highest rate) first; audio `[batch, N]` float32 at `sample_rate` Hz.
"""

import math
from typing import List, Sequence, Tuple, Union

import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp.bands import EDGE_TRANSITION_HZ

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


def _check_band_lengths(bands: Sequence[tf.Tensor], config: VocoderConfig):
  if len(bands) != config.n_bands:
    raise ValueError(f"merge_bands_builtin expects {config.n_bands} bands, "
                     f"got {len(bands)}")
  n = bands[0].shape[-1]
  if n is None:
    return
  n = int(n)
  if n % 2 ** config.n_bands:
    raise ValueError(f"band merge needs a length divisible by 2**n_bands = "
                     f"{2 ** config.n_bands}; got {n} samples")
  for k, band in enumerate(bands):
    m = band.shape[-1]
    if m is not None and int(m) * 2 ** k != n:
      raise ValueError(f"band {k} has {m} samples; expected {n // 2 ** k} "
                       f"(= {n} / 2**{k})")


def merge_bands_builtin(bands: Sequence[tf.Tensor],
                        config: VocoderConfig) -> tf.Tensor:
  """Builtin-op twin of `dsp.merge_bands` (same bins, same scaling).

  Band k (M = N / 2**k samples) contributes its own rFFT bins [M/4, M/2)
  (band 0 also its Nyquist bin M/2; the last band [0, M/2)), scaled by
  2**k, at the same bin indices of the N-point spectrum; the bands' bin
  ranges are disjoint and contiguous, so the full half-spectrum is their
  concatenation, lowest band first.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]` float32, largest first;
      static or dynamic lengths.
  Returns:
    `[batch, N]` float32 audio at `config.sample_rate`.
  """
  bands = [tf.convert_to_tensor(b, tf.float32) for b in bands]
  _check_band_lengths(bands, config)
  last = config.n_bands - 1
  re_parts, im_parts = [], []
  for k in range(last, -1, -1):                      # ascending frequency
    re, im = rfft_parts(bands[k])
    m = _length(bands[k])
    start = 0 if k == last else m // 4
    stop = m // 2 + (1 if k == 0 else 0)
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


def band_lengths(num_frames: int, config: VocoderConfig) -> List[int]:
  """Samples of each band for `num_frames` mel frames, largest band first."""
  return [num_frames * hop for hop in config.band_hops]


# ---------------------------------------------------------------------------
# Smooth-edged merge (the local part of the streamed merge)
# ---------------------------------------------------------------------------
def smooth_gain(freq_hz, band: int, config: VocoderConfig,
                transition_hz: float = EDGE_TRANSITION_HZ):
  """Band `band`'s smooth mask S at full-rate frequencies (Hz), tf ops.

  S is 1 inside the band's range, 0 outside, and crosses each inner edge f_e
  as `0.5 (1 + sin(pi/2 x))`, x = +-(f - f_e) / transition_hz clipped to
  [-1, 1] (C^1, so its kernel decays like 1/t^3). The band's outer edges
  at 0 Hz and at sample_rate / 2 are not edges (the spectrum continues
  into its mirror image there). Same formula as `band_edges.smooth_gain`.
  """
  low, high = config.band_edges_hz[band]
  gain = tf.ones_like(freq_hz)
  half_pi = math.pi / 2
  if band < config.n_bands - 1:
    x = tf.clip_by_value((freq_hz - low) / transition_hz, -1.0, 1.0)
    gain *= 0.5 * (1.0 + tf.sin(half_pi * x))
  if band > 0:
    x = tf.clip_by_value((high - freq_hz) / transition_hz, -1.0, 1.0)
    gain *= 0.5 * (1.0 + tf.sin(half_pi * x))
  return gain


def edge_bins(num_samples: Length, config: VocoderConfig,
              transition_hz: float = EDGE_TRANSITION_HZ) -> Length:
  """Bins J of an N-point spectrum covering `transition_hz` (ceil)."""
  if isinstance(num_samples, int):
    return int(math.ceil(transition_hz * num_samples / config.sample_rate))
  j = tf.math.ceil(transition_hz * tf.cast(num_samples, tf.float32)
                   / config.sample_rate)
  return tf.cast(j, tf.int32)


def merge_bands_smooth(bands: Sequence[tf.Tensor], config: VocoderConfig,
                       transition_hz: float = EDGE_TRANSITION_HZ) -> tf.Tensor:
  """Band merge with smooth crossovers, builtin ops only.

  Like `merge_bands_builtin`, but band k's full-rate spectrum (its own bins,
  continued past its own Nyquist by their mirror image and below its lower
  edge by its own aliased bins) is weighted by `smooth_gain` instead of
  the brick-wall mask. Its kernel is short (~ 1 / transition_hz), so it is
  computed exactly on overlapping windows; `band_edges.EdgeCorrection`
  adds back the brick-wall minus smooth difference, which lives within
  `transition_hz` of the edges, to recover `dsp.merge_bands` exactly.

  Args:
    bands: `n_bands` tensors `[batch, N / 2**k]`, largest first.
  Returns:
    `[batch, N]` float32.
  """
  bands = [tf.convert_to_tensor(b, tf.float32) for b in bands]
  _check_band_lengths(bands, config)
  n = _length(bands[0])
  j_edge = edge_bins(n, config, transition_hz)
  half = n // 2 + 1
  bin_hz = config.sample_rate / tf.cast(n, tf.float32) if isinstance(
      n, tf.Tensor) else config.sample_rate / n
  last = config.n_bands - 1
  total_re = total_im = None
  for k, band in enumerate(bands):
    re, im = rfft_parts(band)
    m = _length(band)
    start = 0 if k == last else m // 4 - j_edge          # full-rate bin
    parts_re, parts_im = [re[:, start:m // 2]], [im[:, start:m // 2]]
    if k == 0:                                            # full-rate Nyquist
      parts_re.append(re[:, m // 2:])
      parts_im.append(im[:, m // 2:])
    else:                                                 # mirror past M/2
      parts_re.append(tf.reverse(re[:, m // 2 - j_edge:m // 2 + 1], [1]))
      parts_im.append(-tf.reverse(im[:, m // 2 - j_edge:m // 2 + 1], [1]))
    seg_re, seg_im = tf.concat(parts_re, 1), tf.concat(parts_im, 1)
    stop = m // 2 + 1 + (0 if k == 0 else j_edge)          # full-rate bins
    freqs = tf.cast(tf.range(start, stop), tf.float32) * bin_hz
    gain = smooth_gain(freqs, k, config, transition_hz) * float(2 ** k)
    pad = [[0, 0], [start, half - stop]]
    seg_re = tf.pad(seg_re * gain, pad)
    seg_im = tf.pad(seg_im * gain, pad)
    total_re = seg_re if total_re is None else total_re + seg_re
    total_im = seg_im if total_im is None else total_im + seg_im
  return irfft_builtin(total_re, total_im)
