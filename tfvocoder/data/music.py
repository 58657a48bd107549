"""The built-in synthetic music generator: needs no download, fully seeded.

`generate_music(seconds, sample_rate, seed)` renders a short piece. Its
score (`compose`) has a key (root + one of `SCALES`), a tempo (70-170
bpm), a meter (3 or 4), a genre (orchestral, electronic, band, chamber:
which instruments and drum patterns it may use) and a form: phrases of 2-8
bars, each with its own texture (which parts play), a crescendo,
decrescendo or steady level, and sometimes a silent gap after it. The
parts follow a chord progression with voice-led chords:

  bass     pedal, halves, beats, walking, octave eighths or syncopated,
           fundamentals 49-220 Hz (the lowest band)
  chords   pads, block chords, arpeggios or Alberti figures
  melody   a contoured walk on the scale from a phrase's rhythm cells,
           chord tones on strong beats, legato or staccato
  counter  a slower second line in the middle register
  drums    backbeat, four-on-the-floor, half-time, waltz or orchestral,
           with fills and crashes at phrase starts

The notes' velocities follow the phrase dynamics, so loud passages are
brighter (`instruments`). The mix is played in a synthetic room through a
gently coloured microphone (`rooms`). Only numpy is used, so it runs in
`prepare`'s worker processes. The dataset made of these pieces is
`sources.ensure_synthetic_dataset`.
"""

from typing import List, Sequence, Tuple, Union

import numpy as np

from tfvocoder.data import drums, instruments, rooms, score_parts
from tfvocoder.data.score_parts import SCALES, Context, pick

TIMBRES = tuple(instruments.INSTRUMENTS)
GENERATOR_VERSION = 2   # bump when the audio changes: caches are rebuilt
GENRES = {
    "orchestral": dict(bass=("strings", "brass", "reed"),
                       chords=("strings", "brass", "reed", "pluck"),
                       melody=("strings", "flute", "brass", "reed", "mallet"),
                       drums=("none", "orchestral", "orchestral")),
    "electronic": dict(bass=("synth", "bass"),
                       chords=("synth", "pluck", "mallet", "piano"),
                       melody=("synth", "pluck", "mallet", "flute"),
                       drums=("four", "backbeat", "half")),
    "band": dict(bass=("bass",), chords=("piano", "pluck", "strings", "synth"),
                 melody=("piano", "reed", "brass", "flute", "strings",
                         "pluck"),
                 drums=("backbeat", "half")),
    "chamber": dict(bass=("piano", "strings", "pluck"),
                    chords=("piano", "pluck", "strings"),
                    melody=("piano", "flute", "strings", "reed"),
                    drums=("none",)),
}
# Which parts play in a phrase, with weights.
TEXTURES = ((("bass", "chords", "melody", "drums"), 4.0),
            (("bass", "chords", "melody", "counter", "drums"), 2.5),
            (("chords", "melody"), 1.2), (("bass", "chords", "drums"), 1.0),
            (("bass", "chords", "counter"), 0.8), (("chords",), 0.3),
            (("melody",), 0.2), (("bass", "drums"), 0.4))
GENRE_WEIGHTS = dict(orchestral=0.3, electronic=0.3, band=0.25, chamber=0.15)
PART_GAINS = dict(bass=1.0, chords=0.4, melody=0.7, counter=0.45)
DRUM_GAINS = dict(kick=0.9, boom=0.6, tom=0.5, snare=0.6, hat=0.25,
                  open_hat=0.25, clap=0.5, crash=0.2)

Seed = Union[int, Sequence[int]]
# (start s, duration s, midi, velocity, timbre, part)
Note = Tuple[float, float, float, float, str, str]


def _midi_to_hz(midi: float) -> float:
  return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _band(rng: np.random.Generator, meter: int) -> dict:
  """The genre, each part's timbre, the drum style, swing and timing jitter."""
  genre = str(rng.choice(list(GENRE_WEIGHTS),
                         p=list(GENRE_WEIGHTS.values())))
  kit = GENRES[genre]
  parts = {part: pick(rng, kit[part])
           for part in ("bass", "chords", "melody")}
  parts["counter"] = pick(rng, kit["melody"])
  style = pick(rng, kit["drums"])
  if style == "half" and meter == 3:
    style = "waltz"
  swing = rng.uniform(0.05, 0.15) if rng.random() < 0.3 else 0.0
  jitter = 0.0 if genre == "electronic" else rng.uniform(0.0, 0.008)
  return dict(genre=genre, timbres=parts, drums=style, swing=swing,
              jitter=jitter)


def _form(seconds: float, bar: float, rng: np.random.Generator,
          drums_on: bool) -> Tuple[List[dict], List[Tuple[float, float]]]:
  """Phrases (start s, first bar index, bars, dB levels, parts) and gaps."""
  phrases, gaps = [], []
  t, first_bar = 0.0, 0
  weights = np.array([w for _, w in TEXTURES])
  while t < seconds:
    bars = int(rng.choice([2, 4, 4, 4, 8]))
    start_db = rng.uniform(-12.0, 0.0)
    end_db = float(np.clip(start_db + rng.choice([-8.0, 0.0, 8.0]), -14, 0))
    parts = TEXTURES[rng.choice(len(TEXTURES), p=weights / weights.sum())][0]
    if not phrases:   # the piece starts at once, with harmony
      parts = tuple(sorted(set(parts) | {"chords"}))
    if not drums_on:
      parts = tuple(p for p in parts if p != "drums") or ("chords",)
    phrases.append(dict(start=t, first_bar=first_bar, bars=bars,
                        levels=(start_db, end_db), parts=parts))
    t += bars * bar
    first_bar += bars
    if rng.random() < 0.2 and t < seconds:
      gap = rng.uniform(0.3, 1.5)
      gaps.append((t, t + gap))
      t += gap
  return phrases, gaps


def compose(seconds: float, seed: Seed) -> dict:
  """The score of one piece.

  Returns {"root": MIDI note of the tonic, "scale": name, "tempo": bpm,
  "meter": beats per bar, "genre", "drum_style", "notes": [(start s,
  duration s, midi, velocity, timbre, part)], "drums": [(start s, kind,
  velocity)], "gaps": [(start s, end s)] (silences), "phrases"}; drum kinds
  are `drums.DRUMS`' names, timbres `TIMBRES`.
  """
  rng = np.random.default_rng(seed)
  root = int(rng.integers(45, 57))
  scale_name = pick(rng, list(SCALES))
  tempo = float(rng.uniform(70, 170))
  meter = 3 if rng.random() < 0.3 else 4
  band = _band(rng, meter)
  ctx = Context(root=root, scale=SCALES[scale_name], beat=60.0 / tempo,
                meter=meter, progression=score_parts.progression(rng),
                sevenths=bool(rng.random() < 0.3), swing=band["swing"])
  phrases, gaps = _form(seconds, ctx.bar, rng, band["drums"] != "none")
  notes: List[Note] = []
  hits: list = []
  for phrase in phrases:
    for part in phrase["parts"]:
      if part == "drums":
        hits += score_parts.drum_part(ctx, phrase, band["drums"], rng)
      else:
        notes += [(*x, band["timbres"][part], part) for x in
                  score_parts.PARTS[part](ctx, phrase, rng)]
  notes = _humanize(notes, band["jitter"], seconds, rng)
  hits = [h for h in hits if h[0] < seconds]
  return dict(root=root, scale=scale_name, tempo=tempo, meter=meter,
              genre=band["genre"], drum_style=band["drums"], notes=notes,
              drums=hits, gaps=gaps, phrases=phrases)


def _humanize(notes: List[Note], jitter: float, seconds: float,
              rng: np.random.Generator) -> List[Note]:
  """Shift onsets by N(0, jitter) s (not before 0); drop those past the end."""
  shifts = rng.normal(0.0, jitter, len(notes)) if jitter else np.zeros(
      len(notes))
  out = [(max(0.0, n[0] + float(s)),) + tuple(n[1:])
         for n, s in zip(notes, shifts)]
  return [n for n in out if n[0] < seconds]


def _add(out: np.ndarray, start: float, sound: np.ndarray, rate: int):
  i = int(start * rate)
  out[i:i + len(sound)] += sound[:len(out) - i]


def render_score(score: dict, samples: int, rate: int,
                 rng: np.random.Generator) -> np.ndarray:
  """The dry mix of a score, float64 `[samples + 2 rate]`: 2 s past the end
  keep the last notes' tails for the room (the caller cuts them)."""
  out = np.zeros(samples + 2 * rate)
  for start, duration, midi, velocity, timbre, part in score["notes"]:
    note = instruments.INSTRUMENTS[timbre](_midi_to_hz(midi), duration,
                                           velocity, rate, rng)
    _add(out, start, PART_GAINS[part] * note, rate)
  bus = rng.uniform(0.5, 1.0)
  for start, kind, velocity in score["drums"]:
    _add(out, start, bus * DRUM_GAINS[kind] * drums.DRUMS[kind](
        velocity, rate, rng), rate)
  return out


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
  dry = render_score(score, n, sample_rate, rng)
  out = rooms.apply_room(dry, sample_rate, rng)[:n]
  peak = np.max(np.abs(out))
  return (rng.uniform(0.5, 0.95) * out / max(peak, 1e-9)).astype(np.float32)
