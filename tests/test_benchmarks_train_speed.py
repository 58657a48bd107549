"""benchmarks.train_speed's multiply-add count (the timing itself is too
slow for the test suite)."""

import importlib

import keras
import pytest
import tensorflow as tf

import training_fixtures
from tfvocoder.config import tiny_config
from tfvocoder.models import layers
from tfvocoder.training.gan import GANTrainer

train_speed = importlib.import_module("benchmarks.train_speed")


def test_counted_multiply_adds_match_hand_counts():
  x1, x2 = keras.Input((64, 3), batch_size=2), keras.Input((8, 6, 2),
                                                           batch_size=2)
  y = keras.layers.Conv1D(8, 5, strides=2, padding="same")(x1)      # 32
  y = keras.layers.Conv1DTranspose(4, 4, strides=2, padding="same")(y)
  y = layers.WeightNormalization(layers.GroupedConv1D(8, 3, groups=2))(y)
  z = keras.layers.Conv2D(4, 3, padding="same")(x2)
  model = keras.Model([x1, x2], [y, z])
  want = 2 * (32 * 5 * 3 * 8       # conv: per output, kernel x in x out
              + 32 * 4 * 4 * 8     # transposed: per input sample
              + 62 * 3 * 2 * 8     # grouped, valid: 62 outputs, 4 / 2 in
              + 8 * 6 * 3 * 3 * 2 * 4)
  got = train_speed.forward_multiply_adds(
      model, [tf.zeros([2, 64, 3]), tf.zeros([2, 8, 6, 2])])
  assert got == want
  assert not any("call" in vars(layer) for layer in model.layers)


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_step_count_uses_the_generators_own_multiply_adds(model):
  config = tiny_config(model=model)
  trainer = GANTrainer(config, tf.distribute.get_strategy(), 2)
  batch = training_fixtures.batch(config, 2)
  got = train_speed.step_multiply_adds(trainer, batch)
  generator = trainer.generator
  assert got["generator"] == (generator.multiply_adds_per_frame() *
                              config.frames_per_window * 2)
  # The recorder agrees with the generator's analytic count.
  assert train_speed.forward_multiply_adds(
      generator, batch["mel"]) == got["generator"]
  assert got["discriminator"] > 0
  frozen = got["frozen"]
  if model == "multiscale":   # a band's analysis bank is its synthesis
    assert 0 < frozen["generator"] == frozen["discriminator"]  # transposed
    assert frozen["generator"] < got["generator"]
  else:                       # MelGAN has none
    assert frozen == {"generator": 0, "discriminator": 0}
  assert got["step"] == pytest.approx(
      3 * (got["generator"] - frozen["generator"]) + 2 * frozen["generator"]
      + 9 * (got["discriminator"] - frozen["discriminator"])
      + 5 * frozen["discriminator"])
