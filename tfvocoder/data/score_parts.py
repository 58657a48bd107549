"""The parts of a synthetic piece's score (numpy only): bass, chords,
melody, counter-melody and drums, one phrase at a time (see `music`).

A part generator `name(ctx, phrase, rng)` returns its notes as (start s,
duration s, midi, velocity) tuples; `drum_part` returns (start s, kind,
velocity). Velocities already follow the phrase's crescendo / decrescendo.
"""

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "pentatonic": (0, 2, 4, 7, 9),
}
# Scale-degree roots, bar by bar (0 = the tonic).
PROGRESSIONS = ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 3), (0, 3, 0, 4),
                (0, 5, 1, 4), (5, 3, 0, 4), (0, 6, 5, 4), (0, 2, 3, 4),
                (0, 0, 3, 3, 4, 4, 0, 0), (0, 4, 5, 2, 3, 0, 3, 4))
# Rhythm cells in beats; a phrase draws a few and repeats them.
RHYTHM_CELLS = ((1.0,), (0.5, 0.5), (0.75, 0.25), (1 / 3, 1 / 3, 1 / 3),
                (0.25, 0.25, 0.25, 0.25), (1.5, 0.5), (2.0,),
                (0.5, 1.0, 0.5), (0.25, 0.25, 0.5), (0.5, 0.25, 0.25),
                (0.5,))
SLOW_CELLS = ((2.0,), (1.0, 1.0), (3.0,), (4.0,), (1.5, 0.5))
Event = Tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class Context:
  """What every part of a piece shares: key, tempo, meter, harmony."""
  root: int                 # MIDI note of the tonic
  scale: Tuple[int, ...]    # semitones above the root
  beat: float               # s
  meter: int                # beats per bar
  progression: Tuple[int, ...]
  sevenths: bool
  swing: float              # off-beat eighths' delay, beats

  @property
  def bar(self) -> float:
    return self.meter * self.beat

  def midi(self, base: int, degree: int) -> int:
    """The MIDI note of scale `degree` above `base` (degrees wrap octaves)."""
    octave, step = divmod(degree, len(self.scale))
    return base + 12 * octave + self.scale[step]

  def chord(self, bar: int) -> List[int]:
    """The scale degrees of bar `bar`'s chord (triad or seventh)."""
    degree = self.progression[bar % len(self.progression)]
    return [degree + 2 * i for i in range(4 if self.sevenths else 3)]

  def time(self, phrase: dict, beats: float) -> float:
    """Seconds of a position `beats` into a phrase (swung off-beats)."""
    swung = abs(beats % 1.0 - 0.5) < 1e-6
    return phrase["start"] + (beats + (self.swing if swung else 0.0)
                              ) * self.beat

  def level(self, phrase: dict, beats: float) -> float:
    """The phrase's dynamics at `beats`: linear gain from its dB ramp."""
    start, end = phrase["levels"]
    x = min(max(beats / (phrase["bars"] * self.meter), 0.0), 1.0)
    return 10.0 ** ((start + (end - start) * x) / 20.0)


def pick(rng: np.random.Generator, options: Sequence):
  """One of `options`, uniformly (keeps its Python type, unlike
  `rng.choice`, which returns numpy scalars)."""
  return options[int(rng.integers(len(options)))]


def progression(rng: np.random.Generator) -> Tuple[int, ...]:
  return pick(rng, PROGRESSIONS)


def _note(ctx: Context, phrase: dict, beats: float, length: float,
          midi: float, velocity: float) -> Event:
  """One event with the phrase's dynamics applied to its velocity."""
  v = float(np.clip(velocity * ctx.level(phrase, beats), 0.05, 1.0))
  return (ctx.time(phrase, beats), length * ctx.beat, float(midi), v)


def _into(midi: int, low: int, high: int) -> int:
  while midi > high:
    midi -= 12
  while midi < low:
    midi += 12
  return midi


def _bass_bar(ctx: Context, pattern: str, bar: int,
              rng: np.random.Generator) -> List[Tuple[float, float, int]]:
  """(beat, length, midi) of one bar of the bass line."""
  m = ctx.meter
  degree = ctx.chord(bar)[0]
  root = _into(ctx.midi(ctx.root - 12, degree), 31, 50)
  fifth = root + (ctx.midi(0, degree + 4) - ctx.midi(0, degree)) % 12
  if pattern == "pedal":
    return [(0.0, m, root)]
  if pattern == "halves":
    return [(0.0, 2.0, root), (2.0, m - 2.0, fifth)]
  if pattern == "beats":
    return [(k, 1.0, root if k % 2 == 0 else pick(
        rng, (root, fifth, root + 12))) for k in range(m)]
  if pattern == "walk":
    step = 1 if ctx.chord(bar + 1)[0] >= degree else -1
    return [(k, 1.0, _into(ctx.midi(ctx.root - 12, degree + step * k),
                           28, 52)) for k in range(m)]
  if pattern == "eighths":
    low = root - 12 if root - 12 >= 28 else root
    return [(k / 2, 0.5, low if k % 2 == 0 or rng.random() < 0.5
             else low + 12) for k in range(2 * m)]
  cut = 1.5   # syncopated
  return [(0.0, cut, root), (cut, 1.0, fifth), (cut + 1.0, m - cut - 1.0,
                                                root)]


def bass_part(ctx: Context, phrase: dict, rng: np.random.Generator
              ) -> List[Event]:
  """The bass line of a phrase: one pattern, every bar."""
  pattern = pick(rng, ("pedal", "halves", "beats", "beats", "walk",
                       "eighths", "eighths", "syncopated"))
  legato = rng.uniform(0.6, 0.95)
  notes = []
  for b in range(phrase["bars"]):
    for beat, length, midi in _bass_bar(ctx, pattern, phrase["first_bar"] + b,
                                        rng):
      accent = 0.1 if beat == 0 else 0.0
      notes.append(_note(ctx, phrase, b * ctx.meter + beat, legato * length,
                         midi, 0.75 + accent + 0.1 * rng.random()))
  return notes


def voicing(midis: Sequence[int], previous: Optional[Sequence[int]],
            low: int = 50, high: int = 79) -> List[int]:
  """The inversion / octave of a chord inside [low, high] closest to the
  previous voicing (smooth voice leading)."""
  tones = sorted(_into(m, low, low + 11) for m in midis)
  candidates = []
  for k in range(len(tones)):
    inverted = tones[k:] + [t + 12 for t in tones[:k]]
    for shift in (-12, 0, 12):
      chord = [t + shift for t in inverted]
      if low <= chord[0] and chord[-1] <= high:
        candidates.append(chord)
  if previous is None or not candidates:
    return candidates[0] if candidates else tones
  centre = np.mean(previous)
  return min(candidates, key=lambda c: abs(np.mean(c) - centre))


def _chord_bar(style: str, chord: List[int], meter: int, sub: int,
               order: List[int]) -> List[Tuple[float, float, int]]:
  """(beat, length, midi) of one bar of accompaniment."""
  if style == "pad":
    return [(0.0, meter * 0.98, m) for m in chord]
  if style == "block":
    return [(float(k), 0.7, m) for k in range(meter) for m in chord]
  step = 1.0 / sub
  tones = chord + [chord[0] + 12]
  return [(i * step, 2 * step, tones[order[i % len(order)] % len(tones)])
          for i in range(meter * sub)]


def chords_part(ctx: Context, phrase: dict, rng: np.random.Generator
                ) -> List[Event]:
  """Voice-led chords: pads, blocks, arpeggios or Alberti figures."""
  style = pick(rng, ("pad", "block", "arpeggio", "arpeggio", "alberti"))
  sub = 2 if style == "alberti" else pick(rng, (2, 3, 4))
  order = ([0, 2, 1, 2] if style == "alberti" else
           [0, 1, 2, 3, 2, 1] if rng.random() < 0.5 else [0, 1, 2, 3])
  base = 0.45 if style == "pad" else 0.6
  previous, notes = None, []
  for b in range(phrase["bars"]):
    bar = phrase["first_bar"] + b
    chord = voicing([ctx.midi(ctx.root, d) for d in ctx.chord(bar)], previous)
    previous = chord
    for beat, length, midi in _chord_bar(style, chord, ctx.meter, sub, order):
      notes.append(_note(ctx, phrase, b * ctx.meter + beat, length, midi,
                         base + 0.15 * rng.random()))
  return notes


def _nearest_chord_tone(ctx: Context, degree: int, bar: int) -> int:
  n = len(ctx.scale)
  tones = [d % n for d in ctx.chord(bar)]
  options = [degree + k for k in range(-3, 4) if (degree + k) % n in tones]
  return min(options, key=abs) if options else degree


def line_part(ctx: Context, phrase: dict, rng: np.random.Generator,
              octave: int = 2, cells: Sequence = RHYTHM_CELLS
              ) -> List[Event]:
  """A melodic line: a contoured walk on the scale from a few rhythm cells,
  chord tones on the beat, legato or staccato, a few rests."""
  n = len(ctx.scale)
  vocabulary = [cells[i] for i in rng.choice(len(cells), 3)]
  articulation = pick(rng, (0.5, 0.9, 0.97))
  total = phrase["bars"] * ctx.meter
  degree, beats, notes = int(rng.integers(0, n)), 0.0, []
  while beats < total - 1e-6:
    for length in vocabulary[int(rng.integers(3))]:
      if beats >= total - 1e-6:
        break
      rising = 1 if beats < 0.6 * total else -1
      degree = int(np.clip(degree + rng.choice([-2, -1, 0, 1, 2, 3 * rising])
                           + (rising if rng.random() < 0.2 else 0), -n, 2 * n))
      if beats % 1.0 < 1e-6 and rng.random() < 0.6:
        degree = _nearest_chord_tone(
            ctx, degree, phrase["first_bar"] + int(beats // ctx.meter))
      if rng.random() > 0.12:   # else a rest; no note outlasts the phrase
        notes.append(_note(ctx, phrase, beats,
                           articulation * min(length, total - beats),
                           ctx.midi(ctx.root + 12 * octave, degree),
                           0.7 + 0.3 * rng.random()))
      beats += length
  return notes


def melody_part(ctx: Context, phrase: dict, rng: np.random.Generator
                ) -> List[Event]:
  return line_part(ctx, phrase, rng, octave=2)


def counter_part(ctx: Context, phrase: dict, rng: np.random.Generator
                 ) -> List[Event]:
  return line_part(ctx, phrase, rng, octave=1, cells=SLOW_CELLS)


PARTS = dict(bass=bass_part, chords=chords_part, melody=melody_part,
             counter=counter_part)


def _groove(style: str, meter: int, fine_hats: bool
            ) -> List[Tuple[float, str, float]]:
  """(beat, kind, velocity) of one bar of a drum style."""
  hats = 0.25 if fine_hats else 0.5
  hat_line = [(k * hats, "hat", 0.45 if (k * hats) % 1 == 0 else 0.3)
              for k in range(int(meter / hats))]
  if style == "four":
    return ([(float(k), "kick", 0.95) for k in range(meter)]
            + [(float(k), "clap", 0.7) for k in range(1, meter, 2)]
            + [(k + 0.5, "open_hat", 0.35) for k in range(meter)])
  if style == "waltz":
    return [(0.0, "kick", 0.9), (1.0, "hat", 0.4), (2.0, "hat", 0.4)]
  if style == "half":
    return [(0.0, "kick", 0.9), (2.0, "snare", 0.8)] + hat_line
  if style == "orchestral":
    return [(0.0, "boom", 0.8), (meter - 1.0, "tom", 0.5),
            (meter - 0.5, "tom", 0.4)]
  kicks = [0.0, 2.0] if meter == 4 else [0.0]
  snares = [1.0, 3.0] if meter == 4 else [2.0]
  return ([(b, "kick", 0.9) for b in kicks]
          + [(b, "snare", 0.75) for b in snares] + hat_line)


def drum_part(ctx: Context, phrase: dict, style: str,
              rng: np.random.Generator) -> List[Tuple[float, str, float]]:
  """A phrase of drums: the style's groove, a crash at the start, maybe a
  fill of snare / tom sixteenths in the last beat."""
  fine = rng.random() < 0.3
  hits = [(0.0, "crash", 0.7)] if rng.random() < 0.5 else []
  for b in range(phrase["bars"]):
    if style == "orchestral" and rng.random() < 0.3:
      continue
    hits += [(b * ctx.meter + beat, kind, v)
             for beat, kind, v in _groove(style, ctx.meter, fine)]
  if rng.random() < 0.4:
    end = phrase["bars"] * ctx.meter
    kind = "tom" if rng.random() < 0.5 else "snare"
    hits = [h for h in hits if h[0] < end - 1]
    hits += [(end - 1 + k / 4, kind, 0.5 + 0.1 * k) for k in range(4)]
  return [(ctx.time(phrase, beat), kind,
           float(np.clip(v * ctx.level(phrase, beat)
                         * rng.uniform(0.9, 1.1), 0.05, 1.0)))
          for beat, kind, v in hits]
