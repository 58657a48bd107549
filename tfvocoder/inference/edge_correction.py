"""The global part of the one-shot band merge, computed in a streaming pass.

`dsp.merge_bands` keeps each band's bins with a brick wall over the whole
input (T frames, N = T * hop samples): an ideal filter whose kernel decays
only like 1/t, so no fixed window reproduces it near a band edge (and the
generators do put energy right at the edges). Split the brick wall P of
band k (its `dsp.bands.band_bins`) into the smooth mask S of
`dsp.builtin_merge.merge_bands_smooth` (`dsp.bands.smooth_gain`), whose
short kernel is computed exactly on overlapping windows, plus E = P - S,
which is non-zero only within `transition_hz` of the band's inner edges:

  one_shot = smooth_merge + sum over edges e of c_e,
  c_e(n) = 2 Re[exp(2 pi i j_e n / N) beta_e(n / hop)],
  beta_e(t) = (1/M) sum_{|d| <= J} E[j_e + d] X_k[j_e + d] exp(2 pi i d t / T),

with j_e the edge's full-rate bin (N / 2**(k+2) or N / 2**(k+1)), X_k the
DFT of band k over the whole input (M = N / 2**k samples) and J bins the
width of E. beta_e is band-limited to +-transition_hz, well below half the
mel frame rate, so one complex sample per frame carries it exactly:

1. while the bands stream by (`feed`), demodulate band k by the edge,
   low-pass it (Kaiser-windowed sinc, circular over the input: `prime`
   with the input's last samples, `finish` with its first) and keep one
   sample per frame, z_e[q];
2. `finish`: beta_e[q] = ifft(E Z), Z = fft(z_e) (the low-pass is flat to
   1e-4 over E's bins and its aliases are 80 dB down);
3. `correction(first, stop)`: beta_e interpolated to the sample rate
   (windowed sinc) and modulated, for any block of frames.

State: a few complex numbers per frame and edge (kilobytes per minute).
"""

import math
from typing import List, Sequence

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp.bands import EDGE_TRANSITION_HZ, band_bins, smooth_gain

_ATTENUATION_DB = 80.0
_KAISER_BETA = 0.1102 * (_ATTENUATION_DB - 8.7)


def _kaiser(x: np.ndarray) -> np.ndarray:
  """Kaiser window on x in [-1, 1] (0 outside)."""
  inside = np.abs(x) <= 1
  arg = np.sqrt(np.clip(1 - x ** 2, 0, None))
  return np.where(inside, np.i0(_KAISER_BETA * arg) / np.i0(_KAISER_BETA), 0)


_BLAS = []   # a threadpoolctl controller, once created


def _matmul_sum(pairs) -> np.ndarray:
  """sum of a @ b over (a, b) pairs, on one BLAS thread: OpenBLAS's idle
  worker threads keep spinning after a call and would steal the cores the
  TFLite interpreter runs on. (threadpoolctl comes with librosa's
  scikit-learn; without it, einsum.)"""
  if not _BLAS:
    try:  # optional: threadpoolctl may be missing (see above)
      from threadpoolctl import ThreadpoolController
      _BLAS.append(ThreadpoolController())
    except ImportError:
      _BLAS.append(None)
  if _BLAS[0] is None:
    return sum(np.einsum("ij,jk->ik", a, b, optimize=False) for a, b in pairs)
  with _BLAS[0].limit(limits=1, user_api="blas"):
    return sum(a @ b for a, b in pairs)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """a @ b on one BLAS thread (`_matmul_sum`)."""
  return _matmul_sum([(a, b)])


def _decimating_filter(x: np.ndarray, start: int, count: int, hop: int,
                       taps: np.ndarray) -> np.ndarray:
  """`[count, columns]`: row q is `x[start + q hop :][:len(taps)] @ taps`
  (`taps` `[length, columns]`), as `ceil(length / hop)` GEMMs over `x`
  cut into rows of `hop` samples (no copy of the overlapping windows)."""
  blocks = -(-len(taps) // hop)
  taps = np.pad(taps, [[0, blocks * hop - len(taps)], [0, 0]])
  segment = x[start:start + (count + blocks - 1) * hop]
  segment = np.pad(segment, [0, (count + blocks - 1) * hop - len(segment)])
  rows = segment.reshape(count + blocks - 1, hop)
  return _matmul_sum((rows[b:b + count], taps[b * hop:(b + 1) * hop])
                     for b in range(blocks))


def _half_length(transition: float) -> int:
  """Half-length of a Kaiser FIR with `transition` cycles/sample width."""
  taps = (_ATTENUATION_DB - 8) / (2.285 * 2 * np.pi * transition)
  return int(math.ceil(taps / 2)) + 1


def _width(config: VocoderConfig, transition_hz: float) -> float:
  """Transition width of the low-passes, cycles per frame: their cut-off is
  half the frame rate and E's bins reach transition_hz from the edge."""
  return 1.0 - 2.0 * transition_hz / config.frame_rate


def _filter_halves(config: VocoderConfig, transition_hz: float) -> List[int]:
  """Half-lengths (samples) of each band's demodulating low-pass."""
  width = _width(config, transition_hz)
  return [_half_length(width / hop) for hop in config.band_hops]


def edge_context_frames(config: VocoderConfig,
                        transition_hz: float = EDGE_TRANSITION_HZ) -> int:
  """Frames of bands on each side of a block the edge filters need."""
  return max(-(-half // hop) for half, hop in zip(
      _filter_halves(config, transition_hz), config.band_hops)) + 1


class EdgeCorrection:
  """Streams the edge part of the one-shot merge of a `total_frames` input.

  Call `prime(tail)`, `feed(block)` for consecutive blocks of bands from
  frame 0 to the end, `finish(head)`, then `correction(first, stop)`.
  tail/head: the bands of the input's last / first frames (at least
  `context_frames` of them). Band arrays are 1-D, largest band first.
  """

  def __init__(self, config: VocoderConfig, total_frames: int,
               transition_hz: float = EDGE_TRANSITION_HZ):
    self.config = config
    self.frames = int(total_frames)
    frame_rate = config.frame_rate
    if not 0 < transition_hz < frame_rate / 4:
      raise ValueError(f"transition_hz={transition_hz} must be in (0, frame "
                       f"rate / 4 = {frame_rate / 4:.1f})")
    self.transition_hz = transition_hz
    n = self.frames * config.hop_length
    self.bins = int(math.ceil(transition_hz * n / config.sample_rate))   # J
    # (band, full-rate bin of the edge, is the band's own Nyquist)
    self.edges = []
    for k in range(config.n_bands):
      low, high = band_bins(k, n // 2 ** k, config)
      if k < config.n_bands - 1:
        self.edges.append((k, low, False))
      if k > 0:
        self.edges.append((k, high, True))
    self.half = _filter_halves(config, transition_hz)
    self.filters = []
    for hop, half in zip(config.band_hops, self.half):
      taps = np.arange(-half, half + 1)
      h = np.sinc(taps / hop) * _kaiser(taps / (half + 1))
      self.filters.append(h / h.sum())
    self.context_frames = edge_context_frames(config, transition_hz)
    self.interp_half = _half_length(_width(config, transition_hz)) + 1
    self._z = [np.zeros(self.frames, np.complex128) for _ in self.edges]
    self._next = [0] * config.n_bands                   # next frame per band
    self._buffer = [np.zeros(0, np.float32) for _ in config.band_hops]
    self._start = [0] * config.n_bands                  # sample of buffer[0]
    self._beta = self._beta_frames = self._weights = None
    self._kernel = None
    self._demodulator_cache = {}

  # --- pass 1 --------------------------------------------------------------
  def prime(self, tail: Sequence[np.ndarray]) -> None:
    """The bands of the input's last frames (what precedes frame 0)."""
    for k, half in enumerate(self.half):
      if len(tail[k]) < half:
        raise ValueError(f"prime needs {half} samples of band {k}")
      self._buffer[k] = np.asarray(tail[k][len(tail[k]) - half:], np.float32)
      self._start[k] = -half

  def feed(self, block: Sequence[np.ndarray]) -> None:
    """The next consecutive bands (whole frames), from frame 0 on."""
    for k, x in enumerate(block):
      self._buffer[k] = np.concatenate([self._buffer[k],
                                        np.asarray(x, np.float32)])
      self._drain(k)

  def finish(self, head: Sequence[np.ndarray]) -> None:
    """The bands of the input's first frames (what follows its end)."""
    for k, half in enumerate(self.half):
      self._buffer[k] = np.concatenate(
          [self._buffer[k], np.asarray(head[k][:half], np.float32)])
      self._drain(k)
      if self._next[k] != self.frames:
        raise ValueError(f"band {k}: fed {self._next[k]} of {self.frames} "
                         "frames")
    self._beta = [self._envelope(i) for i in range(len(self.edges))]
    self._beta_frames = np.stack(self._beta, axis=1).astype(np.complex64)
    self._weights = self._correction_weights()

  def feed_periodic(self, bands: Sequence[np.ndarray]) -> None:
    """All bands of the input at once (any length): prime, feed, finish."""
    tails, heads = [], []
    for k, half in enumerate(self.half):
      m = len(bands[k])
      tails.append(np.take(bands[k], np.arange(-half, 0) % m))
      heads.append(np.take(bands[k], np.arange(half) % m))
    self.prime(tails)
    self.feed(bands)
    self.finish(heads)

  def _drain(self, k: int) -> None:
    hop, half, x = self.config.band_hops[k], self.half[k], self._buffer[k]
    last = min((self._start[k] + len(x) - 1 - half) // hop, self.frames - 1)
    first = self._next[k]
    if last < first:
      return
    edges = [i for i, (band, _, _) in enumerate(self.edges) if band == k]
    z = _decimating_filter(x, first * hop - half - self._start[k],
                           last + 1 - first, hop,
                           self._demodulators(k, edges))  # sum g(l) x(m-l)
    samples = np.arange(first, last + 1) * hop           # m_q
    for column, i in enumerate(edges):
      own = 0.5 if self.edges[i][2] else 0.25            # cycles / sample
      value = z[:, 2 * column] + 1j * z[:, 2 * column + 1]
      self._z[i][first:last + 1] = value * np.exp(-2j * np.pi * own * samples)
    self._next[k] = last + 1
    keep = (last + 1) * hop - half - self._start[k]
    self._buffer[k] = x[keep:]
    self._start[k] += keep

  def _demodulators(self, k: int, edges: List[int]) -> np.ndarray:
    """[taps, 2 * len(edges)]: real and imaginary parts of each edge's
    modulated low-pass g(l) = h(l) exp(2 pi i f_e l), taps reversed."""
    cache = self._demodulator_cache
    if k not in cache:
      half = self.half[k]
      taps = np.arange(-half, half + 1)
      columns = []
      for i in edges:
        own = 0.5 if self.edges[i][2] else 0.25
        g = (self.filters[k] * np.exp(2j * np.pi * own * taps))[::-1]
        columns += [g.real, g.imag]
      cache[k] = np.stack(columns, axis=1).astype(np.float32)
    return cache[k]

  def _envelope(self, i: int) -> np.ndarray:
    """beta_e on the frame grid (see the module docstring)."""
    band, j_edge, _ = self.edges[i]
    config, t = self.config, self.frames
    n = t * config.hop_length
    d = np.rint(np.fft.fftfreq(t) * t).astype(np.int64)   # signed bins
    j = j_edge + d
    low, high = band_bins(band, n // 2 ** band, config)
    brick = (j >= low) & (j < high)
    smooth = smooth_gain(j * config.sample_rate / n, band, config,
                         self.transition_hz)
    e = np.where(np.abs(d) <= self.bins, brick - smooth, 0.0)
    # The low-pass is flat to 1e-4 over E's bins: no compensation needed.
    return np.fft.ifft(e * np.fft.fft(self._z[i]))

  # --- pass 2 --------------------------------------------------------------
  def correction(self, first: int, stop: int) -> np.ndarray:
    """float32 `[(stop - first) * hop]`: the edge part for frames
    [first, stop) of the one-shot merge."""
    if self._beta is None:
      raise RuntimeError("EdgeCorrection.finish() has not been called")
    hop, p = self.config.hop_length, self.interp_half
    frames = stop - first
    index = np.arange(first - p, stop + p) % self.frames
    beta = self._beta_frames[index]                      # [f + 2p, edges]
    windows = np.lib.stride_tricks.sliding_window_view(beta, 2 * p + 1, 0)
    parts = np.concatenate([windows.real, windows.imag], axis=1)
    if self._weights is not None:    # carriers the same in every frame
      return _matmul(parts.reshape(frames, -1), self._weights).reshape(-1)
    envelope = _matmul(parts.reshape(-1, 2 * p + 1), self._interpolator())
    envelope = envelope.reshape(frames, parts.shape[1], hop)  # beta(n / hop)
    samples = (first * hop + np.arange(frames * hop)).reshape(frames, 1, hop)
    return np.sum(envelope * self._carriers(samples), axis=1).reshape(-1)

  def _carriers(self, samples: np.ndarray) -> np.ndarray:
    """2 cos (real rows) and -2 sin (imaginary rows) of each edge's carrier
    at `samples` `[..., 1, n]` -> float32 `[..., 2 * edges, n]`."""
    periods = np.array([self.frames * self.config.hop_length // j
                        for _, j, _ in self.edges])[:, None]
    phase = 2 * np.pi * (samples % periods) / periods
    return np.concatenate([2 * np.cos(phase), -2 * np.sin(phase)],
                          axis=-2).astype(np.float32)

  def _correction_weights(self):
    """`[2 * edges * (2p + 1), hop]` float32: the interpolator times each
    edge's carrier, W[(c, t), s] = K[t, s] carrier_c(s), when every carrier
    period divides the hop (then one GEMM per block does interpolation,
    modulation and the sum over edges); else None."""
    hop = self.config.hop_length
    periods = [self.frames * hop // j for _, j, _ in self.edges]
    if any(hop % period for period in periods):
      return None
    carriers = self._carriers(np.arange(hop)[None, :])   # [2 edges, hop]
    kernel = self._interpolator().astype(np.float32)     # [2p + 1, hop]
    return (carriers[:, None, :] * kernel[None]).reshape(-1, hop)

  def _interpolator(self) -> np.ndarray:
    """Windowed-sinc weights from frame-rate samples to each sample offset."""
    if self._kernel is None:
      hop, p = self.config.hop_length, self.interp_half
      tau = np.arange(hop)[None, :] / hop - (np.arange(2 * p + 1) - p)[:, None]
      self._kernel = np.sinc(tau) * _kaiser(tau / (p + 1))
    return self._kernel
