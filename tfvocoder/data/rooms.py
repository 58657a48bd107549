"""Rooms and microphones for the synthetic music (numpy only).

`room_impulse` is a synthetic reverb: a few early reflections, then
exponentially decaying noise whose high band (above `crossover_hz`) may
decay faster (air and wall absorption). `mic_gain` is a gentle EQ: a tilt
in dB per octave around 1 kHz, one broad bell and a 25 Hz high-pass.
`apply_room` mixes dry + wet and colours the result in one FFT.
"""

from typing import Optional

import numpy as np

from tfvocoder.data import synth
from tfvocoder.data.synth import DB60

TILT_PIVOT_HZ = 1000.0


def room_impulse(rt60: float, rate: int, rng: np.random.Generator,
                 hf_ratio: float = 1.0, crossover_hz: float = 2000.0,
                 early: bool = True) -> np.ndarray:
  """A room's wet impulse response, unit energy.

  Args:
    rt60: time for the (low band's) tail to decay by 60 dB, s.
    rate: Hz.
    rng: draws the noise and the reflections.
    hf_ratio: the high band's RT60 / `rt60` (<= 1: darker late tail).
    crossover_hz: where the bands split, Hz.
    early: add 4-9 early reflections in the first 5-50 ms.
  Returns:
    float64 `[round(1.1 * rt60 * rate)]`.
  """
  n = synth.samples(1.1 * rt60, rate)
  t = synth.times(n, rate)
  spectrum = np.fft.rfft(rng.standard_normal(n))
  low = synth.band_gain(np.fft.rfftfreq(n, 1.0 / rate), None, crossover_hz, 4)
  high = np.sqrt(np.maximum(1.0 - low ** 2, 0.0))
  tail = (np.fft.irfft(spectrum * low, n) * np.exp(-DB60 * t / rt60)
          + np.fft.irfft(spectrum * high, n)
          * np.exp(-DB60 * t / (rt60 * hf_ratio)))
  tail *= 1.0 - np.exp(-t / 0.01)   # the diffuse field builds up
  if early:
    for _ in range(int(rng.integers(4, 10))):
      i = min(n - 1, int(rng.uniform(0.005, 0.05) * rate))
      tail[i] += rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 6.0) * np.exp(
          -DB60 * i / rate / rt60)
  return tail / np.sqrt(np.sum(tail ** 2))


def mic_gain(freqs: np.ndarray, tilt_db: float, bell_hz: float = 3000.0,
             bell_db: float = 0.0, highpass_hz: float = 25.0) -> np.ndarray:
  """`[len(freqs)]` linear gain: `tilt_db` dB/octave around 1 kHz, a
  one-octave-wide bell of `bell_db` dB at `bell_hz`, a 2nd-order high-pass."""
  octaves = np.log2(np.maximum(freqs, 20.0) / TILT_PIVOT_HZ)
  bell = bell_db * np.exp(-0.5 * (np.log2(np.maximum(freqs, 1.0) / bell_hz)
                                  / 0.5) ** 2)
  return (10.0 ** ((tilt_db * octaves + bell) / 20.0)
          * synth.band_gain(freqs, highpass_hz, None, 2))


def _draw(value: Optional[float], low: float, high: float,
          rng: np.random.Generator) -> float:
  return rng.uniform(low, high) if value is None else value


def apply_room(dry: np.ndarray, rate: int, rng: np.random.Generator,
               rt60: Optional[float] = None, wet: Optional[float] = None,
               tilt_db: Optional[float] = None) -> np.ndarray:
  """Dry + `wet` x reverb, through the mic EQ; same length as `dry`.

  Args:
    dry: `[n]` the mix.
    rate: Hz.
    rng: draws what is None and the room's noise.
    rt60: s (None: 0.2-1.5).
    wet: reverb gain, the dry signal's is 1 - wet / 2 (None: 0.1-0.6).
    tilt_db: mic tilt, dB/octave (None: -1..1).
  Returns:
    `[n]` float64.
  """
  rt60 = _draw(rt60, 0.2, 1.5, rng)
  wet = _draw(wet, 0.1, 0.6, rng)
  tilt_db = _draw(tilt_db, -1.0, 1.0, rng)
  impulse = room_impulse(rt60, rate, rng, hf_ratio=rng.uniform(0.4, 1.0))
  predelay = np.zeros(int(rng.uniform(0.005, 0.03) * rate))
  impulse = np.concatenate([predelay, impulse])
  size = 1 << int(np.ceil(np.log2(len(dry) + len(impulse))))
  spectrum = np.fft.rfft(dry, size)
  mixed = spectrum * ((1.0 - wet / 2) + wet * np.fft.rfft(impulse, size))
  gain = mic_gain(np.fft.rfftfreq(size, 1.0 / rate), tilt_db,
                  bell_hz=rng.uniform(1500, 6000), bell_db=rng.uniform(-3, 3))
  return np.fft.irfft(mixed * gain, size)[:len(dry)]
