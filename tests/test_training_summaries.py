"""Summaries: example audio/images, spectrogram images, progress lines."""

import logging
import types

from absl import logging as absl_logging
import numpy as np
import tensorflow as tf

import training_fixtures
from tfvocoder import dsp, training
from tfvocoder.config import tiny_config
from tfvocoder.training import summaries


def test_example_summaries(tmp_path):
  config = tiny_config()
  batch = training_fixtures.batch(config, 2)
  writer = tf.summary.create_file_writer(str(tmp_path))
  fake = 0.5 * batch["audio"]
  summaries.write_examples(writer, 7, config, batch["audio"], batch["mel"],
                           fake, dsp.split_bands(fake, config))
  writer.flush()
  values = {}
  for path in tf.io.gfile.glob(str(tmp_path / "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        values[v.tag] = v
  assert {"audio/real", "audio/generated", "mel/real", "mel/generated",
          "mel/abs_difference", "eval/mel_l1"} | {
              f"bands/generated_band_{k}" for k in range(config.n_bands)
          } <= set(values)
  # Halving the amplitude shifts every unclamped log-mel by log10(2).
  mel_l1 = tf.make_ndarray(values["eval/mel_l1"].tensor)
  assert abs(float(mel_l1) - np.log10(2)) < 0.05
  image = tf.io.decode_png(
      tf.make_ndarray(values["mel/real"].tensor)[2])   # [mels, frames, 1]
  assert image.shape == (config.n_mels, config.frames_per_window, 1)


def test_spectrogram_image_puts_low_mels_at_the_bottom():
  log_mel = np.zeros([1, 3, 4], np.float32)      # [batch, frames, mels]
  log_mel[0, :, 0] = 1.0                         # lowest mel channel loud
  log_mel[0, :, 3] = -5.0                        # highest below the range
  image = summaries.spectrogram_image(log_mel, -1.0, 1.0).numpy()
  assert image.shape == (1, 4, 3, 1)             # [batch, mels, frames, 1]
  np.testing.assert_allclose(image[0, :, :, 0],
                             [[0.0] * 3, [0.5] * 3, [0.5] * 3, [1.0] * 3])


def test_progress_lines_average_the_steps_since_the_last(tmp_path, caplog):
  rate = tf.Variable(1e-4)
  trainer = types.SimpleNamespace(
      config=tiny_config(), g_optimizer=types.SimpleNamespace(
          learning_rate=rate), d_optimizer=types.SimpleNamespace(
              learning_rate=rate))
  options = training.TrainOptions(model_dir=str(tmp_path), batch_size=2,
                                  summary_every=2, max_steps=5)
  report = summaries.TrainingReport(trainer, options, examples=None)
  caplog.set_level(logging.INFO)
  verbosity = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.INFO)   # an earlier test may lower it
  report.begin(0)
  for step, loss in enumerate([1.0, 3.0, 5.0, 9.0, 7.0], start=1):
    report.add(step, {"g_loss": loss, "d_loss": 2.0})
  report.end(5)
  absl_logging.set_verbosity(verbosity)
  lines = [r.getMessage() for r in caplog.records
           if r.getMessage().startswith("step ")]
  assert [line.split(" steps/s=")[0] for line in lines] == [
      "step 2 d_loss=2.0000 g_loss=2.0000",
      "step 4 d_loss=2.0000 g_loss=7.0000",
      "step 5 d_loss=2.0000 g_loss=7.0000"]
  assert summaries.format_values({"b": 2, "a": 0.5}) == "a=0.5000 b=2.0000"


def test_read_scalars_returns_what_write_scalars_wrote(tmp_path):
  writer = tf.summary.create_file_writer(str(tmp_path / "train"))
  for step, value in ((20, 0.5), (10, 0.75), (30, 0.25)):
    summaries.write_scalars(writer, step, {"g_mel_l1": value, "other": 1.0})
  writer.flush()
  got = summaries.read_scalars(str(tmp_path), ["g_mel_l1", "missing"])
  assert got == {"g_mel_l1": [(10, 0.75), (20, 0.5), (30, 0.25)]}
  (tmp_path / "train" / "events.out.broken").write_bytes(b"\x01" * 40)
  assert summaries.read_scalars(str(tmp_path), ["g_mel_l1"]) == got
