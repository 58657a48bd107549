"""Size, arithmetic cost and speed of a generator (shared by `evaluate`,
`benchmarks` and the export parity check).

FLOPs are analytic: 2 x the multiply-adds the model reports
(`generator.multiply_adds_per_frame()`: every convolution and frozen filter
bank; biases, activations and the multiscale band merge not counted) times
mel frames per second. Speed is measured: one warm-up call (tracing), then
the best of `repeats` timed calls; "x real time" is audio seconds generated
per wall-clock second.

This module only measures: it never exports. The TFLite timing takes the
directory of an existing export (`python -m export` output); a caller that
has none exports first (`tfvocoder.evaluation.run` does).
"""

import math
import os
import time
from typing import Callable, Dict, List

from absl import logging
import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.data import music
from tfvocoder.dsp.mel import log_mel
from tfvocoder.inference import Vocoder

TFLITE_FP32 = "vocoder_fp32.tflite"     # the file timed in an export dir


def flops_per_audio_second(generator) -> float:
  """Analytic FLOPs (2 x multiply-adds) to generate one second of audio."""
  return 2.0 * generator.multiply_adds_per_frame() * generator.config.frame_rate


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
  """Wall seconds of the fastest of `repeats` calls of `fn()`, after one
  untimed warm-up call. `fn` must block until its result is ready."""
  return min(interleaved_seconds({"fn": fn}, repeats)["fn"])


def interleaved_seconds(fns: Dict[str, Callable[[], object]], repeats: int
                        ) -> Dict[str, List[float]]:
  """Wall seconds of each of `fns`, timed in turns: after one untimed
  warm-up call each, `repeats` rounds that call every function once, in
  order. Round r of every list was timed in the same stretch of time, so
  ratios taken round by round cancel much of a noisy machine's drift.

  Returns:
    {name: [seconds of round 0, round 1, ...]}, `max(1, repeats)` each.
  """
  for fn in fns.values():
    fn()
  out = {name: [] for name in fns}
  for _ in range(max(1, repeats)):
    for name, fn in fns.items():
      start = time.perf_counter()
      fn()
      out[name].append(time.perf_counter() - start)
  return out


def music_mel(config: VocoderConfig, frames: int, seed: int = 0
              ) -> np.ndarray:
  """The log-mel of `frames` frames of the built-in seeded synthetic music
  (`tfvocoder.data.music`): what speed and parity are measured on (speed
  does not depend on the content, but keep it realistic).

  Args:
    config: the signal settings.
    frames: mel frames (>= 1).
    seed: seeds the music.
  Returns:
    `[frames, n_mels]` float32, `log_mel` of `frames * hop_length` samples.
  """
  samples = frames * config.hop_length
  audio = music.generate_music(samples / config.sample_rate + 0.1,
                               config.sample_rate, seed=seed)[:samples]
  return log_mel(audio[None].astype(np.float32), config).numpy()[0]


def speed_mel(config: VocoderConfig, seconds: float, seed: int = 0
              ) -> np.ndarray:
  """`music_mel` of about `seconds` of audio (whole frames, at least one):
  `[ceil(seconds * frame_rate), n_mels]` float32."""
  return music_mel(config, max(1, math.ceil(seconds * config.frame_rate)),
                   seed)


def error_entry(error: BaseException) -> Dict[str, str]:
  """{"error": "<type>: <first line, 200 characters at most>"}: how a
  figure that could not be measured is reported."""
  first = (str(error).splitlines() or [""])[0][:200]
  return {"error": f"{type(error).__name__}: {first}"}


def keras_speed(generator, mel: np.ndarray, repeats: int) -> Dict[str, float]:
  """x real time of `generator.generate_audio` on one `[frames, n_mels]`
  mel under a fixed-shape `tf.function`: {"seconds", "x_real_time"}."""
  config = generator.config
  batch = tf.constant(np.asarray(mel, np.float32)[None])
  fn = tf.function(generator.generate_audio, input_signature=[
      tf.TensorSpec(batch.shape, tf.float32)])
  elapsed = best_seconds(lambda: fn(batch).numpy(), repeats)
  audio_seconds = len(mel) / config.frame_rate
  return {"seconds": elapsed, "x_real_time": audio_seconds / elapsed}


def tf_gemm_gflops(repeats: int = 3, n: int = 2048,
                   dtype: tf.DType = tf.float32) -> float:
  """Measured GEMM rate of TensorFlow in `dtype` (float32, or bfloat16 for
  mixed-precision steps), GFLOP/s: the roofline that convolutions are
  compared against."""
  a = tf.cast(tf.random.normal([n, n], seed=1), dtype)
  b = tf.cast(tf.random.normal([n, n], seed=2), dtype)
  matmul = tf.function(lambda: tf.matmul(a, b))
  return 2 * n ** 3 / best_seconds(lambda: matmul().numpy(), repeats) / 1e9


def tflite_speed(export_dir: str, mel: np.ndarray, repeats: int,
                 threads: int) -> Dict:
  """x real time of `tfvocoder.inference.Vocoder` over the fp32 TFLite file
  of an export.

  Args:
    export_dir: a `python -m export` output dir (holding `TFLITE_FP32`).
    mel: `[frames, n_mels]` float32 log-mel vocoded by every timed call.
    repeats: timed calls, best kept (after one warm-up call).
    threads: TFLite interpreter threads.
  Returns:
    {"seconds", "x_real_time"}, or {"error": why} when the file is missing
    or the runtime fails (`error_entry`; logged as a warning).
  """
  path = os.path.join(export_dir, TFLITE_FP32)
  if not os.path.isfile(path):
    return {"error": f"{path}: missing"}
  try:
    vocoder = Vocoder(path, num_threads=threads)
    elapsed = best_seconds(lambda: vocoder.vocode(mel), repeats)
  except Exception as e:  # noqa: BLE001 -- report, do not fail the caller
    logging.warning("TFLite timing of %s not available: %s", path, e)
    return error_entry(e)
  seconds = len(mel) / vocoder.config.frame_rate
  return {"seconds": elapsed, "x_real_time": seconds / elapsed}
