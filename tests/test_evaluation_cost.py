"""tfvocoder.evaluation.cost: analytic FLOPs, best-of timing, the music mel
speed and parity are measured on, TFLite timing of an export dir."""

import math
import time

import numpy as np

from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.data import music
from tfvocoder.evaluation import cost
from vocoder_models import exported


class _Generator:
  config = tiny_config()

  def multiply_adds_per_frame(self):
    return 1000


def test_flops_per_audio_second():
  generator = _Generator()
  assert cost.flops_per_audio_second(generator) == (
      2 * 1000 * generator.config.sample_rate / generator.config.hop_length)


def test_best_seconds_warms_up_then_keeps_the_best():
  calls = []
  seconds = cost.best_seconds(lambda: calls.append(1), 3)
  assert len(calls) == 4 and 0 <= seconds < 0.1
  calls.clear()
  cost.best_seconds(lambda: calls.append(1), 0)       # at least one timed
  assert len(calls) == 2


def test_interleaved_seconds_times_every_function_in_turns():
  order = []
  fns = {"a": lambda: order.append("a"),
         "b": lambda: (order.append("b"), time.sleep(0.02))}
  timed = cost.interleaved_seconds(fns, 3)
  # One warm-up call each, then three rounds of a, b.
  assert order == ["a", "b"] + ["a", "b"] * 3
  assert sorted(timed) == ["a", "b"] and all(len(v) == 3
                                             for v in timed.values())
  assert all(b >= 0.02 > a for a, b in zip(timed["a"], timed["b"]))
  assert len(cost.interleaved_seconds(fns, 0)["a"]) == 1   # at least one


def test_music_mel_and_speed_mel():
  config = tiny_config()
  mel = cost.music_mel(config, 30, seed=2)
  samples = 30 * config.hop_length
  audio = music.generate_music(samples / config.sample_rate + 0.1,
                               config.sample_rate, seed=2)[:samples]
  np.testing.assert_array_equal(
      mel, dsp.log_mel(audio[None], config).numpy()[0])
  assert mel.shape == (30, config.n_mels) and mel.dtype == np.float32
  speed = cost.speed_mel(config, 0.3, seed=2)
  assert len(speed) == math.ceil(0.3 * config.frame_rate)
  np.testing.assert_array_equal(speed[:20], cost.speed_mel(
      config, 0.3, seed=2)[:20])


def test_error_entry_is_one_short_line():
  entry = cost.error_entry(ValueError("first line\nsecond" + "x" * 300))
  assert entry == {"error": "ValueError: first line"}
  assert len(cost.error_entry(OSError("y" * 500))["error"]) == len(
      "OSError: ") + 200


def test_tflite_speed_of_an_export_dir(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  mel = cost.speed_mel(config, 0.5)
  figure = cost.tflite_speed(out_dir, mel, repeats=1, threads=1)
  assert figure["x_real_time"] > 0
  np.testing.assert_allclose(
      figure["x_real_time"] * figure["seconds"], len(mel) / config.frame_rate)
  assert cost.tflite_speed(str(tmp_path), mel, 1, 1) == {
      "error": f"{tmp_path / cost.TFLITE_FP32}: missing"}
  # A runtime failure is reported, not raised.
  (tmp_path / cost.TFLITE_FP32).write_bytes(b"not a flatbuffer")
  broken = cost.tflite_speed(str(tmp_path), mel, 1, 1)
  assert set(broken) == {"error"} and broken["error"]
