"""Log-mel spectrogram: the vocoder's conditioning (see `log_mel`)."""

import functools

import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig

@functools.lru_cache(maxsize=16)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, fmin: float,
               fmax: float) -> np.ndarray:
  import librosa  # heavy; only needed for the constant basis
  return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels,
                             fmin=fmin, fmax=fmax, htk=False, norm="slaney")


def mel_basis(config: VocoderConfig) -> np.ndarray:
  """librosa's Slaney mel basis, float64 `[n_mels, n_fft // 2 + 1]`."""
  return _mel_basis(config.sample_rate, config.n_fft, config.n_mels,
                    float(config.fmin), config.mel_fmax)


def stft_magnitude(audio: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """|STFT| of reflect-padded audio.

  Args:
    audio: `[batch, samples]` float32, samples divisible by hop_length.
  Returns:
    `[batch, samples / hop_length, n_fft // 2 + 1]` float32 magnitudes.
  """
  pad = config.mel_padding
  padded = tf.pad(audio, [[0, 0], [pad, pad]], mode="REFLECT")
  spec = tf.signal.stft(
      padded, frame_length=config.win_length, frame_step=config.hop_length,
      fft_length=config.n_fft, window_fn=tf.signal.hann_window, pad_end=False)
  return tf.abs(spec)


def log_mel(audio: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """Log10 mel spectrogram, the vocoder's conditioning.

  Args:
    audio: `[batch, samples]` float32 in [-1, 1]; samples a multiple of
      `config.hop_length` (any other length gives `floor(samples / hop)`
      frames).
  Returns:
    `[batch, samples / hop_length, n_mels]` float32,
    `log10(max(mel_basis @ |STFT|, log_floor))`.
  """
  audio = tf.convert_to_tensor(audio, tf.float32)
  magnitude = stft_magnitude(audio, config)
  basis = tf.constant(mel_basis(config).T, tf.float32)  # [bins, mels]
  mel = tf.tensordot(magnitude, basis, axes=1)
  return tf.math.log(tf.maximum(mel, config.log_floor)) / np.log(10.0)
