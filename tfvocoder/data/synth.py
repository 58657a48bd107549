"""Signal primitives of the synthetic music (numpy only).

Additive partials, band-limited noise, envelopes and vibrato: the pieces
that `instruments`, `drums` and `rooms` are built from. Every function
returns float64 and draws its randomness from the `rng` it is given.
"""

from typing import Optional

import numpy as np

# The highest partial kept, as a fraction of the sample rate (below Nyquist
# with a margin for vibrato and detuning).
PARTIAL_LIMIT = 0.48
DB60 = 3.0 * np.log(10.0)   # 6.91: exp(-DB60) is -60 dB


def samples(seconds: float, rate: int) -> int:
  """`seconds` as a sample count (at least 1)."""
  return max(1, int(round(seconds * rate)))


def times(n: int, rate: int, dtype=np.float64) -> np.ndarray:
  """`[n]` sample times, s."""
  return (np.arange(n) / rate).astype(dtype, copy=False)


def additive(phase: np.ndarray, ratios: np.ndarray, amps,
             rng: np.random.Generator) -> np.ndarray:
  """A sum of sines on a shared phase, each with a random start phase.

  Computed on each partial's fractional cycle in float32 (numpy's float32
  sin is vectorised, its float64 one several times slower; the wrap keeps
  float32 exact to ~1e-7 at any phase).

  Args:
    phase: `[n]` the fundamental's phase, rad (float64).
    ratios: `[P]` each partial's frequency / the fundamental's.
    amps: `[P]` constant amplitudes, or a list of P `[n]` (or scalar)
      amplitude envelopes (float32 is fastest).
    rng: draws the start phases.
  Returns:
    `[n]` float64, the sum.
  """
  n = len(phase)
  cycles = phase / (2 * np.pi)
  out = np.zeros(n, np.float32)
  x, whole = np.empty(n), np.empty(n)
  wave = np.empty(n, np.float32)
  for ratio, amp, offset in zip(ratios, amps, rng.uniform(0, 1, len(ratios))):
    np.multiply(cycles, ratio, out=x)
    x += offset
    np.floor(x, out=whole)
    x -= whole
    np.multiply(x, 2 * np.pi, out=wave)
    np.sin(wave, out=wave)
    wave *= np.asarray(amp, np.float32)
    out += wave
  return out.astype(np.float64)


def audible(ratios: np.ndarray, f0_max: float, rate: int) -> np.ndarray:
  """`[P]` bool: the partials whose highest frequency stays below the limit."""
  return np.asarray(ratios) * f0_max < PARTIAL_LIMIT * rate


def band_gain(freqs: np.ndarray, low_hz: Optional[float],
              high_hz: Optional[float], order: int = 2) -> np.ndarray:
  """Butterworth-like magnitude response of a band-pass, `[len(freqs)]`.

  `low_hz` None means no high-pass, `high_hz` None no low-pass.
  """
  gain = np.ones(len(freqs))
  safe = np.maximum(freqs, 1e-6)
  if low_hz is not None:
    gain /= np.sqrt(1.0 + (low_hz / safe) ** (2 * order))
  if high_hz is not None:
    gain /= np.sqrt(1.0 + (safe / high_hz) ** (2 * order))
  return gain


def noise(n: int, rate: int, rng: np.random.Generator,
          low_hz: Optional[float] = None, high_hz: Optional[float] = None,
          order: int = 2) -> np.ndarray:
  """`[n]` Gaussian noise band-limited in the FFT domain, unit RMS.

  Filtered at the next power of two (fast for any `n`), then cut to `n`.
  """
  size = 1 << int(np.ceil(np.log2(max(n, 2))))
  spectrum = np.fft.rfft(rng.standard_normal(size))
  spectrum *= band_gain(np.fft.rfftfreq(size, 1.0 / rate), low_hz, high_hz,
                        order)
  out = np.fft.irfft(spectrum, size)[:n]
  return out / max(np.sqrt(np.mean(out ** 2)), 1e-12)


def envelope(n: int, rate: int, attack: float, hold: float,
             release: float) -> np.ndarray:
  """`[n]` amplitude: a raised-cosine rise over `attack` s, 1 until `hold` s,
  then an exponential release reaching -60 dB after `release` s."""
  t = times(n, rate)
  x = np.minimum(t / max(attack, 1e-4), 1.0)
  rise = 0.5 - 0.5 * np.cos(np.pi * x)
  fall = np.exp(-DB60 * np.maximum(t - hold, 0.0) / max(release, 1e-4))
  return rise * fall


def vibrato_phase(f0: float, n: int, rate: int, vibrato_hz: float,
                  cents: float, delay: float,
                  rng: np.random.Generator) -> np.ndarray:
  """`[n]` phase, rad, of `f0` Hz with a sinusoidal vibrato.

  The pitch swings by +-`cents` at `vibrato_hz`, fading in over `delay` s
  (a player's delayed vibrato).
  """
  t = times(n, rate)
  depth = cents / 1200.0 * np.minimum(t / max(delay, 1e-3), 1.0)
  swing = np.sin(2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
  freq = f0 * 2.0 ** (depth * swing)
  return 2 * np.pi * np.cumsum(freq) / rate


def tremolo(n: int, rate: int, tremolo_hz: float, depth: float,
            rng: np.random.Generator) -> np.ndarray:
  """`[n]` gain 1 - depth * (1 + sin) / 2: an amplitude swing at `tremolo_hz`."""
  t = times(n, rate)
  swing = np.sin(2 * np.pi * tremolo_hz * t + rng.uniform(0, 2 * np.pi))
  return 1.0 - depth * 0.5 * (1.0 + swing)


def brightness_tilt(h: np.ndarray, velocity: float,
                    soft: float) -> np.ndarray:
  """`[P]` gain h^-(soft (1 - velocity)): softer notes lose high partials."""
  return np.asarray(h, float) ** (-soft * (1.0 - velocity))
