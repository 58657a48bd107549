"""Config-carrying Keras base classes, initialisers, sub-layer bookkeeping."""

from typing import Any, Dict

import keras
from keras import ops

from tfvocoder.config import VocoderConfig

PACKAGE = "tfvocoder"

# Keys Keras may add next to a model's own config; not VocoderConfig fields.
_KERAS_KEYS = ("name", "trainable", "dtype")


def as_config(config) -> VocoderConfig:
  """A `VocoderConfig` from itself or from its `to_dict()`."""
  if isinstance(config, VocoderConfig):
    return config
  if isinstance(config, dict):
    return VocoderConfig.from_dict(config)
  raise TypeError(f"expected a VocoderConfig or its dict, got {type(config)}")


def config_from_keras(values: Dict[str, Any]) -> VocoderConfig:
  """Inverse of a model's `get_config`: the flat `VocoderConfig.to_dict()`.

  Also accepts `{"config": {...}}` and ignores Keras's own keys (name,
  trainable, dtype) should a caller add them.
  """
  values = dict(values)
  if set(values) - set(_KERAS_KEYS) == {"config"}:
    values = dict(values["config"])
  for key in _KERAS_KEYS:
    values.pop(key, None)
  return VocoderConfig.from_dict(values)


class ConfigModel(keras.Model):
  """A keras.Model whose whole config is the flat `VocoderConfig.to_dict()`."""

  def get_config(self):
    return self.config.to_dict()

  @classmethod
  def from_config(cls, config):
    return cls(config_from_keras(config))


def activation_gain(config: VocoderConfig) -> float:
  """E[x^2] / E[f(x)^2] of the generators' activation f for zero-mean
  symmetric x: He's 2 / (1 + slope^2) for LeakyReLU; 1 for Snake (which
  is about the identity plus a bounded bump)."""
  if config.activation == "snake":
    return 1.0
  return 2.0 / (1.0 + config.leaky_slope ** 2)


def kernel_initializer(config: VocoderConfig, stride: int = 1,
                       transpose: bool = False):
  """The multiscale model's conv kernel initialiser (`config.init`).

  "normal": N(0, init_stddev), the reference's. "he": variance-preserving,
  Var(w) = activation_gain / fan_in (truncated normal), fan_in being the
  inputs that reach one output sample: k * in for a convolution (Keras's
  "fan_in" of its `[k, in, out]` kernel), k / stride * in for a transposed
  one, i.e. Keras's "fan_out" of its `[k, out, in]` kernel over the stride
  (Keras's own "fan_in" there, k * out, counts the adjoint's inputs).

  Args:
    stride: the layer's stride (used for transposed convolutions).
    transpose: the kernel is a Conv1DTranspose's.
  """
  if config.init == "normal":
    return keras.initializers.RandomNormal(mean=0.0, stddev=config.init_stddev)
  gain = activation_gain(config)
  if transpose:
    return keras.initializers.VarianceScaling(gain * stride, "fan_out",
                                              "truncated_normal")
  return keras.initializers.VarianceScaling(gain, "fan_in", "truncated_normal")


def leaky_relu(x, config: VocoderConfig):
  return ops.leaky_relu(x, negative_slope=config.leaky_slope)


def assign_layers(owner, name: str, layers):
  """Makes `layers` attributes `{name}_0, {name}_1, ...` of `owner`.

  `tf.train.Checkpoint` (the trainer's checkpoints) follows a Keras 3
  layer's attributes but not the lists Keras tracks: a layer held only in a
  list would be silently left out of every checkpoint. Read them back with
  `layers_of`.
  """
  for i, layer in enumerate(layers):
    setattr(owner, f"{name}_{i}", layer)


def layers_of(owner, name: str) -> list:
  """The layers `assign_layers(owner, name, ...)` stored, in order."""
  layers = []
  while hasattr(owner, f"{name}_{len(layers)}"):
    layers.append(getattr(owner, f"{name}_{len(layers)}"))
  return layers


class ConfigLayer(keras.layers.Layer):
  """A sub-network layer whose structure is a function of the config.

  Subclasses create their sub-layers in `__init__` and build them (from the
  config, whatever the input shape) in `build_sublayers()`. Models build
  their sub-networks in their own `build`, called from their constructor,
  so weights (and parameter counts) exist before any forward pass.
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    self.config = as_config(config)

  def build(self, input_shape=None):
    self.build_sublayers()

  def build_sublayers(self):
    raise NotImplementedError

  def get_config(self):
    base = super().get_config()
    base.update(config=self.config.to_dict())
    return base
