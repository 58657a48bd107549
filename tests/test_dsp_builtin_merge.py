"""The builtin-op band merge equals `dsp.merge_bands` and converts to TFLite."""

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.dsp import builtin_merge
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference.runtime import tflite_op_names
from vocoder_models import random_bands


def test_irfft_builtin_matches_numpy():
  rng = np.random.default_rng(1)
  for n in (16, 64, 1000):
    spectrum = (rng.standard_normal((3, n // 2 + 1))
                + 1j * rng.standard_normal((3, n // 2 + 1)))
    spectrum[:, 0] = spectrum[:, 0].real      # a real signal's DC and Nyquist
    spectrum[:, -1] = spectrum[:, -1].real
    expected = np.fft.irfft(spectrum, n)
    got = builtin_merge.irfft_builtin(
        tf.constant(spectrum.real, tf.float32),
        tf.constant(spectrum.imag, tf.float32)).numpy()
    assert got.shape == (3, n)
    assert snr_db(expected, got) > 100


def test_merge_matches_fft_merge_on_real_music():
  config = VocoderConfig()
  audio, _ = load_music(config.sample_rate, seconds=3.0, seed=1)
  n = len(audio) // config.window * config.window
  bands = dsp.split_bands(audio[None, :n], config)
  expected = dsp.merge_bands(bands, config).numpy()
  got = builtin_merge.merge_bands_builtin(bands, config).numpy()
  assert got.shape == (1, n)
  assert snr_db(expected, got) >= 40
  assert snr_db(expected, got) > 100        # same math, float rounding only
  assert snr_db(audio[:n], got[0]) > 100    # perfect reconstruction kept


@pytest.mark.parametrize("frames", [32, 40])
def test_merge_matches_fft_merge_on_random_bands(frames):
  config = VocoderConfig()
  bands = random_bands(config, frames * config.hop_length)
  expected = dsp.merge_bands(bands, config).numpy()
  got = builtin_merge.merge_bands_builtin(bands, config).numpy()
  assert snr_db(expected, got) > 100


def test_merge_with_dynamic_lengths():
  config = VocoderConfig()
  spec = [tf.TensorSpec([None, None], tf.float32)] * config.n_bands
  merge = tf.function(lambda *b: builtin_merge.merge_bands_builtin(b, config),
                      input_signature=spec)
  for frames in (8, 24):
    bands = random_bands(config, frames * config.hop_length, seed=frames)
    assert snr_db(dsp.merge_bands(bands, config), merge(*bands)) > 100


def test_bad_band_lengths_are_rejected():
  config = VocoderConfig()
  bands = random_bands(config, 4 * config.hop_length)
  with pytest.raises(ValueError, match="expects 5 bands"):
    builtin_merge.merge_bands_builtin(bands[:4], config)
  bands[2] = bands[2][:, :-2]
  with pytest.raises(ValueError, match="band 2"):
    builtin_merge.merge_bands_builtin(bands, config)
  with pytest.raises(ValueError, match="power of two"):
    builtin_merge.check_tflite_length(3 * config.hop_length, config)
  builtin_merge.check_tflite_length(4 * config.hop_length, config)


def test_converts_to_builtin_tflite_and_agrees():
  config = VocoderConfig()
  n = 16 * config.hop_length
  builtin_merge.check_tflite_length(n, config)
  spec = [tf.TensorSpec([1, n // 2 ** k], tf.float32, name=f"band_{k}")
          for k in range(config.n_bands)]
  module = tf.Module()
  module.merge = tf.function(
      lambda *b: {"audio": builtin_merge.merge_bands_builtin(b, config)},
      input_signature=spec)
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [module.merge.get_concrete_function()], module)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  model = converter.convert()

  ops = tflite_op_names(model)
  assert "RFFT2D" in ops
  assert not [op for op in ops if op.startswith("CUSTOM")]

  interpreter = Interpreter(model_content=model, num_threads=1)
  runner = interpreter.get_signature_runner()
  audio, _ = load_music(config.sample_rate, seconds=1.0, seed=2)
  for bands in (dsp.split_bands(audio[None, :n], config),
                random_bands(config, n, batch=1, seed=3)):
    bands = [np.asarray(b) for b in bands]
    got = runner(**{f"band_{k}": b for k, b in enumerate(bands)})["audio"]
    assert snr_db(dsp.merge_bands(bands, config), got) >= 40


def test_merge_cost_is_small():
  config = VocoderConfig()
  macs = builtin_merge.merge_macs_per_second(2 ** 7 * config.hop_length, config)
  # A few MMAC per audio second, three orders below the generators.
  assert 1e5 < macs < 2e7


def test_smooth_merge_alone_differs_near_edges_only():
  config = VocoderConfig()
  bands = random_bands(config, 200 * config.hop_length, batch=1, seed=9)
  expected = dsp.merge_bands(bands, config).numpy()[0]
  smooth = builtin_merge.merge_bands_smooth(bands, config).numpy()[0]
  assert snr_db(expected, smooth) < 40          # the edges matter here
  error = np.abs(np.fft.rfft(expected - smooth))
  freqs = np.fft.rfftfreq(len(expected), 1 / config.sample_rate)
  edges = [e for low, high in config.band_edges_hz for e in (low, high)
           if 0 < e < config.sample_rate / 2]
  near = np.min(np.abs(freqs[:, None] - np.array(edges)[None]), axis=1) <= (
      builtin_merge.EDGE_TRANSITION_HZ + 1)
  assert error[~near].max() < 1e-3 * error[near].max()


def test_smooth_merge_is_local():
  """Windows with 32 frames of context reproduce the global smooth merge."""
  config = VocoderConfig()
  frames, core, context = 240, 48, 32
  hop = config.hop_length
  bands = random_bands(config, frames * hop, batch=1, seed=6)
  expected = builtin_merge.merge_bands_smooth(bands, config).numpy()[0]
  out = []
  for p in range(0, frames, core):
    index = np.arange(p - context, p + core + context) % frames
    window = [np.concatenate([b[:, f * h:(f + 1) * h] for f in index], 1)
              for b, h in zip(bands, config.band_hops)]
    merged = builtin_merge.merge_bands_smooth(window, config).numpy()[0]
    out.append(merged[context * hop:(context + core) * hop])
  assert snr_db(expected, np.concatenate(out)) >= 70
