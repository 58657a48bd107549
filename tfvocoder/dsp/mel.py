"""Log-mel spectrogram: the vocoder's conditioning (see `log_mel`), and
`log_mel_blocks`, the same log-mel of one long signal in bounded memory."""

import functools

import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig

MEL_BLOCK_FRAMES = 2 ** 12     # `log_mel_blocks`' default frames per block


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


def _padded_magnitude(padded: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """|STFT| of already reflect-padded audio `[batch, samples + 2 pad]`."""
  spec = tf.signal.stft(
      padded, frame_length=config.win_length, frame_step=config.hop_length,
      fft_length=config.n_fft, window_fn=tf.signal.hann_window, pad_end=False)
  return tf.abs(spec)


def _log10_mel(magnitude: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """`log10(max(mel_basis @ magnitude, log_floor))` over the last axis."""
  basis = tf.constant(mel_basis(config).T, tf.float32)  # [bins, mels]
  mel = tf.tensordot(magnitude, basis, axes=1)
  return tf.math.log(tf.maximum(mel, config.log_floor)) / np.log(10.0)


def stft_magnitude(audio: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """|STFT| of reflect-padded audio.

  Args:
    audio: `[batch, samples]` float32, samples divisible by hop_length.
  Returns:
    `[batch, samples / hop_length, n_fft // 2 + 1]` float32 magnitudes.
  """
  pad = config.mel_padding
  padded = tf.pad(audio, [[0, 0], [pad, pad]], mode="REFLECT")
  return _padded_magnitude(padded, config)


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
  return _log10_mel(stft_magnitude(audio, config), config)


def log_mel_blocks(audio: np.ndarray, config: VocoderConfig,
                   block_frames: int = MEL_BLOCK_FRAMES) -> np.ndarray:
  """`log_mel` of one long signal, computed `block_frames` frames at a time.

  The signal is reflect-padded once, like `log_mel` pads it; each block runs
  `log_mel`'s STFT and mel on the slice of the padded signal that holds
  exactly its frames. So memory is bounded by the block, and the frames are
  those of one `log_mel` call on the whole signal (same count, same values
  up to float rounding).

  Args:
    audio: `[samples]` float in [-1, 1], at `config.sample_rate`; any length
      over `config.mel_padding` samples (like `log_mel`, a partial last
      frame is dropped).
    config: the signal settings.
    block_frames: mel frames per block (> 0).
  Returns:
    `[frames, n_mels]` float32 with `frames = log_mel(audio[None])` frames,
    `floor(samples / hop_length)` for the usual n_fft / hop_length.
  """
  if block_frames < 1:
    raise ValueError(f"block_frames must be >= 1; got {block_frames}")
  hop = config.hop_length
  padded = np.pad(np.asarray(audio, np.float32).reshape(-1),
                  config.mel_padding, mode="reflect")
  frames = max(0, (len(padded) - config.win_length) // hop + 1)
  out = np.empty((frames, config.n_mels), np.float32)
  for a in range(0, frames, block_frames):
    b = min(a + block_frames, frames)
    segment = padded[a * hop:(b - 1) * hop + config.win_length]
    out[a:b] = _log10_mel(_padded_magnitude(segment[None], config),
                          config).numpy()[0]
  return out
