"""Percussion of the synthetic music (numpy only): sharp onsets.

Each renderer `name(velocity, rate, rng)` returns one hit, float64
`[samples]`, peak about `velocity`:

  kick      a sine swept down (150-200 Hz -> 50-65 Hz) plus a click
  boom      an orchestral bass drum: a slower, lower sweep, long decay
  tom       a shorter sweep from 90-260 Hz
  snare     a 180-220 Hz body plus a 1-9 kHz noise burst
  hat       closed hi-hat: noise above 6-8 kHz, -60 dB after 50-140 ms
  open_hat  the same, -60 dB after 0.5-1.2 s
  clap      three or four 1-3 kHz noise bursts 8-12 ms apart, then a tail
  crash     a cymbal: 3-11 kHz noise ringing 1-2.5 s
"""

import numpy as np

from tfvocoder.data import synth
from tfvocoder.data.synth import DB60


def swept_sine(n: int, rate: int, start_hz: float, end_hz: float,
               sweep: float, decay: float) -> np.ndarray:
  """`[n]` sin of a pitch falling exp(-t / sweep) from `start_hz` to
  `end_hz`, amplitude exp(-t / decay), starting at phase 0 (no click)."""
  t = synth.times(n, rate)
  freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep)
  phase = 2 * np.pi * (np.cumsum(freq) - freq[0]) / rate
  return np.sin(phase) * np.exp(-t / decay)


def _burst(seconds: float, rate: int, rng: np.random.Generator,
           low_hz: float, high_hz: float, decay: float) -> np.ndarray:
  """Band-limited noise with an exponential decay `decay` s."""
  n = synth.samples(seconds, rate)
  high_hz = min(high_hz, synth.PARTIAL_LIMIT * rate)
  return (synth.noise(n, rate, rng, min(low_hz, 0.5 * high_hz), high_hz)
          * np.exp(-synth.times(n, rate) / decay))


def _peak(hit: np.ndarray, velocity: float) -> np.ndarray:
  """`hit` scaled to peak `velocity`."""
  return velocity * hit / max(np.max(np.abs(hit)), 1e-9)


def kick(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A kick drum: pitch-swept sine and a 3 ms click."""
  n = synth.samples(0.5, rate)
  body = swept_sine(n, rate, rng.uniform(150, 200), rng.uniform(50, 65),
                    rng.uniform(0.02, 0.05), rng.uniform(0.15, 0.35))
  click = _burst(0.5, rate, rng, 1500.0, 8000.0, 0.003)
  return _peak(body + rng.uniform(0.1, 0.3) * click, velocity)


def boom(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """An orchestral bass drum: low sweep, long decay, soft mallet noise."""
  n = synth.samples(1.2, rate)
  body = swept_sine(n, rate, rng.uniform(80, 110), rng.uniform(45, 60),
                    rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.5))
  mallet = _burst(1.2, rate, rng, 100.0, 1200.0, 0.02)
  return _peak(body + 0.1 * mallet, velocity)


def tom(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A tom: a short sweep from 90-260 Hz down by a fifth of its pitch."""
  n = synth.samples(0.6, rate)
  start = rng.uniform(90, 260)
  body = swept_sine(n, rate, start, 0.8 * start, 0.05,
                    rng.uniform(0.12, 0.3))
  return _peak(body + 0.15 * _burst(0.6, rate, rng, 500, 5000, 0.01),
               velocity)


def snare(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A snare: two body modes and a noise burst (the wires)."""
  n = synth.samples(0.4, rate)
  t = synth.times(n, rate)
  pitch = rng.uniform(180, 220)
  body = (np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(3.2 * np.pi * pitch * t)
          ) * np.exp(-t / rng.uniform(0.03, 0.06))
  wires = _burst(0.4, rate, rng, 1000.0, 9000.0, rng.uniform(0.06, 0.18))
  return _peak(body + rng.uniform(0.8, 1.5) * wires, velocity)


def hat(velocity: float, rate: int, rng: np.random.Generator,
        open_: bool = False) -> np.ndarray:
  """A hi-hat: noise above 6-8 kHz decaying with a 7-20 ms (closed) or
  70-170 ms (open) time constant."""
  decay = rng.uniform(0.07, 0.17) if open_ else rng.uniform(0.007, 0.02)
  return _peak(_burst(0.5 if open_ else 0.12, rate, rng,
                      rng.uniform(6000, 8000), 11000.0, decay), velocity)


def open_hat(velocity: float, rate: int,
             rng: np.random.Generator) -> np.ndarray:
  """An open hi-hat (`hat`, open)."""
  return hat(velocity, rate, rng, open_=True)


def clap(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A hand clap: a few quick bursts, then a short tail."""
  n = synth.samples(0.3, rate)
  t = synth.times(n, rate)
  bursts = int(rng.integers(3, 5))
  gap = rng.uniform(0.008, 0.012)
  env = np.exp(-t / 0.06) * 0.5
  for k in range(bursts):
    env = np.maximum(env, np.where(t >= k * gap, np.exp(-(t - k * gap) / 0.004),
                                   0.0))
  return _peak(synth.noise(n, rate, rng, 1000.0, 3000.0) * env, velocity)


def crash(velocity: float, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A crash cymbal ringing 1-2.5 s."""
  ring = rng.uniform(1.0, 2.5)   # s to -60 dB
  return _peak(_burst(ring, rate, rng, 3000.0, 11000.0, ring / DB60),
               velocity)


DRUMS = dict(kick=kick, boom=boom, tom=tom, snare=snare, hat=hat,
             open_hat=open_hat, clap=clap, crash=crash)
