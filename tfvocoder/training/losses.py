"""GAN and auxiliary losses: small pure functions.

Discriminator outputs are lists of `(judgement, feature_maps)` tuples, one
per sub-discriminator (DESIGN.md). Every loss here returns a **per-example**
loss `[batch]` float32; the trainer turns it into the replica's share of the
global-batch mean with `tf.nn.compute_average_loss(per_example,
global_batch_size)` -- the one place loss scaling across replicas happens.
"""

from typing import List, Sequence, Tuple

import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig

Outputs = Sequence[Tuple[tf.Tensor, Sequence[tf.Tensor]]]

# (fft_length, hop, window) of the multi-resolution STFT loss.
STFT_RESOLUTIONS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def _example_mean(x: tf.Tensor) -> tf.Tensor:
  """Mean over every axis but the first: `[batch, ...]` -> `[batch]`."""
  x = tf.cast(x, tf.float32)
  return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def _judgements(outputs: Outputs) -> List[tf.Tensor]:
  return [judgement for judgement, _ in outputs]


# --- adversarial ----------------------------------------------------------
def least_squares_discriminator(real: Outputs, fake: Outputs) -> tf.Tensor:
  """Sum over judgements of mean (D(real) - 1)^2 + mean D(fake)^2: `[batch]`."""
  return tf.add_n([_example_mean(tf.square(r - 1.0)) + _example_mean(
      tf.square(f)) for r, f in zip(_judgements(real), _judgements(fake))])


def least_squares_generator(fake: Outputs) -> tf.Tensor:
  """Sum over judgements of mean (D(fake) - 1)^2: `[batch]`."""
  return tf.add_n([_example_mean(tf.square(f - 1.0))
                   for f in _judgements(fake)])


def hinge_discriminator(real: Outputs, fake: Outputs) -> tf.Tensor:
  """Sum over judgements of mean relu(1 - D(real)) + mean relu(1 + D(fake))."""
  return tf.add_n([_example_mean(tf.nn.relu(1.0 - r)) + _example_mean(
      tf.nn.relu(1.0 + f)) for r, f in zip(_judgements(real),
                                            _judgements(fake))])


def hinge_generator(fake: Outputs) -> tf.Tensor:
  """Sum over judgements of mean -D(fake): `[batch]`."""
  return tf.add_n([-_example_mean(f) for f in _judgements(fake)])


ADVERSARIAL = {
    "least_squares": (least_squares_discriminator, least_squares_generator),
    "hinge": (hinge_discriminator, hinge_generator),
}


def feature_matching(real: Outputs, fake: Outputs) -> tf.Tensor:
  """L1 between real and fake feature maps: `[batch]` (unweighted).

  Each layer's mean absolute difference is weighted 1 / (number of
  sub-discriminators) * 1 / (layers in its group), so every group and every
  group's layers count equally whatever their sizes. Real features are
  constants (no gradient flows into the discriminator's real branch).
  """
  groups = len(real)
  total = []
  for (_, real_maps), (_, fake_maps) in zip(real, fake):
    weight = 1.0 / (groups * len(real_maps))
    for r, f in zip(real_maps, fake_maps):
      total.append(weight * _example_mean(tf.abs(tf.stop_gradient(r) - f)))
  return tf.add_n(total)


# --- auxiliary ------------------------------------------------------------
def multi_resolution_stft(real: tf.Tensor, fake: tf.Tensor,
                          resolutions=STFT_RESOLUTIONS,
                          eps: float = 1e-7) -> tf.Tensor:
  """Spectral convergence + log-magnitude L1, averaged over resolutions.

  Per example and resolution: ||S_r - S_f||_F / ||S_r||_F plus
  mean |ln S_r - ln S_f|, with S = sqrt(|STFT|^2 + eps); the mean of those
  sums over `resolutions`. A gain g gives about |1 - g| + |ln g|.

  Not the same numbers as the MR-STFT *metric*
  (`tfvocoder.evaluation.metrics.mr_stft`): this loss uses the
  (fft_length, hop, window) triples of `STFT_RESOLUTIONS` (Hann windows
  shorter than the FFT, zero-padded; 1024/120/600, 2048/240/1200,
  512/50/240), pads the last frame (`pad_end=True`) and softens the
  magnitude with `eps` so it stays differentiable; the metric uses FFT
  sizes 512/1024/2048 with a full-length window and hop n_fft / 4, frames
  entirely inside the signal, and floors magnitudes at 1e-5. Both use the
  natural log and average SC and log-magnitude over the resolutions, but
  the loss is per example `[batch]` in float32 TF (for gradients), the metric
  one float per pair in numpy (plus per-band values).

  Args:
    real, fake: audio `[batch, samples]`.
    resolutions: (fft_length, hop, window) triples, samples.
    eps: added to |STFT|^2 before the square root.
  Returns:
    `[batch]` float32.
  """
  total = []
  for fft_length, hop, window in resolutions:
    def magnitude(x):
      spec = tf.signal.stft(tf.cast(x, tf.float32), frame_length=window,
                            frame_step=hop, fft_length=fft_length,
                            window_fn=tf.signal.hann_window, pad_end=True)
      return tf.sqrt(tf.square(tf.math.real(spec)) +
                     tf.square(tf.math.imag(spec)) + eps)
    real_mag, fake_mag = magnitude(real), magnitude(fake)
    sc = (tf.norm(tf.reshape(real_mag - fake_mag, [tf.shape(real)[0], -1]),
                  axis=1) /
          tf.norm(tf.reshape(real_mag, [tf.shape(real)[0], -1]), axis=1))
    log_l1 = _example_mean(tf.abs(tf.math.log(real_mag) -
                                  tf.math.log(fake_mag)))
    total.append(sc + log_l1)
  return tf.add_n(total) / len(resolutions)


def mel_l1(real_mel: tf.Tensor, fake_audio: tf.Tensor,
           config: VocoderConfig) -> tf.Tensor:
  """Mean |log-mel(real) - log-mel(fake)|: `[batch]`.

  Args:
    real_mel: `[batch, frames, n_mels]` (the conditioning).
    fake_audio: `[batch, frames * hop]`.
  """
  return _example_mean(tf.abs(real_mel - dsp.log_mel(
      tf.cast(fake_audio, tf.float32), config)))
