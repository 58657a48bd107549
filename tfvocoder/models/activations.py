"""The generators' activation (`config.activation`): LeakyReLU or Snake.

Snake (Ziyin et al. 2020, as BigVGAN uses it): f(x) = x + sin^2(alpha x) /
alpha with a learned per-channel alpha (initially 1); the division is by
alpha + `SNAKE_EPS`, as BigVGAN's, so an alpha driven to 0 gives x, not
NaN. Periodic, so it extrapolates a periodic signal where a ReLU-family
activation does not. LeakyReLU has no weights: with it the networks create
no activation layers at all (their checkpoints are the reference's).
"""

import functools
from typing import Callable, List, Sequence

import keras
from keras import ops

from tfvocoder.config import VocoderConfig
from tfvocoder.models import base

SNAKE_EPS = 1e-9


@keras.saving.register_keras_serializable(base.PACKAGE)
class Snake(keras.layers.Layer):
  """`[..., channels]` -> same shape: x + sin^2(alpha x) / (alpha + eps)."""

  def __init__(self, channels: int, **kwargs):
    super().__init__(**kwargs)
    self.channels = int(channels)

  def build(self, input_shape=None):
    self.alpha = self.add_weight(name="alpha", shape=(self.channels,),
                                 initializer="ones", trainable=True)

  def call(self, x):
    alpha = ops.cast(self.alpha, x.dtype)
    # A product with the reciprocal: a constant MUL once exported.
    return x + ops.square(ops.sin(alpha * x)) * (1.0 / (alpha + SNAKE_EPS))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels)
    return config


def activation_layers(config: VocoderConfig, channels: Sequence[int],
                      name: str) -> List[keras.layers.Layer]:
  """The weighted activation layers of one network, built.

  Args:
    channels: the channel count at each activation, in order.
    name: layer name prefix (`{name}_{i}`).
  Returns:
    a Snake per entry for `activation="snake"`; [] for LeakyReLU.
  """
  if config.activation != "snake":
    return []
  layers = [Snake(c, name=f"{name}_{i}") for i, c in enumerate(channels)]
  for layer in layers:
    layer.build()
  return layers


def activation_fns(owner, name: str, count: int,
                   config: VocoderConfig) -> List[Callable]:
  """The `count` activations of `owner`: the layers it holds under `name`
  (`base.assign_layers` of `activation_layers`), or LeakyReLU."""
  layers = base.layers_of(owner, name)
  if layers:
    return layers
  return [functools.partial(base.leaky_relu, config=config)] * count
