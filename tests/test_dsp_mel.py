"""Log-mel oracles: `dsp.log_mel` vs librosa float64."""

import librosa
import numpy as np
import tensorflow as tf

from tfvocoder import dsp
from tests.conftest import music_windows


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
