"""Keras layers the networks are built from.

Frozen Morlet filter banks over `tfvocoder.dsp` (direct and polyphase,
analysis and synthesis; `band_bank_args` gives a band's), grouped 1-D
convolution, reflection padding and weight normalisation (`wn_conv`: a
weight-normalised conv initialised as PyTorch's). Tensors are
channels-last: `[batch, time, channels]`.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfvocoder import dsp
from tfvocoder.models.base import PACKAGE


def band_bank_args(config, band: int) -> dict:
  """Constructor arguments of band `band`'s frozen bank (0 = largest band):
  its rate, Hz range and bank size from `config`."""
  low, high = config.band_edges_hz[band]
  return dict(sample_rate=config.band_rates[band], low_hz=low, high_hz=high,
              n_filters=config.filter_bank_filters,
              taps=config.filter_bank_taps,
              scaling=config.filter_bank_scaling)


class _FrozenFilterBank(keras.layers.Layer):
  """Holds one band's Morlet bank as a non-trainable `[filters, taps]` weight.

  The bank is computed once (numpy) when the layer is built; it is part of
  the layer's weights (so checkpoints and SavedModels carry it) and of its
  config only through the numbers that define it.
  """

  def __init__(self, sample_rate, low_hz, high_hz, n_filters=128, taps=128,
               scaling=0.05, **kwargs):
    super().__init__(**kwargs)
    self.sample_rate = float(sample_rate)
    self.low_hz = float(low_hz)
    self.high_hz = float(high_hz)
    self.n_filters = int(n_filters)
    self.taps = int(taps)
    self.scaling = float(scaling)

  def bank_values(self) -> np.ndarray:
    return dsp.morlet_filter_bank(self.sample_rate, self.low_hz, self.high_hz,
                                  self.n_filters, self.taps, self.scaling)

  def build(self, input_shape):
    self.bank = self.add_weight(
        name="bank", shape=(self.n_filters, self.taps),
        initializer=keras.initializers.Constant(self.bank_values()),
        trainable=False)

  def get_config(self):
    config = super().get_config()
    config.update(sample_rate=self.sample_rate, low_hz=self.low_hz,
                  high_hz=self.high_hz, n_filters=self.n_filters,
                  taps=self.taps, scaling=self.scaling)
    return config


@keras.saving.register_keras_serializable(PACKAGE)
class FilterBankConv(_FrozenFilterBank):
  """Frozen analysis bank: one band's samples -> its filter channels.

  `[batch, samples(, 1)]` -> `[batch, samples, n_filters]`; output sample t
  is centred on input sample t (cropped to input length).
  """

  def call(self, inputs):
    return dsp.filter_bank_analysis(inputs, ops.convert_to_tensor(self.bank))

  def compute_output_shape(self, input_shape):
    return (input_shape[0], input_shape[1], self.n_filters)


@keras.saving.register_keras_serializable(PACKAGE)
class FilterBankConvTranspose(_FrozenFilterBank):
  """Frozen synthesis bank: `[batch, samples, filters]` -> `[batch, samples]`.

  The exact adjoint (transpose) of `FilterBankConv` with the same bank: the
  sum over channels of each channel filtered by its Morlet filter.
  """

  def call(self, inputs):
    return dsp.filter_bank_synthesis(inputs, ops.convert_to_tensor(self.bank))

  def compute_output_shape(self, input_shape):
    return (input_shape[0], input_shape[1])


@keras.saving.register_keras_serializable(PACKAGE)
class ReflectionPad1D(keras.layers.Layer):
  """Reflect-pads the time axis: `[batch, t, c]` -> `[batch, t + l + r, c]`."""

  def __init__(self, padding, **kwargs):
    super().__init__(**kwargs)
    if isinstance(padding, int):
      padding = (padding, padding)
    self.padding = tuple(int(p) for p in padding)

  def call(self, inputs):
    left, right = self.padding
    return tf.pad(inputs, [[0, 0], [left, right], [0, 0]], mode="REFLECT")

  def compute_output_shape(self, input_shape):
    t = input_shape[1]
    return (input_shape[0], None if t is None else t + sum(self.padding),
            input_shape[2])

  def get_config(self):
    config = super().get_config()
    config.update(padding=self.padding)
    return config


@keras.saving.register_keras_serializable(PACKAGE)
class WeightNormalization(keras.layers.Wrapper):
  """Weight normalisation (Salimans & Kingma 2016) for Conv1D/Conv1DTranspose.

  kernel = g * v / ||v||, the norm taken per output channel. Keras stores a
  Conv1D kernel as `[k, in, out]` but a Conv1DTranspose kernel as
  `[k, out, in]`, so the output-channel axis differs (2 vs 1); getting this
  wrong gives a kernel of the right shape normalised over the wrong axes.
  `v` is the wrapped layer's own kernel variable; `g` starts at its norm,
  so at initialisation the wrapper's output equals the wrapped layer's.
  """

  def __init__(self, layer, **kwargs):
    if not isinstance(layer, (keras.layers.Conv1D,
                              keras.layers.Conv1DTranspose)):
      raise TypeError("WeightNormalization wraps keras.layers.Conv1D or "
                      f"Conv1DTranspose, got {type(layer).__name__}")
    super().__init__(layer, **kwargs)
    self.transpose = isinstance(layer, keras.layers.Conv1DTranspose)
    self.out_axis = 1 if self.transpose else 2
    self.reduce_axes = tuple(a for a in range(3) if a != self.out_axis)

  def build(self, input_shape):
    if not self.layer.built:
      self.layer.build(input_shape)
    v = self.layer.kernel
    self.g = self.add_weight(name="g", shape=(v.shape[self.out_axis],),
                             initializer="ones", trainable=True)
    self.g.assign(np.asarray(self._norm(v)).reshape(-1))
    self.built = True

  def _norm(self, v):
    return ops.sqrt(ops.sum(ops.square(v), axis=self.reduce_axes))

  def kernel(self):
    """The effective (normalised) kernel, shaped like the wrapped layer's."""
    v = self.layer.kernel
    shape = [1, 1, 1]
    shape[self.out_axis] = -1
    return v * ops.reshape(self.g / self._norm(v), shape)

  def call(self, inputs):
    layer = self.layer
    kernel = self.kernel()
    if self.transpose:
      outputs = ops.conv_transpose(
          inputs, kernel, strides=layer.strides, padding=layer.padding,
          output_padding=layer.output_padding, data_format=layer.data_format,
          dilation_rate=layer.dilation_rate)
    else:
      outputs = layer.convolution_op(inputs, kernel)
    if layer.use_bias:
      outputs = outputs + layer.bias
    if layer.activation is not None:
      outputs = layer.activation(outputs)
    return outputs

  def compute_output_shape(self, input_shape):
    return self.layer.compute_output_shape(input_shape)

  def folded(self):
    """A plain copy of the wrapped layer holding the normalised kernel."""
    plain = self.layer.__class__.from_config(self.layer.get_config())
    plain.build(self._input_shape_for_fold())
    weights = [np.asarray(self.kernel())]
    if self.layer.use_bias:
      weights.append(np.asarray(self.layer.bias))
    plain.set_weights(weights)
    return plain

  def _input_shape_for_fold(self):
    v = self.layer.kernel
    in_channels = v.shape[2] if self.transpose else v.shape[1] * getattr(
        self.layer, "groups", 1)
    return (None, None, in_channels)


def unwrapped(layer):
  """The conv a `WeightNormalization` wraps, or `layer` itself."""
  return layer.layer if isinstance(layer, WeightNormalization) else layer


# Up to this many groups a grouped convolution runs as one conv1d per group;
# beyond, the per-op cost of so many small convolutions outweighs framing
# the input for one batched matmul (BUILD_NOTES.md, MelGAN judge).
_SPLIT_MAX_GROUPS = 16


def grouped_conv1d(inputs, kernel, stride: int, groups: int):
  """Grouped 'valid' 1-D convolution, without XLA.

  Same result as `tf.nn.convolution(inputs, kernel, stride, "VALID")` with
  `groups` contiguous channel groups (input channel group g feeds output
  channels [g * out / groups, (g + 1) * out / groups)), which TensorFlow only
  runs on CPU through XLA (25 s for the 1024-channel, 256-group layer of the
  MelGAN judge, batch 8, forward and backward, on 2 cores). Up to
  `_SPLIT_MAX_GROUPS` groups: one `conv1d` per group (oneDNN kernels);
  more: the input framed into `[groups, positions, k * channels / groups]`
  and one batched matmul.

  Args:
    inputs: `[batch, time, channels]`.
    kernel: `[k, channels / groups, out]` (Keras's Conv1D layout).
  Returns:
    `[batch, (time - k) // stride + 1, out]`.
  """
  if groups <= _SPLIT_MAX_GROUPS:
    pieces = zip(tf.split(inputs, groups, axis=-1),
                 tf.split(kernel, groups, axis=-1))
    return tf.concat([tf.nn.conv1d(x, w, stride, "VALID")
                      for x, w in pieces], axis=-1)
  k, group_in, out = kernel.shape
  batch, time = tf.shape(inputs)[0], tf.shape(inputs)[1]
  x = tf.reshape(inputs, [batch, time, groups, group_in])
  frames = tf.signal.frame(tf.transpose(x, [2, 0, 1, 3]), k, stride,
                           axis=2)                     # [g, b, t', k, c]
  steps = tf.shape(frames)[2]
  frames = tf.reshape(frames, [groups, batch * steps, k * group_in])
  w = tf.reshape(kernel, [k, group_in, groups, out // groups])
  w = tf.reshape(tf.transpose(w, [2, 0, 1, 3]),
                 [groups, k * group_in, out // groups])
  y = tf.reshape(tf.matmul(frames, w), [groups, batch, steps, out // groups])
  return tf.reshape(tf.transpose(y, [1, 2, 0, 3]), [batch, steps, out])


@keras.saving.register_keras_serializable(PACKAGE)
class GroupedConv1D(keras.layers.Conv1D):
  """`keras.layers.Conv1D` whose grouped case runs `grouped_conv1d`.

  `padding="valid"`, no dilation when `groups > 1` (pad explicitly before).
  Weights, config and results are those of a plain Conv1D.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if self.groups > 1 and (self.padding != "valid"
                            or self.dilation_rate != (1,)):
      raise ValueError("GroupedConv1D with groups > 1 needs padding='valid' "
                       "and dilation 1")

  def convolution_op(self, inputs, kernel):
    if self.groups == 1:
      return super().convolution_op(inputs, kernel)
    return grouped_conv1d(inputs, kernel, self.strides[0], self.groups)


def reference_initializers(fan_in: int):
  """(kernel, bias) initialisers of the reference MelGAN (and of HiFi-GAN's
  discriminators): PyTorch's defaults for a conv with `fan_in` inputs.

  The reference applies N(0, 0.02) to `module.weight` of its weight-normed
  convs, but weight norm recomputes `weight` from (g, v) before every
  forward pass, so that assignment is lost and v keeps PyTorch's default,
  U(+-1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)), biases likewise,
  g = ||v||. Each layer then scales the signal by about 1/sqrt(3). With
  N(0, `init_stddev`) kernels instead, the 128-mel generator's initial
  output has a standard deviation of about 4e-12 (measured; 3e-4 with
  these): its first layers' gradients fall far below Adam's epsilon. Keras's
  fan_in of a Conv1DTranspose kernel `[k, out, in]` is k * out, as
  PyTorch's is of its `[in, out, k]`.
  """
  bound = fan_in ** -0.5
  return (keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
          keras.initializers.RandomUniform(-bound, bound))


def wn_conv(in_channels, filters, kernel, transpose=False, groups=1,
            name=None, **kwargs):
  """A weight-normalised Conv1D (grouped if asked) or Conv1DTranspose with
  PyTorch's default initialisation (`reference_initializers`)."""
  fan_in = kernel * (filters if transpose else in_channels // groups)
  kernel_init, bias_init = reference_initializers(fan_in)
  if transpose:
    layer = keras.layers.Conv1DTranspose(
        filters, kernel, kernel_initializer=kernel_init,
        bias_initializer=bias_init, name=name, **kwargs)
  else:
    layer = GroupedConv1D(
        filters, kernel, groups=groups, kernel_initializer=kernel_init,
        bias_initializer=bias_init, name=name, **kwargs)
  return WeightNormalization(layer, name=name)


@keras.saving.register_keras_serializable(PACKAGE)
class PolyphaseFilterBankConv(FilterBankConv):
  """`FilterBankConv` (same frozen weight, same outputs to float rounding)
  computed by `dsp.filter_bank_analysis_polyphase`."""

  def __init__(self, *args, phases=32, **kwargs):
    super().__init__(*args, **kwargs)
    self.phases = int(phases)

  def call(self, inputs):
    return dsp.filter_bank_analysis_polyphase(
        inputs, ops.convert_to_tensor(self.bank), self.phases)

  def get_config(self):
    config = super().get_config()
    config.update(phases=self.phases)
    return config


@keras.saving.register_keras_serializable(PACKAGE)
class PolyphaseFilterBankConvTranspose(FilterBankConvTranspose):
  """`FilterBankConvTranspose` (same frozen weight, same outputs to float
  rounding) computed by `dsp.filter_bank_synthesis_polyphase`."""

  def __init__(self, *args, phases=32, **kwargs):
    super().__init__(*args, **kwargs)
    self.phases = int(phases)

  def call(self, inputs):
    return dsp.filter_bank_synthesis_polyphase(
        inputs, ops.convert_to_tensor(self.bank), self.phases)

  def get_config(self):
    config = super().get_config()
    config.update(phases=self.phases)
    return config
