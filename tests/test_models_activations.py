"""Snake activation (`activation="snake"`) in both generators."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import conv_oracles as npc
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.models import (activations, base, build_generator,
                              parameter_counts)
from tfvocoder.models.melgan import MelGANGenerator
from tfvocoder.models.multiscale import MultiscaleGenerator


def snake(x, alpha):
  """BigVGAN's Snake in numpy: x + sin^2(alpha x) / (alpha + 1e-9)."""
  return x + np.sin(alpha * x) ** 2 / (alpha + 1e-9)


def test_snake_matches_numpy_and_guards_alpha_zero():
  layer = activations.Snake(4)
  layer.build()
  np.testing.assert_array_equal(layer.alpha.numpy(), np.ones(4))
  alpha = np.array([1.0, 3.0, 1e-12, 0.0], np.float32)
  layer.alpha.assign(alpha)
  x = np.random.default_rng(0).normal(0, 2, (2, 50, 4)).astype(np.float32)
  y = layer(x).numpy()
  np.testing.assert_allclose(y, snake(x.astype(np.float64), alpha), rtol=1e-5,
                             atol=1e-5)
  # alpha -> 0: f(x) -> x (alpha x^2 for small alpha), never NaN.
  assert np.all(np.isfinite(y))
  np.testing.assert_array_equal(y[..., 3], x[..., 3])
  # Period pi / alpha in the bump: f(x + pi / alpha) = f(x) + pi / alpha.
  x0 = np.linspace(-3, 3, 7, dtype=np.float32)[None, :, None] * np.ones(4)
  shifted = x0 + np.float32(np.pi) / np.array([1, 3, 1, 1], np.float32)
  diff = layer(shifted).numpy() - layer(x0).numpy()
  np.testing.assert_allclose(diff[..., :2], (shifted - x0)[..., :2],
                             atol=1e-5)


def _numpy_snake_band(band_layer, mel, config):
  """One multiscale sub-generator with Snake activations, numpy."""
  acts = [a.alpha.numpy().astype(np.float64)
          for a in base.layers_of(band_layer, "act")]
  w, b = [v.numpy().astype(np.float64) for v in band_layer.embed.weights]
  x = snake(npc.conv1d(npc.pad(mel, 3, 3), w, b), acts[0])
  factors = config.band_factors[band_layer.band]
  for f, layer, alpha in zip(factors, band_layer.upsample, acts[1:]):
    w, b = [v.numpy().astype(np.float64) for v in layer.weights]
    x = snake(npc.conv_transpose1d(x, w, b, f, f // 2, x.shape[0] * f), alpha)
  return npc.synthesis(x, dsp.band_filter_bank(band_layer.band, config)
                       .astype(np.float64))


def test_multiscale_snake_generator_matches_numpy():
  config = tiny_config(activation="snake")
  keras.utils.set_random_seed(1)
  generator = MultiscaleGenerator(config)
  rng = np.random.default_rng(1)
  for band in generator.band_generators:
    for act in base.layers_of(band, "act"):
      act.alpha.assign(rng.uniform(0.5, 3.0, act.alpha.shape)
                       .astype(np.float32))
  # One alpha per channel after the embedding and each upsampling.
  plain = MultiscaleGenerator(config.replace(activation="leaky_relu"))
  alphas = sum(config.gen_channels * len(row) + config.filter_bank_filters
               for row in config.band_factors)
  assert (parameter_counts(generator)["trainable"]
          == parameter_counts(plain)["trainable"] + alphas)
  assert generator.receptive_field_frames == plain.receptive_field_frames
  mel = np.random.default_rng(2).normal(-2, 1, (1, 8, config.n_mels)).astype(
      np.float32)
  bands = generator(mel)
  for k in (0, 3):
    expected = _numpy_snake_band(generator.band_generators[k], mel[0], config)
    np.testing.assert_allclose(bands[k].numpy()[0], expected, rtol=0,
                               atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_snake_generators_train_save_and_load(model, tmp_path):
  config = tiny_config(model=model, activation="snake")
  keras.utils.set_random_seed(3)
  generator = build_generator(config)
  snakes = [layer for layer in generator._flatten_layers()  # pylint: disable=protected-access
            if isinstance(layer, activations.Snake)]
  if model == "melgan":
    # One before each upsampling and conv_out, two per residual block.
    ratios = len(config.melgan_ratios)
    assert len(snakes) == ratios + 1 + 2 * ratios * len(
        config.melgan_residual_dilations)
    assert isinstance(generator, MelGANGenerator)
  else:
    assert len(snakes) == sum(len(row) + 1 for row in config.band_factors)
  mel = np.random.default_rng(3).normal(-2, 1, (1, 16, config.n_mels)).astype(
      np.float32)
  with tf.GradientTape() as tape:
    out = generator(mel, training=True)
    loss = tf.add_n([tf.reduce_mean(tf.square(x)) for x in tf.nest.flatten(
        out)])
  grads = tape.gradient(loss, [s.alpha for s in snakes])
  assert all(g is not None and np.any(g.numpy() != 0) for g in grads)
  for s in snakes:
    s.alpha.assign(s.alpha * 1.5)
  path = str(tmp_path / "generator.keras")
  generator.save(path)
  loaded = keras.saving.load_model(path)
  for a, b in zip(tf.nest.flatten(loaded(mel)), tf.nest.flatten(
      generator(mel))):
    np.testing.assert_array_equal(a, b)
