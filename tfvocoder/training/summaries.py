"""TensorBoard summaries: scalars, audio, and spectrogram images.

Images are log-mel spectrograms `[frames, mels]` drawn with low frequencies
at the bottom, scaled to [0, 1] over a fixed dB-like range so real and
generated images are comparable across steps.
"""

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig


def write_scalars(writer, step: int, values: Dict[str, float]) -> None:
  with writer.as_default(step=step):
    for name, value in values.items():
      tf.summary.scalar(name, value)


def spectrogram_image(log_mel: tf.Tensor, low: float, high: float) -> tf.Tensor:
  """`[batch, frames, mels]` log10 values -> `[batch, mels, frames, 1]` in [0,1]."""
  image = (tf.cast(log_mel, tf.float32) - low) / (high - low)
  image = tf.clip_by_value(image, 0.0, 1.0)
  image = tf.reverse(tf.transpose(image, [0, 2, 1]), axis=[1])
  return image[..., None]


def band_spectrogram(band: tf.Tensor, fft_length: int) -> tf.Tensor:
  """log10 |STFT| of one band `[batch, samples]` -> `[batch, frames, bins]`."""
  spec = tf.abs(tf.signal.stft(band, frame_length=fft_length,
                               frame_step=fft_length // 4,
                               fft_length=fft_length, pad_end=True))
  return tf.math.log(tf.maximum(spec, 1e-5)) / np.log(10.0)


def write_examples(writer, step: int, config: VocoderConfig,
                   real_audio: tf.Tensor, real_mel: tf.Tensor,
                   fake_audio: tf.Tensor,
                   fake_bands: Sequence[tf.Tensor] = None,
                   max_outputs: int = 3) -> None:
  """Real vs generated audio, their log-mel images and the difference.

  Args:
    real_audio, fake_audio: `[batch, samples]`.
    real_mel: `[batch, frames, n_mels]`, the conditioning.
    fake_bands: the multiscale model's generated bands (largest first).
  """
  fake_mel = dsp.log_mel(fake_audio, config)
  low, high = np.log10(config.log_floor), 1.0
  with writer.as_default(step=step):
    tf.summary.audio("audio/real", real_audio[..., None], config.sample_rate,
                     max_outputs=max_outputs)
    tf.summary.audio("audio/generated", fake_audio[..., None],
                     config.sample_rate, max_outputs=max_outputs)
    tf.summary.image("mel/real", spectrogram_image(real_mel, low, high),
                     max_outputs=max_outputs)
    tf.summary.image("mel/generated", spectrogram_image(fake_mel, low, high),
                     max_outputs=max_outputs)
    difference = tf.abs(fake_mel - real_mel)
    tf.summary.image("mel/abs_difference",
                     spectrogram_image(difference, 0.0, 2.0),
                     max_outputs=max_outputs)
    tf.summary.scalar("eval/mel_l1", tf.reduce_mean(difference))
    for k, band in enumerate(fake_bands or []):
      spec = band_spectrogram(tf.cast(band, tf.float32), 256)
      tf.summary.image(f"bands/generated_band_{k}",
                       spectrogram_image(spec, -4.0, 2.0),
                       max_outputs=max_outputs)
