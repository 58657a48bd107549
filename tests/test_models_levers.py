"""Recipe levers of the multiscale model: init, weight norm, band scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import conv_oracles as npc
from tfvocoder import dsp
from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.dsp import bands as bands_lib
from tfvocoder.models import parameter_counts
from tfvocoder.models.layers import WeightNormalization
from tfvocoder.models.multiscale import (MultiscaleDiscriminator,
                                         MultiscaleGenerator)


def _mel(config, frames, batch=1, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(-2.0, 1.0, (batch, frames, config.n_mels)).astype(
      np.float32)


# --- init -------------------------------------------------------------------
@pytest.mark.parametrize("activation, gain", [
    ("leaky_relu", 2 / (1 + 0.2 ** 2)), ("snake", 1.0)])
def test_he_init_std_matches_the_formula(activation, gain):
  keras.utils.set_random_seed(0)
  config = VocoderConfig(init="he", activation=activation)
  band = MultiscaleGenerator(config).band_generators[0]
  # Conv1D [7, 128 mels, 128]: fan_in = 7 * 128.
  kernel = band.embed.kernel.numpy()
  np.testing.assert_allclose(kernel.std(), np.sqrt(gain / (7 * 128)),
                             rtol=0.02)
  # Conv1DTranspose [2f, out, in], stride f: 2 taps of 128 inputs reach an
  # output sample, so Var = gain / 256 (not Keras's fan_in 2f * out).
  for layer in band.upsample:
    np.testing.assert_allclose(layer.kernel.numpy().std(),
                               np.sqrt(gain / (2 * 128)), rtol=0.02)
  judge = MultiscaleDiscriminator(config).band_discriminators[0]
  np.testing.assert_allclose(judge.downsample[0].kernel.numpy().std(),
                             np.sqrt(gain / (7 * 128)), rtol=0.02)


def test_he_init_preserves_the_second_moment_through_upsampling():
  keras.utils.set_random_seed(1)
  config = VocoderConfig(init="he")
  layer = MultiscaleGenerator(config).band_generators[0].upsample[0]  # f = 4
  x = np.random.default_rng(1).standard_normal((4, 256, 128)).astype(
      np.float32)
  y = layer(x).numpy() - layer.bias.numpy()
  gain = 2 / (1 + config.leaky_slope ** 2)
  assert abs(np.mean(y ** 2) / gain - 1) < 0.1, np.mean(y ** 2)
  # The reference's N(0, 0.02): 256 * 0.02**2 = 0.1 of the input's.
  keras.utils.set_random_seed(1)
  normal = MultiscaleGenerator(VocoderConfig()).band_generators[0].upsample[0]
  y = normal(x).numpy()
  np.testing.assert_allclose(np.mean(y ** 2), 256 * 0.02 ** 2, rtol=0.1)


# --- weight normalisation -------------------------------------------------------
def _set_random_wn(generator, rng):
  """Random v and g everywhere, so kernel = g v / ||v|| differs from v."""
  for layer in generator._flatten_layers():  # pylint: disable=protected-access
    if isinstance(layer, WeightNormalization):
      v = layer.layer.kernel
      v.assign(rng.normal(0, 0.1, v.shape).astype(np.float32))
      layer.layer.bias.assign(rng.normal(0, 0.1, layer.layer.bias.shape)
                              .astype(np.float32))
      layer.g.assign(rng.uniform(0.5, 2.0, layer.g.shape).astype(np.float32))


def _numpy_wn_band(band_layer, mel, config):
  """A band from its WN weights (effective kernel g v / ||v||), numpy."""
  embed = band_layer.embed
  w = npc.weight_norm(embed.layer.kernel.numpy().astype(np.float64),
                      embed.g.numpy())
  x = npc.leaky_relu(npc.conv1d(npc.pad(mel, 3, 3), w,
                                embed.layer.bias.numpy()))
  for f, layer in zip(config.band_factors[band_layer.band],
                      band_layer.upsample):
    w = npc.weight_norm(layer.layer.kernel.numpy().astype(np.float64),
                        layer.g.numpy(), transpose=True)
    x = npc.conv_transpose1d(x, w, layer.layer.bias.numpy(), f, f // 2,
                             x.shape[0] * f)
    x = npc.leaky_relu(x)
  return npc.synthesis(x, dsp.band_filter_bank(band_layer.band, config)
                       .astype(np.float64))


def test_weight_normalised_generator_matches_numpy_and_trains():
  config = tiny_config(gen_weight_norm=True)
  keras.utils.set_random_seed(2)
  generator = MultiscaleGenerator(config)
  plain = MultiscaleGenerator(config.replace(gen_weight_norm=False))
  # One g per output channel of each conv: the only extra weights.
  extra = sum(config.gen_channels * len(row) + config.filter_bank_filters
              for row in config.band_factors)
  assert (parameter_counts(generator)["trainable"]
          == parameter_counts(plain)["trainable"] + extra)
  # Geometry sees through the wrapper.
  assert generator.receptive_field_frames == plain.receptive_field_frames
  assert (generator.multiply_adds_per_frame()
          == plain.multiply_adds_per_frame())
  _set_random_wn(generator, np.random.default_rng(2))
  mel = _mel(config, 8, seed=2)
  bands = generator(mel)
  for k in (0, 4):
    expected = _numpy_wn_band(generator.band_generators[k], mel[0], config)
    np.testing.assert_allclose(bands[k].numpy()[0], expected, rtol=0,
                               atol=1e-4 * np.abs(expected).max())
  with tf.GradientTape() as tape:
    loss = tf.add_n([tf.reduce_mean(tf.square(b)) for b in generator(mel)])
  grads = tape.gradient(loss, generator.trainable_weights)
  for weight, grad in zip(generator.trainable_weights, grads):
    assert grad is not None and np.any(grad.numpy() != 0), weight.path


def test_weight_normalised_generator_saves_and_loads(tmp_path):
  config = tiny_config(gen_weight_norm=True)
  keras.utils.set_random_seed(3)
  generator = MultiscaleGenerator(config)
  _set_random_wn(generator, np.random.default_rng(3))
  mel = _mel(config, 16, seed=3)
  path = str(tmp_path / "generator.keras")
  generator.save(path)
  loaded = keras.saving.load_model(path)
  assert loaded.config == config
  for a, b in zip(loaded(mel), generator(mel)):
    np.testing.assert_array_equal(a, b)
  ckpt = tf.train.Checkpoint(generator=generator).save(str(tmp_path / "ckpt"))
  fresh = MultiscaleGenerator(config)
  tf.train.Checkpoint(generator=fresh).restore(
      ckpt).assert_existing_objects_matched()
  for a, b in zip(fresh(mel), generator(mel)):
    np.testing.assert_array_equal(a, b)


# --- band scaling -------------------------------------------------------------
def _orthonormal_split(audio, config):
  """The reference's split in numpy: orthonormal rFFT of the whole signal,
  band k's bins (`band_bins`) kept, orthonormal irFFT at the band length."""
  n = audio.shape[-1]
  spectrum = np.fft.rfft(audio, norm="ortho")
  bands = []
  for k in range(config.n_bands):
    m = n // 2 ** k
    low, high = dsp.band_bins(k, m, config)
    sub = np.zeros(m // 2 + 1, complex)
    sub[low:high] = spectrum[low:high]
    bands.append(np.fft.irfft(sub, n=m, norm="ortho"))
  return bands


def test_reference_band_gains_are_the_orthonormal_split_over_ours():
  config = VocoderConfig()
  gains = bands_lib.reference_band_gains(config)
  np.testing.assert_allclose(gains, [1, 2 ** 0.5, 2, 2 ** 1.5, 4], rtol=1e-12)
  audio = np.random.default_rng(4).standard_normal(config.window)
  ours = dsp.split_bands(audio[None].astype(np.float32), config)
  for k, (ref, band) in enumerate(zip(_orthonormal_split(audio, config),
                                      ours)):
    band = band.numpy()[0].astype(np.float64)
    np.testing.assert_allclose(ref, gains[k] * band, rtol=0,
                               atol=1e-5 * np.abs(ref).max())
  three = tiny_config(n_bands=3, band_factors=VocoderConfig().band_factors[:3])
  assert bands_lib.reference_band_gains(three) == (1.0, 2 ** 0.5, 2.0)


def test_band_scaling_divides_outputs_and_multiplies_judge_inputs():
  config = tiny_config()
  scaled = config.replace(band_scaling=True)
  gains = bands_lib.reference_band_gains(config)
  keras.utils.set_random_seed(5)
  generator, discriminator = (MultiscaleGenerator(config),
                              MultiscaleDiscriminator(config))
  generator_s, discriminator_s = (MultiscaleGenerator(scaled),
                                  MultiscaleDiscriminator(scaled))
  generator_s.set_weights(generator.get_weights())
  discriminator_s.set_weights(discriminator.get_weights())
  mel = _mel(config, 16, 2, seed=5)
  plain_bands, scaled_bands = generator(mel), generator_s(mel)
  for k, (a, b) in enumerate(zip(plain_bands, scaled_bands)):
    np.testing.assert_allclose(b.numpy() * gains[k], a.numpy(), rtol=1e-6,
                               atol=1e-6 * np.abs(a.numpy()).max())
  # Judges of the scaled model on (the model's own) bands = the plain
  # judges on bands times g_k: the judges see the reference's bands.
  real = [tf.random.normal([2, 16 * h], stddev=0.1, seed=k)
          for k, h in enumerate(config.band_hops)]
  got = discriminator_s(real, mel)
  expected = discriminator([r * g for r, g in zip(real, gains)], mel)
  assert len(got) == len(expected) == config.n_bands + 1
  for (ja, fa), (jb, fb) in zip(got, expected):
    np.testing.assert_allclose(ja, jb, rtol=1e-5, atol=1e-6)
    for x, y in zip(fa, fb):
      np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  # The audio is unchanged: the merge of the scaled model's bands is the
  # merge of its network's outputs over g_k.
  np.testing.assert_allclose(
      generator_s.generate_audio(mel),
      dsp.merge_bands([a / g for a, g in zip(plain_bands, gains)], config),
      rtol=0, atol=1e-6)
