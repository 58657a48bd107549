"""What a training run reports: progress lines, TensorBoard summaries.

`TrainingReport` is the loop's reporter: the progress line and scalars
every `summary_every` steps, the held-out mel L1 at the start and end, and
real vs generated audio and spectrogram images every 10 summaries.

Images are log-mel spectrograms `[frames, mels]` drawn with low frequencies
at the bottom, scaled to [0, 1] over a fixed dB-like range so real and
generated images are comparable across steps.
"""

import glob
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.training import losses


def format_values(values: Dict[str, float]) -> str:
  """`{"b": 2, "a": 1}` -> `"a=1.0000 b=2.0000"` (sorted by name)."""
  return " ".join(f"{k}={v:.4f}" for k, v in sorted(values.items()))


def write_scalars(writer, step: int, values: Dict[str, float]) -> None:
  """One scalar summary per `values` entry, at `step`."""
  with writer.as_default(step=step):
    for name, value in values.items():
      tf.summary.scalar(name, value)


def read_scalars(log_dir: str, tags: Sequence[str]
                 ) -> Dict[str, List[Tuple[int, float]]]:
  """{tag: [(step, value), ...] in step order} of the scalar summaries
  `write_scalars` wrote under `log_dir` (every event file below it), for
  the `tags` found. An unreadable event file is skipped with a warning."""
  found = {}
  for path in sorted(glob.glob(os.path.join(log_dir, "**", "events.out.*"),
                               recursive=True)):
    try:
      for record in tf.data.TFRecordDataset(path):
        event = tf.compat.v1.Event.FromString(record.numpy())
        for value in event.summary.value:
          if value.tag in tags and value.HasField("tensor"):
            found.setdefault(value.tag, []).append(
                (int(event.step), float(tf.make_ndarray(value.tensor))))
    except tf.errors.OpError as e:
      logging.warning("%s: unreadable event file, skipped (%s)", path,
                      e.message)
  return {tag: sorted(points) for tag, points in found.items()}


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


def generate(trainer, mel: tf.Tensor):
  """The trainer's generator on a held-out mel, in float32.

  Args:
    trainer: a `GANTrainer`.
    mel: `[batch, frames, n_mels]`.
  Returns:
    (bands or None, audio `[batch, frames * hop]`); bands (multiscale model
    only) largest first.
  """
  output = trainer.generator(mel, training=False)
  if trainer.target_key == "bands":
    bands = [tf.cast(b, tf.float32) for b in output]
    return bands, dsp.merge_bands(bands, trainer.config)
  return None, tf.cast(output, tf.float32)


def held_out_mel_l1(trainer, examples: Dict[str, tf.Tensor]) -> float:
  """Mean |log-mel(generated) - conditioning| on the fixed held-out batch.

  Args:
    trainer: a `GANTrainer`.
    examples: {"mel": `[batch, frames, n_mels]`, ...}.
  """
  _, audio = generate(trainer, examples["mel"])
  return float(tf.reduce_mean(losses.mel_l1(examples["mel"], audio,
                                            trainer.config)))


class TrainingReport:
  """Progress lines, scalars, held-out mel L1 and examples of a run.

  Between summary steps it sums each step's losses; every `summary_every`
  steps and at `max_steps` it logs their means with the speed and writes
  them as scalars (a no-op writer off the chief), and on the chief every
  `10 * summary_every` steps it writes the held-out examples.

  Args:
    trainer: the `GANTrainer` being trained.
    options: the run's `TrainOptions` (model_dir, batch_size,
      summary_every, max_steps).
    examples: the fixed held-out batch {"mel", "audio"} on the chief, None
      on other workers (which log no held-out mel L1 either).
  """

  def __init__(self, trainer, options,
               examples: Optional[Dict[str, tf.Tensor]]):
    self.trainer = trainer
    self.examples = examples
    self.chief = examples is not None
    self.summary_every = options.summary_every
    self.max_steps = options.max_steps
    self.writer = tf.summary.create_file_writer(
        os.path.join(options.model_dir, "train")) if self.chief else \
        tf.summary.create_noop_writer()
    config = trainer.config
    self.audio_per_step = (options.batch_size * config.window /
                           config.sample_rate)       # seconds
    self._start_window()

  def _start_window(self):
    self._window_start, self._window_steps = time.perf_counter(), 0
    self._sums: Dict[str, float] = {}

  def _log_held_out(self, step: int) -> None:
    if self.chief:
      logging.info("held-out mel L1 at step %d: %.4f", step,
                   held_out_mel_l1(self.trainer, self.examples))

  def begin(self, step: int) -> None:
    """Log the held-out mel L1 at the first step; start the speed clock."""
    self._log_held_out(step)
    self._start_window()

  def add(self, step: int, values: Dict[str, float]) -> None:
    """Count one step's losses; report when `step` is a summary step."""
    for k, v in values.items():
      self._sums[k] = self._sums.get(k, 0.0) + v
    self._window_steps += 1
    if step % self.summary_every == 0 or step == self.max_steps:
      self._summarize(step)
      if self.chief and step % (self.summary_every * 10) == 0:
        self._write_examples(step)
      self._start_window()

  def _summarize(self, step: int) -> None:
    """The progress line and scalars: mean losses since the last one."""
    rate = self._window_steps / (time.perf_counter() - self._window_start)
    means = {k: v / self._window_steps for k, v in self._sums.items()}
    logging.info("step %d %s steps/s=%.2f audio_s/s=%.2f", step,
                 format_values(means), rate, rate * self.audio_per_step)
    trainer = self.trainer
    scalars = dict(
        means, steps_per_sec=rate,
        audio_seconds_per_sec=rate * self.audio_per_step,
        learning_rate_g=float(trainer.g_optimizer.learning_rate.numpy()),
        learning_rate_d=float(trainer.d_optimizer.learning_rate.numpy()))
    write_scalars(self.writer, step, scalars)

  def _write_examples(self, step: int) -> None:
    mel = self.examples["mel"]
    bands, audio = generate(self.trainer, mel)
    write_examples(self.writer, step, self.trainer.config,
                   self.examples["audio"], mel, audio, bands)
    self.writer.flush()

  def end(self, step: int) -> None:
    """Log the held-out mel L1 at the last step; flush the summaries."""
    self._log_held_out(step)
    self.writer.flush()
