"""layers: frozen filter banks (direct, polyphase), grouped conv, pad, WN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import conv_oracles as npc
from tfvocoder import dsp
from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.models import layers


@pytest.mark.parametrize("length", [1000, 1001])
def test_filter_bank_shapes_and_frozen(config, length):
  conv = layers.FilterBankConv(**layers.band_bank_args(config, 1))
  trans = layers.FilterBankConvTranspose(**layers.band_bank_args(config, 1))
  x = np.random.default_rng(0).standard_normal((2, length)).astype(np.float32)
  y = conv(x)
  assert y.shape == (2, length, config.filter_bank_filters)
  assert trans(y).shape == (2, length)
  for layer in (conv, trans):
    assert not layer.trainable_weights
    assert layer.non_trainable_weights[0].shape == (
        config.filter_bank_filters, config.filter_bank_taps)


def test_filter_bank_analysis_matches_numpy_correlation(config):
  args = layers.band_bank_args(config, 2)
  conv = layers.FilterBankConv(**args)
  x = np.random.default_rng(1).standard_normal(300)
  y = conv(x[None].astype(np.float32)).numpy()[0]
  bank = conv.bank_values().astype(np.float64)
  taps = bank.shape[1]
  padded = np.pad(x, (taps // 2, taps - 1 - taps // 2))
  expected = np.stack([np.correlate(padded, f, mode="valid") for f in bank], 1)
  np.testing.assert_allclose(y, expected, atol=1e-4)


def test_transpose_is_the_adjoint(config):
  args = layers.band_bank_args(config, 0)
  conv, trans = layers.FilterBankConv(**args), layers.FilterBankConvTranspose(
      **args)
  rng = np.random.default_rng(2)
  x = rng.standard_normal((1, 257)).astype(np.float32)
  z = rng.standard_normal((1, 257, config.filter_bank_filters)).astype(
      np.float32)
  lhs = np.sum(conv(x).numpy() * z)            # <A x, z>
  rhs = np.sum(x * trans(z).numpy())           # <x, A^T z>
  np.testing.assert_allclose(lhs, rhs, rtol=1e-4)


@pytest.mark.parametrize("band, freq", [(0, 8000.0), (1, 4000.0),
                                        (3, 1000.0), (4, 300.0)])
def test_tone_round_trip_correlates(config, band, freq):
  args = layers.band_bank_args(config, band)
  rate = config.band_rates[band]
  t = np.arange(2048) / rate
  tone = np.sin(2 * np.pi * freq * t)[None].astype(np.float32)
  out = layers.FilterBankConvTranspose(**args)(
      layers.FilterBankConv(**args)(tone)).numpy()[0]
  assert np.corrcoef(out, tone[0])[0, 1] > 0.9


def test_filter_bank_serialises():
  layer = layers.FilterBankConv(11025.0, 2756.25, 5512.5, 8, 16)
  clone = keras.layers.deserialize(keras.layers.serialize(layer))
  x = np.ones((1, 40), np.float32)
  np.testing.assert_array_equal(layer(x), clone(x))


def test_reflection_pad():
  x = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
  y = layers.ReflectionPad1D((2, 3))(x).numpy()[0, :, 0]
  np.testing.assert_array_equal(y, [2, 1, 0, 1, 2, 3, 4, 3, 2, 1])


@pytest.mark.parametrize("kind, kwargs, out_axis", [
    ("Conv1D", dict(filters=6, kernel_size=5, padding="same"), 2),
    ("Conv1D", dict(filters=8, kernel_size=3, padding="same", groups=2), 2),
    ("Conv1D", dict(filters=6, kernel_size=3, dilation_rate=3,
                    padding="valid"), 2),
    ("Conv1DTranspose", dict(filters=6, kernel_size=8, strides=4,
                             padding="same"), 1),
])
def test_weight_normalization_numerics(kind, kwargs, out_axis):
  keras.utils.set_random_seed(3)
  inner = getattr(keras.layers, kind)(**kwargs)
  x = np.random.default_rng(3).standard_normal((2, 17, 4)).astype(np.float32)
  plain_out = inner(x).numpy()
  wrapped = layers.WeightNormalization(inner)
  # At initialisation the wrapper is the wrapped layer.
  np.testing.assert_allclose(wrapped(x).numpy(), plain_out, atol=1e-5)
  # With arbitrary g the kernel is g * v / ||v|| per OUTPUT channel; check
  # against a numpy construction run through an unwrapped twin layer.
  g = np.random.default_rng(4).uniform(0.5, 2.0, wrapped.g.shape)
  wrapped.g.assign(g)
  v = inner.kernel.numpy()
  reduce = tuple(a for a in range(3) if a != out_axis)
  norm = np.sqrt(np.sum(v ** 2, axis=reduce, keepdims=True))
  shape = [1, 1, 1]
  shape[out_axis] = -1
  expected_kernel = v / norm * g.reshape(shape)
  twin = getattr(keras.layers, kind)(**kwargs)
  twin.build(x.shape)
  twin.set_weights([expected_kernel, inner.bias.numpy()])
  out = wrapped(x).numpy()
  assert out.shape == plain_out.shape
  np.testing.assert_allclose(out, twin(x).numpy(), atol=1e-5)
  # Folding gives a plain layer with the same output.
  np.testing.assert_allclose(wrapped.folded()(x).numpy(), out, atol=1e-5)


def test_weight_normalization_trains_g_and_v():
  wrapped = layers.WeightNormalization(keras.layers.Conv1DTranspose(
      3, 4, strides=2, padding="same"))
  x = tf.random.stateless_normal((2, 9, 5), seed=(1, 2))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(wrapped(x) ** 2)
  grads = tape.gradient(loss, wrapped.trainable_weights)
  names = sorted(w.path.split("/")[-1] for w in wrapped.trainable_weights)
  assert names == ["bias", "g", "kernel"]
  assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_weight_normalization_rejects_other_layers():
  with pytest.raises(TypeError, match="Conv1D"):
    layers.WeightNormalization(keras.layers.Dense(3))


def test_weight_normalization_serialises():
  wrapped = layers.WeightNormalization(keras.layers.Conv1D(4, 3))
  x = np.ones((1, 8, 2), np.float32)
  y = wrapped(x)
  clone = keras.layers.deserialize(keras.layers.serialize(wrapped))
  clone(x)
  clone.set_weights(wrapped.get_weights())
  np.testing.assert_allclose(clone(x), y, atol=1e-6)


@pytest.mark.parametrize("groups", [4, 32])   # one conv per group / matmul
def test_grouped_conv_matches_numpy(groups):
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 203, 4 * groups)).astype(np.float32)
  w = rng.normal(size=(41, 4, 8 * groups)).astype(np.float32)
  got = layers.grouped_conv1d(tf.constant(x), tf.constant(w), 4,
                              groups).numpy()
  assert got.shape == (2, (203 - 41) // 4 + 1, 8 * groups)
  for b in range(2):     # oracle: numpy's grouped convolution, per example
    np.testing.assert_allclose(got[b], npc.conv1d(x[b], w, 0.0, 4,
                                                  groups=groups),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("config", [tiny_config(), VocoderConfig()],
                         ids=["tiny", "reference"])
def test_polyphase_banks_equal_direct_banks(config):
  rng = np.random.default_rng(9)
  band = config.n_bands - 1
  low, high = config.band_edges_hz[band]
  args = dict(sample_rate=config.band_rates[band], low_hz=low, high_hz=high,
              n_filters=config.filter_bank_filters,
              taps=config.filter_bank_taps, scaling=config.filter_bank_scaling)
  pairs = [(layers.PolyphaseFilterBankConv(**args),
            layers.FilterBankConv(**args)),
           (layers.PolyphaseFilterBankConvTranspose(**args),
            layers.FilterBankConvTranspose(**args))]
  for length in (16, 1000, 2048):      # below, off and on the 32 phases
    audio = rng.normal(size=(2, length)).astype(np.float32)
    channels = rng.normal(size=(2, length, config.filter_bank_filters)
                          ).astype(np.float32)
    for (fast, direct), x in zip(pairs, (audio, channels)):
      want = direct(x).numpy()
      got = fast(x)
      assert tuple(got.shape) == want.shape
      np.testing.assert_allclose(got.numpy(), want, rtol=0,
                                 atol=1e-5 * np.abs(want).max())
      dynamic = tf.function(fast, input_signature=[
          tf.TensorSpec([None] * x.ndim, tf.float32)])
      np.testing.assert_array_equal(dynamic(x).numpy(), got.numpy())
  # Same weight as the direct layer: the band's Morlet bank.
  np.testing.assert_array_equal(pairs[1][0].bank.numpy(),
                                dsp.band_filter_bank(band, config))
  assert pairs[0][0].get_config()["phases"] == 32
