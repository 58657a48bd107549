"""Log-mel oracles: `dsp.log_mel` vs librosa float64."""

import librosa
import numpy as np
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.dsp.mel import log_mel_blocks
from tests.conftest import load_music, music_windows


def _reference_log_mel(windows, config):
  """librosa/numpy float64 oracle of the DESIGN.md convention."""
  pad = config.mel_padding
  basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft,
                              n_mels=config.n_mels, fmin=config.fmin,
                              fmax=config.mel_fmax, norm="slaney", htk=False)
  out = []
  for w in windows.astype(np.float64):
    padded = np.pad(w, pad, mode="reflect")
    mag = np.abs(librosa.stft(padded, n_fft=config.n_fft,
                              hop_length=config.hop_length,
                              win_length=config.win_length, window="hann",
                              center=False))
    out.append(np.log10(np.maximum(basis @ mag, config.log_floor)).T)
  return np.stack(out)


def test_log_mel_matches_librosa_on_music(config):
  windows = music_windows(config, 8)
  mel = dsp.log_mel(windows, config).numpy()
  assert mel.shape == (8, config.frames_per_window, config.n_mels)
  err = np.abs(mel - _reference_log_mel(windows, config))
  assert err.max() < 1e-3 and err.mean() < 1e-5, (err.max(), err.mean())


def test_log_mel_frames_for_any_hop_multiple(config):
  audio = np.random.default_rng(0).uniform(-1, 1, (2, 100 * config.hop_length))
  assert dsp.log_mel(audio.astype(np.float32), config).shape == (
      2, 100, config.n_mels)


def test_log_mel_floor_on_silence(config):
  mel = dsp.log_mel(np.zeros((1, config.window), np.float32), config).numpy()
  np.testing.assert_allclose(mel, np.log10(config.log_floor), rtol=1e-6)


def test_log_mel_in_graph_with_unknown_batch(config):
  fn = tf.function(lambda a: dsp.log_mel(a, config),
                   input_signature=[tf.TensorSpec([None, config.window])])
  assert fn(tf.zeros([3, config.window])).shape == (3, 32, config.n_mels)


def _music(config, seconds, seed):
  audio, _ = load_music(config.sample_rate, seconds=seconds, seed=seed)
  return audio[:len(audio) // config.hop_length * config.hop_length]


def test_log_mel_blocks_equals_one_shot_log_mel():
  config = tiny_config()
  audio = _music(config, 3.0, seed=3)
  expected = dsp.log_mel(audio[None], config).numpy()[0]
  got = log_mel_blocks(audio, config, block_frames=37)      # many odd blocks
  assert got.shape == expected.shape and got.dtype == np.float32
  assert np.abs(got - expected).max() < 1e-4
  # One block, and a block per frame, give the same frames.
  np.testing.assert_allclose(log_mel_blocks(audio, config), got, atol=1e-4)
  head = audio[:40 * config.hop_length]
  np.testing.assert_allclose(log_mel_blocks(head, config, block_frames=1),
                             dsp.log_mel(head[None], config).numpy()[0],
                             atol=1e-4)
  # A partial last frame is dropped, as by log_mel.
  short = log_mel_blocks(audio[:-10], config, block_frames=37)
  one_shot = dsp.log_mel(audio[None, :-10], config).numpy()[0]
  assert short.shape == one_shot.shape == (len(expected) - 1, config.n_mels)
  assert np.abs(short - one_shot).max() < 1e-4


def test_log_mel_blocks_matches_librosa(config):
  audio = _music(config, 2.0, seed=4)
  got = log_mel_blocks(audio, config, block_frames=29)
  err = np.abs(got - _reference_log_mel(audio[None], config)[0])
  assert err.max() < 1e-3 and err.mean() < 1e-5, (err.max(), err.mean())


def test_log_mel_blocks_window_shorter_than_fft():
  config = tiny_config(win_length=768)
  audio = _music(config, 1.0, seed=5)
  expected = dsp.log_mel(audio[None], config).numpy()[0]
  got = log_mel_blocks(audio, config, block_frames=10)
  assert got.shape == expected.shape
  assert np.abs(got - expected).max() < 1e-4
