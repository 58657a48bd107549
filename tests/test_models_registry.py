"""Model registry, summary, analytic cost and initialisation (issue 4)."""

import keras
import numpy as np
import pytest

from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.models import (MelGANDiscriminator, MelGANGenerator,
                              MultiscaleDiscriminator, MultiscaleGenerator,
                              build_discriminator, build_generator,
                              parameter_counts, summary)


@pytest.mark.parametrize("family, generator, discriminator, key", [
    ("multiscale", MultiscaleGenerator, MultiscaleDiscriminator, "bands"),
    ("melgan", MelGANGenerator, MelGANDiscriminator, "audio")])
def test_registry(family, generator, discriminator, key):
  config = tiny_config(model=family)
  g, d = build_generator(config), build_discriminator(config)
  assert type(g) is generator and type(d) is discriminator
  assert g.target_key == key
  assert isinstance(g, keras.Model) and isinstance(d, keras.Model)
  assert g.config == config and d.config == config
  assert isinstance(g.receptive_field_frames, int)


def test_summary_lists_sub_networks():
  text = summary(build_discriminator(tiny_config()))
  lines = text.splitlines()
  assert lines[0] == "MultiscaleDiscriminator (multiscale_discriminator)"
  names = [line.split()[0] for line in lines[2:]]
  assert names == ["band_0", "band_1", "band_2", "band_3", "band_4", "joint",
                   "total"]
  total = parameter_counts(build_discriminator(tiny_config()))
  assert lines[-1].split()[1:] == [f"{total[k]:,}" for k in
                                   ("trainable", "non_trainable", "total")]


def test_multiply_adds_reference_configs():
  reference = VocoderConfig()
  frames_per_second = reference.frame_rate
  # Multiscale, per frame and band with factors F: embedding 7*128*128 at
  # the frame rate; each transposed conv applies its 2f*128*128 kernel once
  # per input sample; the bank 128*128 taps per band sample.
  c = 128 * 128
  per_frame = 0
  for factors in [(4, 4, 4, 4), (4, 4, 4, 2), (4, 4, 2, 2), (4, 2, 2, 2),
                  (2, 2, 2, 2)]:
    per_frame += 7 * c
    length = 1
    for f in factors:
      per_frame += length * 2 * f * c
      length *= f
    per_frame += length * c
  generator = MultiscaleGenerator(VocoderConfig())
  assert generator.multiply_adds_per_frame() == per_frame == 33_538_048
  # DESIGN.md: "about 2.9 GMAC (5.8 GFLOP) per second of audio".
  assert 2.85e9 < per_frame * frames_per_second < 2.95e9
  # MelGAN: conv_in, then per stage (length L, channels C) the transposed
  # conv (input length * 2r * C_in * C) and 3 blocks of k3 + k1 + k1.
  per_frame = 7 * 128 * 512
  length, channels = 1, 512
  for r in (8, 8, 2, 2):
    per_frame += length * 2 * r * channels * (channels // 2)
    length, channels = length * r, channels // 2
    per_frame += 3 * length * (3 + 1 + 1) * channels * channels
  per_frame += length * 7 * 32
  melgan = MelGANGenerator(VocoderConfig(model="melgan"))
  assert melgan.multiply_adds_per_frame() == per_frame == 45_342_720
  assert 3.85e9 < per_frame * frames_per_second < 3.95e9   # "about 3.9"


def test_initialisation():
  keras.utils.set_random_seed(0)
  config = VocoderConfig()
  generator = MultiscaleGenerator(config)
  kernels = [w.numpy() for w in generator.trainable_weights
             if w.path.endswith("kernel")]
  values = np.concatenate([k.ravel() for k in kernels])
  assert abs(values.std() - config.init_stddev) < 0.01 * config.init_stddev
  assert abs(values.mean()) < 0.01 * config.init_stddev
  # MelGAN: v ~ U(+-1/sqrt(fan_in)), g = ||v|| (effective kernel = v).
  melgan = MelGANGenerator(config.replace(model="melgan"))
  up = melgan.upsample[0]            # Conv1DTranspose 512 -> 256, k16
  v = up.layer.kernel.numpy()
  bound = 1 / np.sqrt(16 * 256)
  assert np.abs(v).max() <= bound
  assert abs(v.std() - bound / np.sqrt(3)) < 0.01 * bound
  np.testing.assert_allclose(up.g.numpy(),
                             np.sqrt(np.sum(v ** 2, axis=(0, 2))), rtol=1e-5)
  conv = melgan.blocks[0][0].conv     # Conv1D 256 -> 256, k3
  assert np.abs(conv.layer.kernel.numpy()).max() <= 1 / np.sqrt(3 * 256)


@pytest.mark.parametrize("family", ["multiscale", "melgan"])
def test_checkpoints_hold_every_weight(family, tmp_path):
  import tensorflow as tf
  config = tiny_config(model=family)
  keras.utils.set_random_seed(1)
  nets = [build_generator(config), build_discriminator(config)]
  for net in nets:
    # What tf.train.Checkpoint (training's checkpoints) can reach.
    reachable = {id(v) for v in tf.train.TrackableView(net).descendants()}
    assert all(id(w) in reachable for w in net.weights), net.name
  path = tf.train.Checkpoint(generator=nets[0], discriminator=nets[1]).save(
      str(tmp_path / "ckpt"))
  keras.utils.set_random_seed(2)
  fresh = [build_generator(config), build_discriminator(config)]
  assert not np.array_equal(fresh[0].weights[0].numpy(),
                            nets[0].weights[0].numpy())
  tf.train.Checkpoint(generator=fresh[0], discriminator=fresh[1]).restore(
      path).assert_existing_objects_matched()
  for old, new in zip(nets, fresh):
    for a, b in zip(old.weights, new.weights):
      np.testing.assert_array_equal(a.numpy(), b.numpy())
