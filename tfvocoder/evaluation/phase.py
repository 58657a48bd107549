"""Cross-band phase coherence of vocoded audio (`phase_coherence`).

The group-delay (cross-bin STFT phase increment) error of fake against real
within `PHASE_EDGE_HZ` of each internal band edge, minus the same error
beside it, in radians: where independently generated bands meet, their
phases must line up. Conventions (STFT, bands, silence, the returned dict)
are those of `tfvocoder.evaluation.metrics`.
"""

from typing import Optional

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation.metrics import (ENERGY_FLOOR, Distance, audio_pair,
                                          internal_edges_hz, stft)

PHASE_FFT = 2048            # samples; 10.8 Hz bins at 22 050 Hz
PHASE_EDGE_HZ = 40.0        # half-width of the zone around each band edge


def _group_delay_errors(real: np.ndarray, fake: np.ndarray, n_fft: int):
  """Weight and group-delay error of every STFT bin pair, fake against real.

  With X = STFT (n_fft samples, hop n_fft / 4), the cross-bin phase
  increment of bins k, k + 1 at frame t is D[t, k] = X[t, k+1] conj(X[t, k])
  (its angle is minus the group delay times the bin spacing: it says *when*
  the energy sits in the frame, not the absolute phase of a partial). The
  error of a bin pair is the wrapped angle difference
  e[t, k] = |angle(D_fake[t, k] conj(D_real[t, k]))| in [0, pi] radians
  (pi / 2, the mean of a random phase, where the fake pair is silent); its
  weight is the real pair's magnitude |D_real[t, k]|^(1/2) (geometric mean
  of the two bins' |X|): the same weights for every system. Pairs more than
  100 dB (`ENERGY_FLOOR`) below the loudest pair count as silent, in either
  signal (weight 0 in the real one).

  Args:
    real, fake: float64 `[samples]`, the same length.
    n_fft: STFT size, samples.
  Returns:
    (weight, error): float64 `[frames, n_fft // 2]` each, error in radians.
  """
  xr, xf = stft(real, n_fft), stft(fake, n_fft)
  if not len(xr):
    raise ValueError(f"audio of {len(real)} samples is shorter than the "
                     f"{n_fft}-sample STFT window")
  dr = xr[:, 1:] * np.conj(xr[:, :-1])
  df = xf[:, 1:] * np.conj(xf[:, :-1])
  weight = np.abs(dr)
  weight[weight <= weight.max(initial=0.0) * ENERGY_FLOOR] = 0.0
  silent = np.abs(df) <= np.abs(df).max(initial=0.0) * ENERGY_FLOOR
  err = np.where(silent, np.pi / 2, np.abs(np.angle(df * np.conj(dr))))
  return np.sqrt(weight), err


def _edge_zones(pairs: int, config: VocoderConfig, n_fft: int,
                edge_hz: float):
  """The bin pairs near each internal band edge, and beside it.

  With m a pair's midpoint (k + 1/2) sample_rate / n_fft and e an internal
  band edge (`internal_edges_hz`), the pair is in e's edge zone when
  |m - e| <= `edge_hz`, and in e's flanks when `edge_hz` < |m - e| <=
  3 `edge_hz`: frequencies as hard to vocode as the edge, but inside one
  band.

  Args:
    pairs: bin pairs, `n_fft // 2`.
    config: gives the band edges and the sample rate.
    n_fft: STFT size, samples.
    edge_hz: half-width of an edge zone, Hz.
  Returns:
    (edges_hz, near, flank): the n_bands - 1 edges (highest first) and, per
    edge, bool masks `[pairs]` of its edge zone and of its flanks.
  """
  mid = (np.arange(pairs) + 0.5) * config.sample_rate / n_fft
  edges = internal_edges_hz(config)
  distance = [np.abs(mid - e) for e in edges]
  near = [d <= edge_hz for d in distance]
  flank = [(d > edge_hz) & (d <= 3 * edge_hz) for d in distance]
  return edges, near, flank


def _minus(a: Optional[float], b: Optional[float]) -> Optional[float]:
  return None if a is None or b is None else a - b


def phase_coherence(real: np.ndarray, fake: np.ndarray, config: VocoderConfig,
                    n_fft: int = PHASE_FFT,
                    edge_hz: float = PHASE_EDGE_HZ) -> Distance:
  """Cross-band phase coherence: group-delay error at band edges against
  the same error just beside them.

  Every STFT bin pair (n_fft samples, hop n_fft / 4) gets a group-delay
  error, weighted by the real pair's energy (`_group_delay_errors`); the
  pairs within `edge_hz` of an internal band edge form its edge zone, those
  `edge_hz` to 3 `edge_hz` from it its flanks (`_edge_zones`).

  Invariances: a constant phase offset of a partial, or a delay of a
  stationary signal of bin-centred partials, changes nothing; a delay of d
  samples of a lone click gives 2 pi d / n_fft everywhere. Bands generated
  with inconsistent phase (e.g. one band's spectrum rotated by a constant
  angle) raise the error of the pairs straddling their edges only.

  Returns (radians) {"overall": "edge" - "flank", the excess phase
  incoherence where bands meet,
  "edge" / "flank": mean error over every edge zone / every flank,
  "elsewhere": over every pair outside the edge zones (overall group-delay
  fidelity), "edges": per internal edge (highest first) its edge zone's
  error, "edges_excess": per edge, edge zone minus flanks, "edges_hz"}.
  Zones without energy give None (and so does a difference using them).
  The figures depend on the music too (partials near an edge), so read them
  against Griffin-Lim's on the same examples: a vocoder without bands. (The
  MelGAN upsampling ladder, x8 x8 x2 x2 from the frame rate, has its stage
  rates and Nyquists at the same frequencies, so it is not neutral.)
  """
  real, fake = audio_pair(real, fake)
  weight, err = _group_delay_errors(real, fake, n_fft)
  edges, near, flank = _edge_zones(weight.shape[1], config, n_fft, edge_hz)

  def mean(mask):
    w = weight[:, mask]
    total = float(w.sum())
    return float((w * err[:, mask]).sum() / total) if total > 0 else None
  none = np.zeros(weight.shape[1], bool)
  any_edge = np.any(near, axis=0) if near else none
  edge = mean(any_edge)
  flanks = mean(np.any(flank, axis=0) if flank else none)
  return {"overall": _minus(edge, flanks), "edge": edge, "flank": flanks,
          "elsewhere": mean(~any_edge),
          "edges": [mean(m) for m in near],
          "edges_excess": [_minus(mean(m), mean(f))
                           for m, f in zip(near, flank)],
          "edges_hz": edges}
