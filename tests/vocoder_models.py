"""Test helpers for export / inference / vocode: tiny models, exports, bands.

A freshly initialised generator (weights ~ N(0, 0.02)) is nearly silent:
the tiny MelGAN's output is ~1e-20, where denormal flushing (XNNPACK,
oneDNN) decides the result. `healthy_generator` re-draws every convolution
kernel with He scaling (std sqrt(2 / fan_in)), like a briefly trained model,
and sets the output level (multiscale bands RMS 0.1, MelGAN about 0.3
before its tanh): same architecture, audible unsaturated output.

Exports are made once per test session (`exported`), from a model dir
written the way training writes it (config.json + CheckpointManager).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfvocoder import export
from tfvocoder.config import tiny_config
from tfvocoder.models.layers import WeightNormalization

# The TFLite chunk sizes used by the test exports (frames; powers of two).
CHUNK_FRAMES = 64
MERGE_FRAMES = 2 ** 7

_EXPORTS = {}


def healthy_generator(config, seed: int = 0):
  """`build_generator(config)` with He-scaled kernels (see module doc)."""
  from tfvocoder.models import build_generator
  keras.utils.set_random_seed(seed)
  generator = build_generator(config)
  rng = np.random.default_rng(seed)
  layers = generator._flatten_layers()  # pylint: disable=protected-access
  for layer in layers:
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv1DTranspose)):
      kernel = layer.kernel
      k, a, b = kernel.shape
      if isinstance(layer, keras.layers.Conv1DTranspose):
        fan_in = k / layer.strides[0] * b      # kernel [k, out, in]
      else:
        fan_in = k * a                         # kernel [k, in / groups, out]
      kernel.assign(rng.normal(0, np.sqrt(2 / fan_in), kernel.shape)
                    .astype(np.float32))
  for layer in layers:
    if isinstance(layer, WeightNormalization):
      layer.g.assign(np.asarray(layer._norm(layer.layer.kernel)).reshape(-1))  # pylint: disable=protected-access
  mel = music_mel(config, 64, seed=seed)[None]
  rms = lambda x: float(np.sqrt(np.mean(np.square(x))))
  if generator.target_key == "bands":
    # LeakyReLU is positively homogeneous: scaling a band's last upsampling
    # layer scales the band. Bring each band to an RMS of 0.1 (Snake is
    # not homogeneous: a few rounds bring it close).
    for _ in range(3 if config.activation == "snake" else 1):
      for band, out in zip(generator.band_generators, generator(mel)):
        _scale_conv(band.upsample[-1], 0.1 / rms(out))
  else:
    # MelGAN: the output convolution's gain sets the level before tanh;
    # measure it in tanh's linear range, then aim at an RMS of 0.3 (He
    # scaling alone saturates tanh almost everywhere).
    gain = generator.conv_out.g
    gain.assign(gain * 1e-4)
    gain.assign(gain * 0.3 / rms(generator.generate_audio(mel)))
  return generator


def _scale_conv(layer, scale: float) -> None:
  """Multiplies a (weight-normalised or plain) conv's output by `scale`."""
  if isinstance(layer, WeightNormalization):
    layer.g.assign(layer.g * scale)
    layer = layer.layer
  else:
    layer.kernel.assign(layer.kernel * scale)
  layer.bias.assign(layer.bias * scale)


def write_model_dir(model_dir: str, config, generator) -> str:
  """A model dir as training leaves it: config.json and a checkpoint."""
  os.makedirs(model_dir, exist_ok=True)
  checkpoint = tf.train.Checkpoint(generator=generator,
                                   step=tf.Variable(1, dtype=tf.int64))
  path = tf.train.CheckpointManager(checkpoint, model_dir, 2).save()
  with open(os.path.join(model_dir, "config.json"), "w") as f:
    f.write(config.to_json())
  return path


def exported(tmp_path_factory, model: str, **overrides):
  """(output_dir, report, generator, config): a tiny `model` (with config
  `overrides`) exported once per session with every format."""
  key = (model, tuple(sorted(overrides.items())))
  if key not in _EXPORTS:
    config = tiny_config(model=model, **overrides)
    generator = healthy_generator(config)
    root = tmp_path_factory.mktemp(f"export_{model}")
    model_dir = str(root / "model")
    write_model_dir(model_dir, config, generator)
    output_dir = str(root / "out")
    report = export.export_model(
        model_dir, output_dir, chunk_frames=CHUNK_FRAMES,
        merge_frames=MERGE_FRAMES)
    _EXPORTS[key] = (output_dir, report, generator, config)
  return _EXPORTS[key]


def music_mel(config, frames: int, seed: int = 0) -> np.ndarray:
  """`[frames, n_mels]` log-mel of real music (or the generated stand-in)."""
  from conftest import load_music
  from tfvocoder import dsp
  samples = frames * config.hop_length
  audio, _ = load_music(config.sample_rate,
                        seconds=samples / config.sample_rate + 0.5, seed=seed)
  audio = np.resize(audio, samples)          # repeats if the file is short
  return dsp.log_mel(audio[None], config).numpy()[0]


def random_bands(config, num_samples: int, batch: int = 2, seed: int = 0):
  """White-noise bands `[batch, num_samples / 2**k]` float32, largest first:
  energy at every bin, band edges included."""
  rng = np.random.default_rng(seed)
  return [rng.standard_normal((batch, num_samples // 2 ** k)).astype(np.float32)
          for k in range(config.n_bands)]
