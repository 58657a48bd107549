"""tfvocoder.evaluation.systems: model dirs and Griffin-Lim behind one
`vocode(mel)`, lined up with unique names and slugs; every system's output
sample-aligned with its reference."""

import os

import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.dsp.mel import log_mel_blocks
from tfvocoder.evaluation import EvaluateError, systems
from tfvocoder.evaluation.griffin_lim import griffin_lim
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.models import MultiscaleGenerator
from vocoder_models import music_mel


def test_bad_model_dirs_name_the_path(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(EvaluateError, match=str(empty / "config.json")):
    systems.load_model(str(empty))
  (empty / "config.json").write_text(tiny_config().to_json())
  with pytest.raises(EvaluateError,
                     match=f"{empty}: no checkpoint"):
    systems.load_model(str(empty))
  with pytest.raises(EvaluateError, match="does not exist"):
    systems.load_model(str(tmp_path / "nowhere"))
  a, b = tiny_config(), tiny_config(n_mels=16)
  with pytest.raises(EvaluateError, match="n_mels"):
    systems.check_compatible(["a", "b"], [a, b])


def test_lineup_names_slugs_and_order(tmp_path_factory, tmp_path):
  ms, mg = eval_fixtures.shared_model_dirs(tmp_path_factory)
  twin = str(tmp_path / "tiny_ms")                 # same base name as ms
  os.symlink(ms, twin)
  lineup = systems.load_systems([ms, twin, mg], gl_iters=4, seed=5)
  assert [s.name for s in lineup.systems] == [
      "tiny_ms (multiscale)", "tiny_ms (multiscale) #2", "tiny_mg (melgan)",
      "Griffin-Lim"]
  assert [s.slug for s in lineup.systems] == [
      "tiny_ms_multiscale", "tiny_ms_multiscale_2", "tiny_mg_melgan",
      "griffin_lim"]
  assert lineup.real == "real"
  assert lineup.config == tiny_config(model="multiscale", seed=0)
  gl = lineup.systems[-1]
  assert (gl.kind, gl.n_iter, gl.seed) == ("griffin_lim", 4, 5)
  described = lineup.systems[0].describe()
  assert described["kind"] == "model" and described["model"] == "multiscale"
  assert described["model_dir"] == os.path.abspath(ms)
  assert described["parameters"]["total"] > 0
  assert described["gflops_per_audio_second"] > 0
  assert gl.describe()["parameters"] is None
  assert systems.slug("real", {"real"}) == "real_2"
  assert systems.slug("  ", set()) == "system"


def test_every_system_vocodes_a_mel(tmp_path_factory):
  ms, _ = eval_fixtures.shared_model_dirs(tmp_path_factory)
  lineup = systems.load_systems([ms], gl_iters=4, seed=1, batch_size=2)
  config = lineup.config
  mels = [music_mel(config, n, seed=n) for n in (20, 12, 20, 20)]
  model, gl = lineup.systems
  outputs = model.vocode_all(mels)           # batches of equal lengths
  for mel, out in zip(mels, outputs):
    assert out.shape == (len(mel) * config.hop_length,)
    assert np.abs(out).max() <= 1.0
    np.testing.assert_allclose(out, model.vocode(mel), atol=1e-5)
  # Griffin-Lim: example i seeded seed + i, vocode() seeded seed.
  gl_out = gl.vocode_all(mels[:2])
  np.testing.assert_array_equal(gl_out[1], griffin_lim(mels[1], config, 4, 2))
  np.testing.assert_array_equal(gl.vocode(mels[0]), gl_out[0])
  speed = gl.timings(mels[1], repeats=1)["librosa"]
  assert speed["x_real_time"] > 0 and speed["seconds"] > 0


# ---------------------------------------------------------------------------
# Alignment: every system's output lines up with its reference sample for
# sample (no metric may depend on a delay search; a one-hop delay is what
# dropped Griffin-Lim's ViSQOL from 4.6 to 1.0 with the C++ tool).
# ---------------------------------------------------------------------------
def peak_lag(reference, output, max_lag: int) -> int:
  """The lag d in [-max_lag, max_lag] maximising sum_n output[n + d]
  reference[n] (d > 0: the output is late), by FFT."""
  n = 2 * (len(reference) + len(output))
  corr = np.fft.irfft(np.fft.rfft(output, n) *
                      np.conj(np.fft.rfft(reference, n)), n)
  lags = np.arange(-max_lag, max_lag + 1)
  return int(lags[np.argmax(corr[lags % n])])


def envelope(audio, smooth: int = 16):
  """Energy envelope `[samples]`: |analytic signal|^2 (numpy Hilbert
  transform) averaged over `smooth` samples, mean removed."""
  n = len(audio)
  weights = np.zeros(n)
  weights[0] = weights[n // 2] = 1.0
  weights[1:(n + 1) // 2] = 2.0
  energy = np.abs(np.fft.ifft(np.fft.fft(audio) * weights)) ** 2
  energy = np.convolve(energy, np.ones(smooth) / smooth, "same")
  return energy - energy.mean()


def _delayed(audio, samples: int):
  return np.concatenate([np.zeros(samples), audio[:len(audio) - samples]])


def test_peak_lag_finds_a_known_delay():
  x = np.random.default_rng(0).standard_normal(4096)
  assert peak_lag(x, x, 500) == 0
  assert peak_lag(x, _delayed(x, 256), 500) == 256
  assert peak_lag(_delayed(x, 100), x, 500) == -100
  assert peak_lag(envelope(x), envelope(_delayed(x, 37)), 500) == 37


def test_griffin_lim_output_is_aligned():
  # Griffin-Lim keeps no phase, so its waveform hardly correlates with the
  # real one (music: peak at a random lag); its energy does, sharply, for
  # clicks. Oracle: the envelope of a seeded click train.
  config = tiny_config()
  rng = np.random.default_rng(0)
  clicks = 1e-3 * rng.standard_normal(22016)
  at = np.cumsum(rng.integers(1500, 3000, 10))
  at = at[at < 21000]
  clicks[at] = 0.9 * rng.choice([-1.0, 1.0], len(at))
  mel = log_mel_blocks(clicks.astype(np.float32), config)
  gl = systems.GriffinLimSystem("Griffin-Lim", "griffin_lim", config, seed=0)
  out = gl.vocode_all([mel])[0]
  assert out.shape == clicks.shape
  hop, tolerance = config.hop_length, config.hop_length // 8
  lag = peak_lag(envelope(clicks), envelope(out), 4 * hop)
  assert abs(lag) <= tolerance, lag                  # measured: 0
  # The check would catch an output one hop (256 samples) late.
  late = peak_lag(envelope(clicks), envelope(_delayed(out, hop)), 4 * hop)
  assert abs(late - hop) <= tolerance, late


class _IdealBands:
  """A multiscale generator that outputs the exact bands
  (`dsp.split_bands`) of the audio each mel was computed from: what
  training drives a generator to; its `generate_audio` is the real one
  (`dsp.merge_bands` of the bands)."""

  target_key = "bands"
  generate_audio = MultiscaleGenerator.generate_audio

  def __init__(self, config, audios):
    self.config = config
    self.pairs = [(log_mel_blocks(a, config), a) for a in audios]

  def _audio_of(self, mel):
    return [a for m, a in self.pairs if np.array_equal(m, mel)][0]

  def __call__(self, mel, training=False):
    del training
    return dsp.split_bands(np.stack([self._audio_of(m) for m in mel]),
                           self.config)


def test_model_system_output_is_aligned():
  # The model path (batching by length, the generator's band merge): an
  # ideal generator's output through a ModelSystem is the reference itself,
  # so its cross-correlation peaks at lag 0, not e.g. at one hop.
  config = tiny_config(model="multiscale")
  music, _ = load_music(config.sample_rate, seconds=3.0, seed=1)
  unit = 64 * config.hop_length                   # 16 384 samples
  audios = [0.5 * music[i * unit:(i + 1) * unit] for i in range(3)]
  audios.insert(1, 0.5 * music[3 * unit:3 * unit + unit // 2])
  system = systems.ModelSystem(
      "ideal", "ideal", config, generator=_IdealBands(config, audios),
      batch_size=2)
  outputs = system.vocode_all([log_mel_blocks(a, config) for a in audios])
  for audio, out in zip(audios, outputs):
    assert out.shape == audio.shape
    assert peak_lag(audio, out, 4 * config.hop_length) == 0
    assert snr_db(audio, out) > 60


def _support(layer, mel, sample):
  """The mel frames `[lo, hi]` output sample `sample` of `layer` depends
  on (gradient support; `layer` maps mel to `[1, samples]`)."""
  mel = tf.constant(mel)
  with tf.GradientTape() as tape:
    tape.watch(mel)
    out = layer(mel)[0, sample]
  rows = np.flatnonzero(np.any(tape.gradient(out, mel).numpy()[0] != 0, 1))
  return rows.min(), rows.max()


def test_model_networks_are_centred_on_their_frames(tmp_path_factory):
  # Mel frame t is centred on samples [t hop, (t + 1) hop) (`dsp.log_mel`);
  # a generator that renders frame t there depends, for the first sample of
  # frame f0, on the frames f0 - a .. f0 + b and, for its last sample, on
  # f0 - b .. f0 + a: mirror images. An output late by one hop (256 samples,
  # or one band hop) would depend on frames one earlier: f0 - a - 1 ..
  # f0 + b - 1 and f0 - b - 1 .. f0 + a - 1, no longer mirrors. Checked on
  # the MelGAN output and on every multiscale band before the merge (which
  # `test_model_system_output_is_aligned` covers).
  ms, mg = eval_fixtures.shared_model_dirs(tmp_path_factory)
  lineup = systems.load_systems([ms, mg], gl_iters=1)
  config = lineup.config
  frames, f0 = 32, 16
  mel = music_mel(config, frames, seed=2)[None]
  multiscale, melgan = (s.generator for s in lineup.systems[:2])
  streams = [(melgan, config.hop_length)] + list(
      zip(multiscale.band_generators, config.band_hops))
  for layer, hop in streams:
    lo, hi = _support(layer, mel, f0 * hop)
    lo_last, hi_last = _support(layer, mel, (f0 + 1) * hop - 1)
    assert (f0 - lo, hi - f0) == (hi_last - f0, f0 - lo_last), (layer.name,
                                                                 lo, hi)
    assert f0 - lo > 0 and hi - f0 > 0
