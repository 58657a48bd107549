"""Pitched instruments of the synthetic music (numpy only).

Each renderer `name(f0, duration, velocity, rate, rng)` returns one note,
float64 `[samples]` including its release tail, about `velocity` RMS-scaled
(velocity in (0, 1] also sets the brightness: softer notes lose high
partials):

  piano   inharmonic partials f_h = h f0 sqrt(1 + B h^2), B 1e-4..1e-3,
          hammer attack and thump, decay faster for higher partials,
          detuned unison strings (beats), damper release
  pluck   guitar / harp: pluck-position comb, losses growing with frequency
          (the brightness falls over the note)
  bass    finger bass: dark pluck with a strong fundamental
  strings bowed: sawtooth partials through body resonances, delayed
          vibrato (5-7 Hz, +-5-25 cents), tremolo, slow attack and release
  flute   few partials, breath noise, vibrato
  reed    clarinet-like odd harmonics
  brass   brightness that follows the loudness, a pitch scoop at the attack
  synth   two detuned saw / square oscillators, a decaying filter envelope
  mallet  marimba-like modal partials (1, 4, 10 f0), fast decay
"""

from typing import Optional

import numpy as np

from tfvocoder.data import synth


def piano_ratios(count: int, inharmonicity: float) -> np.ndarray:
  """`[count]` stiff-string partial ratios h sqrt(1 + B h^2), h = 1..count."""
  h = np.arange(1, count + 1)
  return h * np.sqrt(1.0 + inharmonicity * h ** 2)


def _attack(attack: float, duration: float) -> float:
  """A rise time no longer than a quarter of the note (detached notes
  speak quickly), s."""
  return max(0.01, min(attack, 0.25 * duration))


def _finish(note: np.ndarray, amps: np.ndarray, velocity: float
            ) -> np.ndarray:
  """Scale a note so its RMS level is about `velocity` / sqrt(2)."""
  return velocity * note / max(np.sqrt(np.sum(np.asarray(amps) ** 2)), 1e-9)


def _decaying(f0: float, ratios: np.ndarray, amps: np.ndarray,
              decays: np.ndarray, n: int, rate: int,
              rng: np.random.Generator) -> np.ndarray:
  """Partials `ratios * f0` Hz, each decaying as exp(-decays t), `[n]`."""
  phase = 2 * np.pi * f0 * synth.times(n, rate)
  t = synth.times(n, rate, np.float32)
  envs = [np.float32(a) * np.exp(np.float32(-d) * t)
          for a, d in zip(amps, decays)]
  return synth.additive(phase, ratios, envs, rng)


def piano(f0: float, duration: float, velocity: float, rate: int,
          rng: np.random.Generator,
          inharmonicity: Optional[float] = None) -> np.ndarray:
  """A piano note; `inharmonicity` B (None: log-uniform in 1e-4..1e-3)."""
  b = (np.exp(rng.uniform(np.log(1e-4), np.log(1e-3)))
       if inharmonicity is None else inharmonicity)
  h = np.arange(1, 31)
  ratios = piano_ratios(30, b)
  keep = synth.audible(ratios, f0, rate)
  h, ratios = h[keep], ratios[keep]
  strike = rng.uniform(1 / 9, 1 / 7)   # hammer position: comb notches
  amps = ((np.abs(np.sin(np.pi * h * strike)) + 0.15) / h
          * synth.brightness_tilt(h, velocity, 1.5))
  first = (f0 / 260.0) ** 0.5 * rng.uniform(0.4, 1.0)   # 1/s, low notes last
  decays = first * (1 + 0.3 * (h - 1)) + (h * f0 / 3000.0) ** 2
  cents = rng.uniform(0.5, 2.0, min(3, len(h)))         # unison strings
  ratios = np.concatenate([ratios, ratios[:len(cents)] * 2 ** (cents / 1200)])
  amps = np.concatenate([amps, 0.6 * amps[:len(cents)]])
  decays = np.concatenate([decays, 1.2 * decays[:len(cents)]])
  release = rng.uniform(0.1, 0.2)
  n = synth.samples(duration + release, rate)
  attack = 0.004 - 0.0025 * velocity
  note = _decaying(f0, ratios, amps, decays, n, rate, rng)
  note *= synth.envelope(n, rate, attack, duration, release)
  thump_n = min(n, synth.samples(0.04, rate))
  thump = synth.noise(thump_n, rate, rng, 40.0, 1000 + 3000 * velocity)
  note[:thump_n] += (0.2 * velocity * np.sum(amps) * thump
                     * np.exp(-synth.times(thump_n, rate) / 0.006))
  return _finish(note, amps, velocity)


def _pluck_like(f0: float, duration: float, velocity: float, rate: int,
                rng: np.random.Generator, slope: float, first: float,
                bright_hz: float, count: int) -> np.ndarray:
  """A plucked string: |sin(pi h p)| / h^slope partials, losses
  `first` + (h f0 / bright_hz)^2 1/s, a short damped release."""
  h = np.arange(1, count + 1)
  ratios = h * np.sqrt(1.0 + 1e-5 * h ** 2)
  keep = synth.audible(ratios, f0, rate)
  h, ratios = h[keep], ratios[keep]
  position = rng.uniform(0.08, 0.3)
  amps = ((np.abs(np.sin(np.pi * h * position)) + 0.05) / h ** slope
          * synth.brightness_tilt(h, velocity, 1.0))
  decays = first + (h * f0 / bright_hz) ** 2
  release = rng.uniform(0.05, 0.15)
  n = synth.samples(duration + release, rate)
  note = _decaying(f0, ratios, amps, decays, n, rate, rng)
  note *= synth.envelope(n, rate, rng.uniform(0.0005, 0.002), duration,
                         release)
  return _finish(note, amps, velocity)


def pluck(f0: float, duration: float, velocity: float, rate: int,
          rng: np.random.Generator) -> np.ndarray:
  """A guitar / harp note: bright at the pluck, darker as it rings."""
  return _pluck_like(f0, duration, velocity, rate, rng, slope=1.0,
                     first=rng.uniform(0.8, 3.0),
                     bright_hz=rng.uniform(500, 1500), count=40)


def bass(f0: float, duration: float, velocity: float, rate: int,
         rng: np.random.Generator) -> np.ndarray:
  """A finger bass note: a dark pluck, most energy below 300 Hz."""
  return _pluck_like(f0, duration, velocity, rate, rng, slope=1.5,
                     first=rng.uniform(0.3, 1.2),
                     bright_hz=rng.uniform(300, 700), count=16)


def _body(freqs: np.ndarray, f0: float,
          rng: np.random.Generator) -> np.ndarray:
  """`[P]` gain of a wooden body: a few log-frequency resonance bumps, at
  violin frequencies scaled down for low notes (cello, double bass)."""
  size = min(max(f0 / 196.0, 0.35), 1.0)   # 196 Hz: a violin's lowest note
  gain = np.full(len(freqs), 0.3)
  for centre in (280.0, 450.0, 700.0, 2500.0):
    peak = size * centre * 2 ** rng.uniform(-0.3, 0.3)
    gain += rng.uniform(0.4, 1.0) * np.exp(
        -0.5 * (np.log2(np.maximum(freqs, 1.0) / peak) / 0.35) ** 2)
  return gain


def strings(f0: float, duration: float, velocity: float, rate: int,
            rng: np.random.Generator, vibrato_hz: Optional[float] = None,
            cents: Optional[float] = None) -> np.ndarray:
  """A bowed note; vibrato rate (None: 5-7 Hz) and depth (None: +-5-25
  cents, up to half a semitone peak to peak)."""
  vibrato_hz = rng.uniform(5.0, 7.0) if vibrato_hz is None else vibrato_hz
  cents = rng.uniform(5.0, 25.0) if cents is None else cents
  h = np.arange(1, 31)
  h = h[synth.audible(h, f0 * 2 ** (cents / 1200), rate)]
  amps = (h ** -1.1 * _body(h * f0, f0, rng)
          * synth.brightness_tilt(h, velocity, 1.2))
  release = rng.uniform(0.15, 0.4)
  n = synth.samples(duration + release, rate)
  phase = synth.vibrato_phase(f0, n, rate, vibrato_hz, cents,
                              rng.uniform(0.15, 0.5), rng)
  note = synth.additive(phase, h, amps, rng)
  attack = _attack(rng.uniform(0.04, 0.3), duration)
  env = synth.envelope(n, rate, attack, duration, release)
  env *= synth.tremolo(n, rate, rng.uniform(3.0, 6.0), rng.uniform(0, 0.15),
                       rng)
  bow = synth.noise(n, rate, rng, 1500.0, 8000.0)
  scratch = 0.02 + 0.1 * velocity * np.exp(-synth.times(n, rate) / 0.01)
  note = (note + scratch * np.sum(amps) * bow) * env
  return _finish(note, amps, velocity)


def _wind(f0: float, duration: float, velocity: float, rate: int,
          rng: np.random.Generator, amps: np.ndarray, breath: float,
          cents: float, attack: float) -> np.ndarray:
  """Harmonic partials `amps` (h = 1..P) with vibrato and breath noise."""
  h = np.arange(1, len(amps) + 1)
  keep = synth.audible(h, f0 * 2 ** (cents / 1200), rate)
  h, amps = h[keep], amps[keep] * synth.brightness_tilt(h[keep], velocity,
                                                        1.5)
  release = rng.uniform(0.06, 0.2)
  n = synth.samples(duration + release, rate)
  phase = synth.vibrato_phase(f0, n, rate, rng.uniform(4.5, 6.0), cents,
                              rng.uniform(0.1, 0.4), rng)
  env = synth.envelope(n, rate, _attack(attack, duration), duration, release)
  env *= synth.tremolo(n, rate, rng.uniform(4.0, 6.0), rng.uniform(0, 0.1),
                       rng)
  air = synth.noise(n, rate, rng, 0.8 * f0, min(6000.0, 0.45 * rate))
  note = (synth.additive(phase, h, amps, rng) + breath * air) * env
  return _finish(note, amps, velocity)


def flute(f0: float, duration: float, velocity: float, rate: int,
          rng: np.random.Generator) -> np.ndarray:
  """A flute note: strong fundamental, breathy."""
  amps = np.exp(-np.arange(8) * rng.uniform(0.6, 1.2))
  return _wind(f0, duration, velocity, rate, rng, amps,
               breath=rng.uniform(0.03, 0.08), cents=rng.uniform(5, 25),
               attack=rng.uniform(0.03, 0.08))


def reed(f0: float, duration: float, velocity: float, rate: int,
         rng: np.random.Generator) -> np.ndarray:
  """A clarinet-like note: odd harmonics dominate."""
  h = np.arange(1, 21)
  amps = np.where(h % 2 == 1, 1.0, rng.uniform(0.08, 0.3)) / h
  return _wind(f0, duration, velocity, rate, rng, amps,
               breath=rng.uniform(0.005, 0.02), cents=rng.uniform(0, 10),
               attack=rng.uniform(0.02, 0.06))


def brass(f0: float, duration: float, velocity: float, rate: int,
          rng: np.random.Generator) -> np.ndarray:
  """A horn / trumpet-like note: partial h follows env^(1 + g (h - 1)), so
  it brightens as it swells; the pitch scoops up into the note."""
  h = np.arange(1, 25)
  h = h[synth.audible(h, f0, rate)]
  amps = h ** -0.7 * synth.brightness_tilt(h, velocity, 1.0)
  release = rng.uniform(0.08, 0.25)
  n = synth.samples(duration + release, rate)
  t = synth.times(n, rate)
  scoop = 2.0 ** (-rng.uniform(20, 60) / 1200 * np.exp(-t / 0.03))
  phase = 2 * np.pi * np.cumsum(f0 * scoop) / rate
  env = synth.envelope(n, rate, _attack(rng.uniform(0.03, 0.1), duration),
                       duration, release)
  growth = rng.uniform(0.3, 0.8)
  env = env.astype(np.float32)
  envs = [np.float32(a) * env ** np.float32(1 + growth * (k - 1))
          for a, k in zip(amps, h)]
  return _finish(synth.additive(phase, h, envs, rng), amps, velocity)


def synth_voice(f0: float, duration: float, velocity: float, rate: int,
                rng: np.random.Generator) -> np.ndarray:
  """An electronic note: two detuned saw (or square) oscillators through a
  low-pass whose cutoff falls from a peak to a sustain level."""
  h = np.arange(1, 25).astype(float)
  square = rng.random() < 0.35
  base = np.where(h % 2 == 1, 1.0, 0.0) / h if square else 1.0 / h
  release = rng.uniform(0.05, 0.5)
  n = synth.samples(duration + release, rate)
  t = synth.times(n, rate)
  peak, sustain = (rng.uniform(6, 30) * (0.4 + 0.6 * velocity),
                   rng.uniform(2, 8))
  cutoff = sustain + (peak - sustain) * np.exp(-t / rng.uniform(0.05, 0.6))
  inverse = (1.0 / cutoff).astype(np.float32)
  note = np.zeros(n)
  for cents in rng.uniform(3, 12) * np.array([-1.0, 1.0]):
    f = f0 * 2 ** (cents / 1200)
    keep = synth.audible(h, f, rate) & (base > 0)
    envs = [np.float32(a) / np.sqrt(1 + (np.float32(k) * inverse) ** 4)
            for a, k in zip(base[keep], h[keep])]
    note += synth.additive(2 * np.pi * f * t, h[keep], envs, rng)
  note *= synth.envelope(n, rate, rng.uniform(0.002, 0.2), duration, release)
  return _finish(note, 1.4 * base[base > 0][:6], velocity)


def mallet(f0: float, duration: float, velocity: float, rate: int,
           rng: np.random.Generator) -> np.ndarray:
  """A marimba / vibraphone-like note: modes 1, 4, 10 f0 decaying fast."""
  ratios = np.array([1.0, 4.0, 10.0])
  amps = np.array([1.0, 0.5, 0.2]) * synth.brightness_tilt(
      np.array([1, 3, 6]), velocity, 1.5)
  keep = synth.audible(ratios, f0, rate)
  ratios, amps = ratios[keep], amps[keep]
  decays = rng.uniform(1.5, 4.0) * np.array([1.0, 3.0, 8.0])[keep]
  n = synth.samples(min(duration, 1.5) + 0.3, rate)
  note = _decaying(f0, ratios, amps, decays, n, rate, rng)
  note *= synth.envelope(n, rate, 0.001, min(duration, 1.5), 0.3)
  return _finish(note, amps, velocity)


INSTRUMENTS = dict(piano=piano, pluck=pluck, bass=bass, strings=strings,
                   flute=flute, reed=reed, brass=brass, synth=synth_voice,
                   mallet=mallet)
