"""base: config <-> Keras config, initialisers, sub-layer bookkeeping."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.models import (MelGANGenerator, MultiscaleGenerator, base,
                              build_discriminator, build_generator)


def test_config_from_its_dict_or_keras_config():
  config = tiny_config(model="melgan", window=4096)
  values = config.to_dict()
  assert base.as_config(config) is config
  assert base.as_config(values) == config
  with pytest.raises(TypeError, match="VocoderConfig"):
    base.as_config([1, 2])
  assert base.config_from_keras(values) == config
  # Keras's own keys are ignored, and so is a {"config": ...} wrapper.
  keras_style = dict(values, name="net", trainable=True, dtype="float32")
  assert base.config_from_keras(keras_style) == config
  assert base.config_from_keras(dict(config=values, name="net")) == config
  assert "name" not in values   # inputs are not modified


class _Stack(base.ConfigLayer):
  """A ConfigLayer whose sub-layers are assigned, as the networks' are."""

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    base.assign_layers(self, "conv", [
        keras.layers.Conv1D(4, 3, padding="same", kernel_initializer=
                            base.kernel_initializer(self.config))
        for _ in range(3)])

  def build_sublayers(self):
    channels = 2
    for conv in base.layers_of(self, "conv"):
      conv.build((None, None, channels))
      channels = 4

  def call(self, x):
    for conv in base.layers_of(self, "conv"):
      x = conv(x)
    return x


def test_assigned_layers_are_ordered_built_and_checkpointed(tmp_path):
  config = tiny_config()
  stack = _Stack(config)
  convs = base.layers_of(stack, "conv")
  assert len(convs) == 3
  assert all(c is getattr(stack, f"conv_{i}") for i, c in enumerate(convs))
  assert base.layers_of(stack, "nothing") == []
  stack.build()
  assert all(c.built for c in convs) and len(stack.weights) == 6
  assert stack.get_config()["config"] == config.to_dict()
  # What tf.train.Checkpoint reaches holds every weight; a restore is exact.
  reachable = {id(v) for v in tf.train.TrackableView(stack).descendants()}
  assert all(id(w) in reachable for w in stack.weights)
  path = tf.train.Checkpoint(stack=stack).save(str(tmp_path / "ckpt"))
  fresh = _Stack(config)
  fresh.build()
  assert not np.array_equal(fresh.weights[0].numpy(), stack.weights[0].numpy())
  tf.train.Checkpoint(stack=fresh).restore(
      path).assert_existing_objects_matched()
  for a, b in zip(stack.weights, fresh.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  x = np.random.default_rng(0).normal(size=(1, 9, 2)).astype(np.float32)
  np.testing.assert_array_equal(stack(x), fresh(x))


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
