"""Size, arithmetic cost and speed of a generator (shared by `evaluate` and
`benchmarks`).

FLOPs are analytic: 2 x the multiply-adds the model reports
(`generator.multiply_adds_per_frame()`: every convolution and frozen filter
bank; biases, activations and the multiscale band merge not counted) times
mel frames per second. Speed is measured: one warm-up call (tracing), then
the best of `repeats` timed calls; "x real time" is audio seconds generated
per wall-clock second.
"""

import math
import os
import tempfile
import time
from typing import Callable, Dict, Optional

import numpy as np

from absl import logging

from tfvocoder.config import VocoderConfig


def flops_per_audio_second(generator) -> float:
  """Analytic FLOPs (2 x multiply-adds) to generate one second of audio."""
  return 2.0 * generator.multiply_adds_per_frame() * generator.config.frame_rate


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
  """Wall seconds of the fastest of `repeats` calls of `fn()`, after one
  untimed warm-up call. `fn` must block until its result is ready."""
  fn()
  best = math.inf
  for _ in range(max(1, repeats)):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def speed_mel(config: VocoderConfig, seconds: float, seed: int = 0
             ) -> np.ndarray:
  """A `[frames, n_mels]` float32 log-mel of about `seconds` of synthetic
  music (speed does not depend on the content, but keep it realistic)."""
  from tfvocoder import dsp
  from tfvocoder.data import music
  frames = max(1, math.ceil(seconds * config.frame_rate))
  n = frames * config.hop_length
  music = music.generate_music(n / config.sample_rate + 0.1,
                                   config.sample_rate, seed=seed)[:n]
  return dsp.log_mel(music[None].astype(np.float32), config).numpy()[0]


def keras_speed(generator, mel: np.ndarray, repeats: int) -> Dict[str, float]:
  """x real time of `generator.generate_audio` on one `[frames, n_mels]`
  mel under a fixed-shape `tf.function`: {"seconds", "x_real_time"}."""
  import tensorflow as tf
  config = generator.config
  batch = tf.constant(np.asarray(mel, np.float32)[None])
  fn = tf.function(generator.generate_audio, input_signature=[
      tf.TensorSpec(batch.shape, tf.float32)])
  elapsed = best_seconds(lambda: fn(batch).numpy(), repeats)
  audio_seconds = len(mel) / config.frame_rate
  return {"seconds": elapsed, "x_real_time": audio_seconds / elapsed}


def tf_gemm_gflops(repeats: int = 3, n: int = 2048) -> float:
  """Measured float32 GEMM rate of TensorFlow, GFLOP/s: the roofline that
  convolutions are compared against."""
  import tensorflow as tf
  a = tf.random.normal([n, n], seed=1)
  b = tf.random.normal([n, n], seed=2)
  matmul = tf.function(lambda: tf.matmul(a, b))
  return 2 * n ** 3 / best_seconds(lambda: matmul().numpy(), repeats) / 1e9


def tflite_speed(model_dir: str, export_dir: Optional[str], mel: np.ndarray,
                 repeats: int, threads: int) -> Dict:
  """x real time of `tfvocoder.inference.Vocoder` over the fp32 TFLite file
  of `export_dir` (None: the model dir is exported to a temporary dir) on
  one `[frames, n_mels]` mel: {"seconds", "x_real_time"}, or {"error":
  why} when the export or the runtime is not available."""
  try:
    from tfvocoder.inference import Vocoder
    with tempfile.TemporaryDirectory() as tmp:
      if not export_dir:
        try:
          from tfvocoder.export import export_model
        except ImportError:
          from export import export_model
        logging.info("exporting %s to TFLite (fp32 timing)", model_dir)
        export_model(model_dir, tmp, formats=("tflite",), check_parity=False)
      path = os.path.join(export_dir or tmp, "vocoder_fp32.tflite")
      if not os.path.isfile(path):
        return {"error": f"{path}: missing"}
      vocoder = Vocoder(path, num_threads=threads)
      elapsed = best_seconds(lambda: vocoder.vocode(mel), repeats)
  except Exception as e:  # noqa: BLE001 -- report, do not fail the evaluation
    logging.warning("TFLite timing of %s not available: %s", model_dir, e)
    first = (str(e).splitlines() or [""])[0][:200]
    return {"error": f"{type(e).__name__}: {first}"}
  seconds = len(mel) / vocoder.config.frame_rate
  return {"seconds": elapsed, "x_real_time": seconds / elapsed}
