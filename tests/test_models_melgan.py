"""MelGAN baseline generator and multi-scale discriminator (issue 4)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import conv_oracles as npc
from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.models import parameter_counts, summary
from tfvocoder.models.melgan import MelGANDiscriminator, MelGANGenerator


@pytest.fixture(scope="module")
def tiny():
  return tiny_config(model="melgan")


@pytest.fixture(scope="module")
def nets(tiny):
  keras.utils.set_random_seed(0)
  return MelGANGenerator(tiny), MelGANDiscriminator(tiny)


def _mel(config, frames, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  mel = rng.normal(-2.0, 1.0, (batch, frames, config.n_mels))
  return mel.astype(np.float32)


def _disc_shapes(config, samples, batch=2):
  """Expected (judgement, features) shapes of each scale."""
  out = []
  for scale in range(config.melgan_disc_scales):
    t = samples // 2 ** scale
    channels = config.melgan_ndf
    features = [(batch, t, channels)]
    for s in config.melgan_disc_downsample:
      t //= s
      channels = min(channels * s, config.melgan_disc_max_channels)
      features.append((batch, t, channels))
    features.append((batch, t, min(channels * 2,
                                   config.melgan_disc_max_channels)))
    out.append(((batch, t, 1), features))
  return out


@pytest.mark.parametrize("frames", [32, 100])
def test_shapes(nets, tiny, frames):
  generator, discriminator = nets
  mel = _mel(tiny, frames)
  audio = generator(mel)
  assert generator.target_key == "audio"
  assert tuple(audio.shape) == (2, frames * tiny.hop_length)
  assert audio.dtype == tf.float32
  assert np.all(np.abs(audio) <= 1.0)
  np.testing.assert_array_equal(generator.generate_audio(mel), audio)
  outputs = discriminator(audio, mel)
  assert len(outputs) == 3
  for (judgement, features), (j_shape, f_shapes) in zip(
      outputs, _disc_shapes(tiny, frames * tiny.hop_length)):
    assert tuple(judgement.shape) == j_shape
    assert [tuple(x.shape) for x in features] == f_shapes
  # Scale s judges at frames / 2**s when the strides multiply to the hop.
  assert [o[0].shape[1] for o in outputs] == [frames, frames // 2,
                                              frames // 4]


def test_parameter_counts_reference_config():
  config = VocoderConfig(model="melgan")
  # Weight norm adds one gain per output channel to every conv (wn(...)).
  def wn(k, cin, cout, groups=1):
    return k * cin // groups * cout + cout + cout
  def res(c):   # k3 dilated + k1 + k1 shortcut
    return wn(3, c, c) + wn(1, c, c) + wn(1, c, c)
  gen = wn(7, 128, 512)
  for cin, cout, r in [(512, 256, 8), (256, 128, 8), (128, 64, 2), (64, 32, 2)]:
    gen += wn(2 * r, cin, cout) + 3 * res(cout)
  gen += wn(7, 32, 1)
  assert gen == 4_437_602     # "about 4.4 M with 128 mels"
  scale = (wn(15, 1, 16) + wn(41, 16, 64, 4) + wn(41, 64, 256, 16)
           + wn(41, 256, 1024, 64) + wn(41, 1024, 1024, 256)
           + wn(5, 1024, 1024) + wn(3, 1024, 1))
  generator, discriminator = (MelGANGenerator(config),
                              MelGANDiscriminator(config))
  assert parameter_counts(generator) == dict(trainable=gen, non_trainable=0,
                                             total=gen)
  assert parameter_counts(discriminator) == dict(
      trainable=3 * scale, non_trainable=0, total=3 * scale)
  assert 3 * scale == 16_924_086
  assert "4,437,602" in summary(generator)
  assert "16,924,086" in summary(discriminator)


def _wn(layer):
  values = {v.path.rsplit("/", 1)[-1]: v.numpy().astype(np.float64)
            for v in layer.weights}
  transpose = isinstance(layer.layer, keras.layers.Conv1DTranspose)
  kernel = npc.weight_norm(values["kernel"], values["g"], transpose)
  return kernel, values["bias"]


def _numpy_generator(g, mel, config):
  lrelu = lambda x: npc.leaky_relu(x, config.leaky_slope)
  x = npc.conv1d(npc.pad(mel, 3, 3, "reflect"), *_wn(g.conv_in))
  for r, up, blocks in zip(config.melgan_ratios, g.upsample, g.blocks):
    x = npc.conv_transpose1d(lrelu(x), *_wn(up), r, r // 2, x.shape[0] * r)
    for block in blocks:
      d = block.dilation
      y = npc.conv1d(npc.pad(lrelu(x), d, d, "reflect"), *_wn(block.conv),
                     dilation=d)
      y = npc.conv1d(lrelu(y), *_wn(block.mix))
      x = npc.conv1d(x, *_wn(block.shortcut)) + y
  x = npc.conv1d(npc.pad(lrelu(x), 3, 3, "reflect"), *_wn(g.conv_out))
  return np.tanh(x[:, 0])


def _numpy_scale(scale, audio, config):
  lrelu = lambda x: npc.leaky_relu(x, config.leaky_slope)
  x = lrelu(npc.conv1d(npc.pad(audio, 7, 7, "reflect"), *_wn(scale.conv_in)))
  features = [x]
  channels = config.melgan_ndf
  for s, layer in zip(config.melgan_disc_downsample, scale.downsample):
    x = lrelu(npc.conv1d(npc.pad(x, 5 * s, 5 * s), *_wn(layer), stride=s,
                         groups=max(channels // 4, 1)))
    channels = x.shape[1]
    features.append(x)
  x = lrelu(npc.conv1d(npc.pad(x, 2, 2), *_wn(scale.conv_last)))
  features.append(x)
  return npc.conv1d(npc.pad(x, 1, 1), *_wn(scale.judge)), features


def test_matches_numpy_oracle(tiny):
  # Wider judge than tiny's so that the oracle sees groups > 1 (16/4, 64/4).
  config = tiny.replace(melgan_ndf=16, melgan_disc_max_channels=256)
  keras.utils.set_random_seed(3)
  generator = MelGANGenerator(config)
  discriminator = MelGANDiscriminator(config)
  mel = _mel(config, 6, 1, 3)
  audio = generator(mel)
  expected = _numpy_generator(generator, mel[0].astype(np.float64), config)
  np.testing.assert_allclose(audio.numpy()[0], expected, rtol=0,
                             atol=1e-4 * np.abs(expected).max())
  outputs = discriminator(audio, mel)
  x = audio.numpy()[0, :, None].astype(np.float64)
  for scale, (judgement, features) in zip(discriminator.scales, outputs):
    want_j, want_f = _numpy_scale(scale, x, config)
    np.testing.assert_allclose(judgement.numpy()[0], want_j, rtol=1e-4,
                               atol=1e-4 * np.abs(want_j).max())
    for got, want in zip(features, want_f):
      np.testing.assert_allclose(got.numpy()[0], want, rtol=1e-4,
                                 atol=1e-4 * np.abs(want).max())
    x = npc.avg_pool(x, 4, 2)


def test_conditioning_flag(nets, tiny):
  _, plain = nets
  audio = tf.random.normal([1, 32 * tiny.hop_length], stddev=0.1, seed=4)
  mel_a, mel_b = _mel(tiny, 32, 1, 1), _mel(tiny, 32, 1, 2)
  for (ja, _), (jb, _) in zip(plain(audio, mel_a), plain(audio, None)):
    np.testing.assert_array_equal(ja, jb)
  conditioned = MelGANDiscriminator(tiny.replace(melgan_disc_conditioned=True))
  a, b = conditioned(audio, mel_a), conditioned(audio, mel_b)
  assert len(a) == 3
  for (ja, _), (jb, _) in zip(a, b):
    assert not np.allclose(ja, jb)
  # The mel joins before the k5 conv: n_mels x 64 x 5 more weights a scale.
  diff = (parameter_counts(conditioned)["total"]
          - parameter_counts(plain)["total"])
  assert diff == 3 * tiny.n_mels * 64 * 5
  with pytest.raises(ValueError, match="hop_length"):
    MelGANDiscriminator(tiny.replace(melgan_disc_conditioned=True,
                                     melgan_disc_downsample=(4, 4, 4, 2)))


def test_gradients_reach_every_weight(tiny):
  keras.utils.set_random_seed(5)
  generator, discriminator = MelGANGenerator(tiny), MelGANDiscriminator(tiny)
  mel = _mel(tiny, 32, 2, 5)
  real = tf.random.normal([2, 32 * tiny.hop_length], stddev=0.1, seed=5)
  variables = generator.trainable_weights + discriminator.trainable_weights
  with tf.GradientTape() as tape:
    fake = generator(mel, training=True)
    loss = tf.reduce_mean(tf.square(fake - real))
    for judgement, features in discriminator(fake, mel, training=True):
      loss += tf.reduce_mean(tf.nn.relu(1.0 - judgement))
      loss += tf.add_n([tf.reduce_mean(tf.abs(x)) for x in features])
  grads = tape.gradient(loss, variables)
  for variable, grad in zip(variables, grads):
    assert grad is not None and np.any(grad.numpy() != 0), variable.path
  before = [v.numpy() for v in variables]
  keras.optimizers.Adam(tiny.learning_rate).apply_gradients(
      zip(grads, variables))
  for b, v, g in zip(before, variables, grads):
    assert not np.array_equal(b, v.numpy()), (v.path, np.abs(g).numpy().max())


def test_receptive_field_is_gradient_support(nets, tiny):
  generator, _ = nets
  rf = generator.receptive_field_frames
  frames = 4 * rf + 8
  f0, hop = frames // 2, tiny.hop_length
  mel = tf.constant(_mel(tiny, frames, 1, 6))
  with tf.GradientTape() as tape:
    tape.watch(mel)
    audio = generator(mel)
    out = audio[0, f0 * hop] + audio[0, (f0 + 1) * hop - 1]
  rows = np.flatnonzero(np.any(tape.gradient(out, mel).numpy()[0] != 0, 1))
  assert max(f0 - rows.min(), rows.max() - f0) == rf


def test_fully_convolutional(nets, tiny):
  generator, _ = nets
  rf, hop = generator.receptive_field_frames, tiny.hop_length
  mel = _mel(tiny, 200, 1, 7)
  a = generator(mel[:, 50:150]).numpy()[0, rf * hop:(100 - rf) * hop]
  b = generator(mel).numpy()[0, (50 + rf) * hop:(150 - rf) * hop]
  np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_config_round_trip_and_saved_model(nets, tiny, tmp_path):
  generator, discriminator = nets
  mel = _mel(tiny, 32, 1, 8)
  audio = generator(mel)
  for net in (generator, discriminator):
    assert net.get_config() == tiny.to_dict()
    clone = type(net).from_config({"config": net.get_config(), "name": "x"})
    assert clone.config == tiny
    clone.set_weights(net.get_weights())
    got, want = (clone(mel), audio) if net is generator else (
        clone(audio)[0][0], discriminator(audio)[0][0])
    np.testing.assert_array_equal(got, want)

  path = str(tmp_path / "generator.keras")
  generator.save(path)
  np.testing.assert_array_equal(keras.saving.load_model(path)(mel), audio)

  module = tf.Module()
  module.generator = generator
  module.vocode = tf.function(
      generator.generate_audio,
      input_signature=[tf.TensorSpec([None, None, tiny.n_mels], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / "saved"))
  reloaded = tf.saved_model.load(str(tmp_path / "saved"))
  for frames in (32, 45):
    mel = _mel(tiny, frames, 2, frames)
    got = reloaded.vocode(tf.constant(mel)).numpy()
    np.testing.assert_array_equal(got, module.vocode(tf.constant(mel)))
    np.testing.assert_allclose(got, generator.generate_audio(mel), rtol=0,
                               atol=1e-6)
