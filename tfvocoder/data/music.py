"""The built-in synthetic music generator: needs no download, fully seeded.

`generate_music(seconds, sample_rate, seed)` renders a short piece: a key
(root + major / minor / dorian / pentatonic scale), a tempo, a four-bar
chord progression played as sustained or arpeggiated chords, a bass line
and a melody (a random walk on the scale), each voice with its own timbre:

  piano    inharmonic partials f_h = h f0 sqrt(1 + B h^2), fast attack,
           exponential decay faster for higher partials
  strings  sawtooth-like partials (1/h), slow attack, delayed vibrato
  flute    few partials, soft attack, vibrato and breath noise

plus, in most pieces, percussive noise bursts (kick, snare, hi-hat) and a
light reverb tail (exponentially decaying noise impulse response). Only
numpy is used, so it runs in `prepare`'s worker processes. The dataset made
of these pieces is `sources.ensure_synthetic_dataset`.
"""

import math
from typing import List, Sequence, Tuple, Union

import numpy as np

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
}
TIMBRES = ("piano", "strings", "flute")
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 3, 0, 4))
GENERATOR_VERSION = 1   # bump when the audio changes: caches are rebuilt

Seed = Union[int, Sequence[int]]
# (start s, duration s, midi, velocity, timbre)
Note = Tuple[float, float, float, float, str]


def _midi_to_hz(midi: float) -> float:
  return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _degree_to_midi(root: int, scale: Sequence[int], degree: int) -> int:
  octave, step = divmod(degree, len(scale))
  return root + 12 * octave + scale[step]


def compose(seconds: float, seed: Seed) -> dict:
  """The score of one piece.

  Returns {"root": MIDI note of the tonic, "scale": name, "tempo": bpm,
  "notes": [(start s, duration s, midi, velocity, timbre)], "drums":
  [(start s, kind, velocity)]}; kinds are "kick", "snare", "hat".
  """
  rng = np.random.default_rng(seed)
  root = int(rng.integers(45, 57))
  scale_name = str(rng.choice(list(SCALES)))
  scale = SCALES[scale_name]
  tempo = float(rng.uniform(70, 140))
  beat = 60.0 / tempo
  style = _style(rng)
  notes = _accompaniment(seconds, beat, root, scale, style, rng)
  notes += _melody(seconds, beat, root, scale, style["melody"], rng)
  drums = _drums(seconds, beat, rng)
  notes = [x for x in notes if x[0] < seconds]
  return dict(root=root, scale=scale_name, tempo=tempo, notes=notes,
              drums=drums)


def _style(rng: np.random.Generator) -> dict:
  """The progression, each voice's timbre, whether chords are arpeggiated."""
  progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
  melody_timbre, harmony_timbre = rng.choice(TIMBRES, size=2)
  bass_timbre = str(rng.choice(["piano", "strings"]))
  arpeggio = harmony_timbre == "piano" or rng.random() < 0.3
  return dict(progression=progression, melody=str(melody_timbre),
              harmony=str(harmony_timbre), bass=bass_timbre,
              arpeggio=arpeggio)


def _accompaniment(seconds: float, beat: float, root: int,
                   scale: Sequence[int], style: dict,
                   rng: np.random.Generator) -> List[Note]:
  """Chords (sustained or arpeggiated) and a bass line, bar by bar."""
  progression = style["progression"]
  notes: List[Note] = []
  for bar in range(int(math.ceil(seconds / (4 * beat)))):
    t0 = bar * 4 * beat
    degree = progression[bar % len(progression)]
    chord = [_degree_to_midi(root + 12, scale, degree + 2 * i)
             for i in range(3 if len(scale) > 5 else 2)]
    if style["arpeggio"]:
      for step in range(8):
        notes.append((t0 + step * beat / 2, beat, chord[step % len(chord)],
                      0.5 + 0.2 * rng.random(), style["harmony"]))
    else:
      for pitch in chord:
        notes.append((t0, 4 * beat, pitch, 0.35 + 0.1 * rng.random(),
                      style["harmony"]))
    bass = _degree_to_midi(root - 12, scale, degree)
    for half in (0, 2):
      notes.append((t0 + half * beat, 2 * beat, bass, 0.6, style["bass"]))
  return notes


def _melody(seconds: float, beat: float, root: int, scale: Sequence[int],
            timbre: str, rng: np.random.Generator) -> List[Note]:
  """A random walk on the scale, two octaves above the root, with rests."""
  n = len(scale)
  notes: List[Note] = []
  t, degree = 0.0, int(rng.integers(0, n))
  while t < seconds:
    length = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0])) * beat
    if rng.random() > 0.15:
      degree = int(np.clip(degree + rng.integers(-2, 3), -n, 2 * n))
      notes.append((t, length, _degree_to_midi(root + 24, scale, degree),
                    0.7 + 0.3 * rng.random(), timbre))
    t += length
  return notes


def _drums(seconds: float, beat: float,
           rng: np.random.Generator) -> List[Tuple[float, str, float]]:
  """In most pieces (p = 0.75): kick on even beats, snare, off-beat hi-hat."""
  drums = []
  if rng.random() < 0.75:
    for k in range(int(seconds / beat) + 1):
      if k % 2 == 0:
        drums.append((k * beat, "kick", 0.8))
      elif rng.random() < 0.8:
        drums.append((k * beat, "snare", 0.6))
      if rng.random() < 0.5:
        drums.append(((k + 0.5) * beat, "hat", 0.4))
  return [d for d in drums if d[0] < seconds]


def _render_note(duration: float, midi: float, velocity: float, timbre: str,
                 rate: int, rng: np.random.Generator) -> np.ndarray:
  """One note (with its release tail), float64 `[samples]`."""
  f0 = _midi_to_hz(midi)
  release = {"piano": 0.25, "strings": 0.2, "flute": 0.1}[timbre]
  n = int((duration + release) * rate)
  t = np.arange(n) / rate
  if timbre == "piano":
    amps = np.arange(1, 17) ** -1.3 * rng.uniform(0.6, 1.0, 16)
    stretch = rng.uniform(5e-5, 4e-4)   # inharmonicity B
    vibrato, attack = 0.0, 0.003
  elif timbre == "strings":
    amps = 1.0 / np.arange(1, 13) * rng.uniform(0.7, 1.0, 12)
    stretch, vibrato, attack = 0.0, rng.uniform(0.002, 0.005), 0.12
  else:
    amps = np.array([1.0, 0.45, 0.2, 0.1, 0.05])
    stretch, vibrato, attack = 0.0, rng.uniform(0.002, 0.004), 0.05
  h = np.arange(1, len(amps) + 1)
  ratios = h * np.sqrt(1.0 + stretch * h ** 2)
  keep = ratios * f0 * (1 + vibrato) < 0.95 * rate / 2
  amps, ratios, h = amps[keep], ratios[keep], h[keep]
  vib_rate = rng.uniform(4.5, 6.0)
  vib_env = np.clip((t - 0.2) / 0.3, 0.0, 1.0)
  inst = f0 * (1 + vibrato * vib_env * np.sin(2 * np.pi * vib_rate * t))
  phase = 2 * np.pi * np.cumsum(inst) / rate
  partials = np.sin(np.outer(ratios, phase)
                    + rng.uniform(0, 2 * np.pi, (len(ratios), 1)))
  gate = np.clip((duration + release - t) / release, 0.0, 1.0)
  onset = np.minimum(t / attack, 1.0)
  if timbre == "piano":
    decay = rng.uniform(0.6, 2.5) * (1 + 0.25 * (h - 1))[:, None]
    env = np.exp(-decay * t[None, :])
  else:
    env = np.ones((1, n))
  note = np.sum(amps[:, None] * env * partials, axis=0) * onset * gate
  if timbre == "flute":  # breath: high-passed noise following the envelope
    note += 0.04 * np.diff(rng.standard_normal(n + 1)) * onset * gate
  return velocity * note / np.sum(amps)


def _render_drum(kind: str, rate: int, rng: np.random.Generator) -> np.ndarray:
  """A percussive noise burst, float64 `[samples]`."""
  t = np.arange(int(0.3 * rate)) / rate
  noise = rng.standard_normal(len(t))
  if kind == "kick":
    phase = 2 * np.pi * np.cumsum(50 + 90 * np.exp(-t / 0.03)) / rate
    return np.sin(phase) * np.exp(-t / 0.12)
  if kind == "snare":
    return (0.6 * noise * np.exp(-t / 0.07)
            + 0.4 * np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.04))
  return 0.5 * np.diff(noise, append=0.0) * np.exp(-t / 0.02)   # hi-hat


def _reverb(dry: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
  """Dry plus a light tail: convolution with decaying noise (RT60 0.4-1.4 s)."""
  rt60 = rng.uniform(0.4, 1.4)
  t = np.arange(int(rt60 * rate)) / rate
  impulse = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
  impulse *= np.exp(-t / 0.3) * 0.5 + 0.5   # darker late tail
  impulse /= np.sqrt(np.sum(impulse ** 2))
  size = 1 << int(np.ceil(np.log2(len(dry) + len(impulse))))
  wet = np.fft.irfft(np.fft.rfft(dry, size) * np.fft.rfft(impulse, size),
                     size)[:len(dry)]
  return dry + rng.uniform(0.15, 0.35) * wet


def generate_music(seconds: float, sample_rate: int,
                   seed: Seed = 0) -> np.ndarray:
  """A seeded music-like piece.

  Args:
    seconds: duration, s.
    sample_rate: Hz.
    seed: int or sequence of ints (numpy `default_rng` seed).
  Returns:
    float32 `[round(seconds * sample_rate)]`, peak in [0.5, 0.95].
  """
  score = compose(seconds, seed)
  rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 1])
  n = int(round(seconds * sample_rate))
  out = np.zeros(n + int(2 * sample_rate))
  for start, duration, midi, velocity, timbre in score["notes"]:
    note = _render_note(duration, midi, velocity, timbre, sample_rate, rng)
    i = int(start * sample_rate)
    out[i:i + len(note)] += note[:len(out) - i]
  for start, kind, velocity in score["drums"]:
    burst = _render_drum(kind, sample_rate, rng)
    i = int(start * sample_rate)
    out[i:i + len(burst)] += 0.5 * velocity * burst[:len(out) - i]
  out = _reverb(out, sample_rate, rng)[:n]
  peak = np.max(np.abs(out))
  return (rng.uniform(0.5, 0.95) * out / max(peak, 1e-9)).astype(np.float32)
