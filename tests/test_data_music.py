"""Built-in synthetic music: seeded, in key, every band, onsets on notes;
each instrument's defining property against a numpy oracle."""

import librosa
import numpy as np
import pytest

from tfvocoder.config import tiny_config
from tfvocoder.data import drums, instruments, music, rooms, score_parts, synth

CONFIG = tiny_config()
RATE = CONFIG.sample_rate


def _spectrum(x, start, stop):
  """(freqs, |rfft|) of x[start s:stop s] through a Hann window."""
  seg = x[int(start * RATE):int(stop * RATE)]
  return (np.fft.rfftfreq(len(seg), 1 / RATE),
          np.abs(np.fft.rfft(seg * np.hanning(len(seg)))))


def _centroid(x, start, stop):
  freqs, mag = _spectrum(x, start, stop)
  return np.sum(freqs * mag ** 2) / np.sum(mag ** 2)


def _rise_time(x, fraction=0.5):
  """s until the 2 ms RMS first reaches `fraction` of its maximum."""
  w = int(0.002 * RATE)
  rms = np.sqrt(np.convolve(x ** 2, np.ones(w) / w, mode="same"))
  return np.argmax(rms >= fraction * rms.max()) / RATE


def test_deterministic_and_in_range():
  a = music.generate_music(4.0, RATE, seed=3)
  b = music.generate_music(4.0, RATE, seed=3)
  c = music.generate_music(4.0, RATE, seed=4)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (4 * RATE,) and a.dtype == np.float32
  assert np.all(np.isfinite(a)) and 0.5 <= np.max(np.abs(a)) <= 0.95
  assert np.max(np.abs(a - c)) > 0.1


@pytest.mark.parametrize("seconds, seed", [(0.25, 0), (0.5, (7, 2)),
                                           (12.0, 11)])
def test_short_and_long_pieces_are_not_clipped_and_not_silent(seconds, seed):
  """Peak-normalised (no clipping), and sound from the first bar on."""
  audio = music.generate_music(seconds, RATE, seed=seed)
  assert len(audio) == round(seconds * RATE)
  assert 0.5 <= np.max(np.abs(audio)) <= 0.95
  assert np.sqrt(np.mean(audio[:RATE // 4] ** 2)) > 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pitch_classes_follow_the_scale(seed):
  """librosa's constant-Q chroma from C2 (65 Hz) up: in-scale pitch classes
  carry most of the energy. (Not 2048-point STFT chroma: the bass and low
  chord tones sit below 180 Hz, where its 10.8 Hz bins are wider than a
  semitone; nor below C2, where a 0.3 s bass note cannot resolve one.)"""
  score = music.compose(8.0, seed)
  audio = music.generate_music(8.0, RATE, seed=seed)
  chroma = librosa.feature.chroma_cqt(
      y=audio, sr=RATE, fmin=librosa.note_to_hz("C2"), n_octaves=6).sum(axis=1)
  in_scale = sorted({(score["root"] + p) % 12
                     for p in music.SCALES[score["scale"]]})
  out_scale = sorted(set(range(12)) - set(in_scale))
  assert chroma[in_scale].mean() > 2.0 * chroma[out_scale].mean()


def test_every_band_has_energy_and_onsets_follow_the_score():
  """All five bands get signal (numpy FFT); librosa's onsets are notes."""
  score = music.compose(8.0, 5)
  audio = music.generate_music(8.0, RATE, seed=5)
  power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
  freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
  for low, high in CONFIG.band_edges_hz:
    share = power[(freqs >= low) & (freqs < high)].sum() / power.sum()
    assert share > 1e-4, (low, high, share)
  onsets = librosa.onset.onset_detect(y=audio, sr=RATE, units="time")
  events = np.array([n[0] for n in score["notes"]]
                    + [d[0] for d in score["drums"]])
  assert len(onsets) >= 10
  # A flux peak may come up to 100 ms after a note starts: bowed and blown
  # notes rise slowly.
  lag = onsets[:, None] - events[None, :]
  near = np.any((lag > -0.05) & (lag < 0.1), axis=1)
  assert np.mean(near) > 0.75
  timbres = {n[4] for seed in range(12)
             for n in music.compose(8.0, seed)["notes"]}
  assert timbres == set(music.TIMBRES)
  assert any(music.compose(8.0, seed)["drums"] for seed in range(6))


def test_the_mix_has_bass_below_200_hz():
  """The lowest band (the multiscale model's 0-689 Hz) carries a bass line."""
  for seed in range(3):
    audio = music.generate_music(8.0, RATE, seed=seed).astype(np.float64)
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    assert power[(freqs > 30) & (freqs < 200)].sum() > 0.15 * power.sum()
  bass = librosa.midi_to_hz([n[2] for seed in range(6) for n in
                             music.compose(8.0, seed)["notes"]
                             if n[5] == "bass"])
  assert len(bass) > 50 and 40 < bass.min() and bass.max() < 300
  assert np.median(bass) < 150


def test_piano_partials_are_stretched():
  """Measured peaks sit on h f0 sqrt(1 + B h^2) within a bin (0.5 Hz), far
  from the harmonic h f0 for high h; higher partials decay faster."""
  f0, b = 110.0, 5e-4
  note = instruments.piano(f0, 3.0, 1.0, RATE, np.random.default_rng(0),
                           inharmonicity=b)
  freqs, mag = _spectrum(note, 0.0, 2.0)
  bin_hz = freqs[1]
  predicted = instruments.piano_ratios(15, b) * f0
  for h, f in enumerate(predicted, 1):
    window = np.abs(freqs - f) < 0.3 * f0
    peak = freqs[window][np.argmax(mag[window])]
    assert abs(peak - f) <= bin_hz, (h, peak, f)
    if h >= 10:
      assert abs(h * f0 - f) > 10 * bin_hz
  early = _spectrum(note, 0.1, 0.6)
  late = _spectrum(note, 1.1, 1.6)

  def drop_db(h):
    k = np.argmin(np.abs(early[0] - predicted[h - 1]))
    band = slice(k - 3, k + 4)
    return 20 * np.log10(early[1][band].max() / late[1][band].max())
  assert np.mean([drop_db(h) for h in (10, 11, 12)]) > (
      np.mean([drop_db(h) for h in (1, 2, 3)]) + 3)


def test_hammer_attack_is_fast_and_velocity_sets_brightness():
  loud = instruments.piano(262.0, 1.0, 1.0, RATE, np.random.default_rng(1))
  soft = instruments.piano(262.0, 1.0, 0.3, RATE, np.random.default_rng(1))
  assert _rise_time(loud) < 0.005
  assert _centroid(loud, 0.0, 0.5) > 1.3 * _centroid(soft, 0.0, 0.5)
  assert np.sqrt(np.mean(loud ** 2)) > 2 * np.sqrt(np.mean(soft ** 2))


def test_pluck_brightness_falls_over_the_note():
  note = instruments.pluck(220.0, 1.5, 0.9, RATE, np.random.default_rng(2))
  assert _rise_time(note) < 0.005
  assert _centroid(note, 0.0, 0.1) > 1.3 * _centroid(note, 0.8, 1.0)


def test_strings_vibrato_rate_depth_and_slow_attack():
  """The fundamental's instantaneous frequency (numpy analytic signal)
  swings at the vibrato rate by the vibrato depth."""
  f0 = 440.0
  note = instruments.strings(f0, 2.5, 0.8, RATE, np.random.default_rng(3),
                             vibrato_hz=6.0, cents=30.0)
  spectrum = np.fft.fft(note)
  freqs = np.fft.fftfreq(len(note), 1 / RATE)
  analytic = np.fft.ifft(spectrum * 2 * ((freqs > f0 - 100)
                                         & (freqs < f0 + 100)))
  inst = np.diff(np.unwrap(np.angle(analytic))) * RATE / (2 * np.pi)
  seg = inst[int(1.0 * RATE):int(2.3 * RATE)]
  seg = seg - seg.mean()
  mod = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 10 * RATE))
  rate_hz = np.fft.rfftfreq(10 * RATE, 1 / RATE)[np.argmax(mod)]
  assert abs(rate_hz - 6.0) < 0.3, rate_hz
  depth_cents = 1200 * np.log2(1 + np.sqrt(2) * seg.std() / f0)
  assert 24 < depth_cents < 36, depth_cents
  assert _rise_time(note) > 0.015
  plain = instruments.strings(f0, 2.5, 0.8, RATE, np.random.default_rng(3))
  assert np.max(np.abs(plain)) > 0   # drawn vibrato settings render too


def test_tremolo_modulates_at_its_rate():
  gain = synth.tremolo(2 * RATE, RATE, 4.0, 0.3, np.random.default_rng(0))
  assert gain.max() == pytest.approx(1.0, abs=1e-3)
  assert gain.min() == pytest.approx(0.7, abs=1e-3)
  mod = np.abs(np.fft.rfft(gain - gain.mean()))
  assert np.fft.rfftfreq(len(gain), 1 / RATE)[np.argmax(mod)] == 4.0


def _flux_peak(x):
  """Time, s, of the largest positive spectral flux (numpy STFT, hop 128)."""
  hop, size = 128, 512
  frames = np.stack([x[i:i + size] * np.hanning(size)
                     for i in range(0, len(x) - size, hop)])
  mag = np.abs(np.fft.rfft(frames, axis=1))
  flux = np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)
  return (np.argmax(flux) + 1) * hop / RATE + size / 2 / RATE


@pytest.mark.parametrize("kind", ["kick", "snare", "hat", "clap", "tom"])
def test_drum_onsets_are_sharp(kind):
  hit = drums.DRUMS[kind](0.8, RATE, np.random.default_rng(4))
  assert np.max(np.abs(hit)) == pytest.approx(0.8)
  x = np.zeros(RATE)
  start = int(0.3 * RATE)
  x[start:start + len(hit)] += hit[:RATE - start]
  assert abs(_flux_peak(x) - 0.3) < 0.015
  assert np.max(np.abs(hit[:int(0.01 * RATE)])) > 0.5 * np.max(np.abs(hit))


def test_kick_sweeps_down_and_cymbals_are_high():
  t = np.arange(RATE // 2) / RATE
  sweep = drums.swept_sine(len(t), RATE, 180.0, 50.0, 0.03, 10.0)
  cycles = (50 * t + 130 * 0.03 * (1 - np.exp(-t / 0.03)))   # integral of f
  crossings = np.count_nonzero(np.diff(np.signbit(sweep)))
  assert abs(crossings - 2 * cycles[-1]) <= 2
  kick = drums.kick(1.0, RATE, np.random.default_rng(5))
  assert _centroid(kick, 0.005, 0.03) > 1.3 * _centroid(kick, 0.1, 0.3)
  hat = drums.hat(1.0, RATE, np.random.default_rng(5))
  assert _centroid(hat, 0.0, 0.1) > 5000
  assert np.sum(hat[int(0.1 * RATE):] ** 2) < 0.01 * np.sum(hat ** 2)


def _rt60(impulse):
  """Schroeder backward integration: 3 x the -5 .. -25 dB time (T20)."""
  edc = np.cumsum(impulse[::-1] ** 2)[::-1]
  db = 10 * np.log10(edc / edc[0])
  return 3 * (np.argmax(db <= -25) - np.argmax(db <= -5)) / RATE


def _band(x, low=None, high=None):
  """x zero-padded x4 through a linear-taper (25 %) low / high-pass: a
  brick wall would ring longer than the decay it measures."""
  n = 4 * len(x)
  freqs = np.fft.rfftfreq(n, 1 / RATE)
  gain = np.ones(len(freqs))
  if low:
    gain *= np.clip((freqs - low) / (0.25 * low), 0, 1)
  if high:
    gain *= np.clip((high - freqs) / (0.25 * high), 0, 1)
  return np.fft.irfft(np.fft.rfft(x, n) * gain, n)


@pytest.mark.parametrize("rt60", [0.3, 0.8, 1.4])
def test_room_decay_matches_rt60(rt60):
  rng = np.random.default_rng(6)
  impulse = rooms.room_impulse(rt60, RATE, rng)
  assert np.sum(impulse ** 2) == pytest.approx(1.0)
  assert _rt60(impulse) == pytest.approx(rt60, rel=0.2)
  dark = rooms.room_impulse(rt60, RATE, rng, hf_ratio=0.5)
  assert _rt60(_band(dark, high=1000)) == pytest.approx(rt60, rel=0.2)
  assert _rt60(_band(dark, low=4000)) == pytest.approx(0.5 * rt60, rel=0.2)


def test_mic_gain_by_hand():
  """+-1.5 dB/octave around 1 kHz is -3 / 0 / +3 dB at 250 / 1k / 4k Hz; a
  2 dB bell is 2 dB at its centre and 2 exp(-2) dB an octave away; the
  25 Hz 2nd-order high-pass is -3 dB there and 1/sqrt(1 + 2.5^4) at 10 Hz."""
  db = 20 * np.log10(rooms.mic_gain(np.array([250.0, 1000.0, 4000.0]), 1.5))
  np.testing.assert_allclose(db, [-3.0, 0.0, 3.0], atol=0.01)
  bell = 20 * np.log10(rooms.mic_gain(np.array([3000.0, 6000.0]), 0.0,
                                      bell_hz=3000.0, bell_db=2.0))
  np.testing.assert_allclose(bell, [2.0, 2 * np.exp(-2)], atol=0.01)
  low = rooms.mic_gain(np.array([25.0, 10.0]), 0.0)
  np.testing.assert_allclose(low, [2 ** -0.5, 1 / np.sqrt(1 + 2.5 ** 4)],
                             rtol=1e-3)


def test_gaps_are_silent_and_nothing_starts_in_them():
  seed = next(s for s in range(40) if any(
      g1 < 12.0 for _, g1 in music.compose(12.0, s)["gaps"]))
  score = music.compose(12.0, seed)
  gaps = [g for g in score["gaps"] if g[1] < 12.0]
  starts = [n[0] for n in score["notes"]] + [d[0] for d in score["drums"]]
  # (timing jitter may pull a phrase's first note a few ms into its gap)
  assert not any(g0 <= t < g1 - 0.03 for g0, g1 in gaps for t in starts)
  rng = np.random.default_rng([seed, 1])
  dry = music.render_score(score, 12 * RATE, RATE, rng)[:12 * RATE]
  g0, g1 = gaps[0]
  tail = dry[int((g0 + g1) / 2 * RATE):int(g1 * RATE)]
  assert np.sqrt(np.mean(tail ** 2)) < 0.1 * np.sqrt(np.mean(dry ** 2))


def test_velocity_follows_the_phrase_crescendo():
  ctx = score_parts.Context(root=57, scale=music.SCALES["minor"], beat=0.5,
                            meter=4, progression=(0, 3, 4, 0),
                            sevenths=False, swing=0.0)
  phrase = dict(start=0.0, first_bar=0, bars=4, levels=(-14.0, 0.0),
                parts=("melody",))
  notes = score_parts.melody_part(ctx, phrase, np.random.default_rng(7))
  early = [v for t, _, _, v in notes if t < 2.0]
  late = [v for t, _, _, v in notes if t >= 6.0]
  assert np.mean(late) > 2.5 * np.mean(early)
  assert all(t + d <= 8.0 + 1e-9 for t, d, _, _ in notes)


def test_scores_are_polyphonic_and_varied():
  """Several notes at once (bass under melody), several timbres a piece;
  tempi, meters, genres and drum styles vary over seeds."""
  scores = [music.compose(8.0, seed) for seed in range(20)]
  for score in scores[:6]:
    notes = score["notes"]
    bar_starts = np.arange(0.0, 8.0, score["meter"] * 60 / score["tempo"])
    sounding = [sum(n[0] <= t + 0.01 < n[0] + n[1] for n in notes)
                for t in bar_starts]
    assert np.median(sounding) >= 3, sounding
    assert len({n[4] for n in notes}) >= 2
  tempi = [s["tempo"] for s in scores]
  assert max(tempi) - min(tempi) > 50
  assert {s["meter"] for s in scores} == {3, 4}
  assert len({s["genre"] for s in scores}) >= 3
  assert len({s["drum_style"] for s in scores}) >= 3
