"""Export-time rewrites for TFLite: same outputs, faster graphs.

`polyphase_transposed_convs(model)`: while open, every Keras
`Conv1DTranspose` with `padding="same"` (no dilation, no output padding) of
`model` (and of any extra layers given, e.g. weight-norm folded copies)
computes its output through `conv1d_transpose_polyphase`: a stride-1
convolution with `stride * filters` output channels over the input,
followed by a depth-to-space reshape and a crop. Output sample
u = q * s + r (u = n + pad_left) is

    y[q s + r] = sum_m x[q - m] W[m s + r],   m = 0 .. ceil(K / s) - 1,

i.e. each of the s output phases is an ordinary convolution of the input
with every s-th tap of the kernel. Same multiply-adds as the transposed
convolution (for K = 2 s), but lowered to CONV_2D, which XNNPACK (and its
dynamic-range int8 path) runs as a dense GEMM, instead of TRANSPOSE_CONV.

`reflect_pads_as_slices(model)`: every `tfvocoder.models.layers.ReflectionPad1D`
concatenates single-sample slices instead of using MIRROR_PAD, which
XNNPACK does not take (each one splits the delegated graph in two).
"""

import contextlib
import math

import keras
import tensorflow as tf

from tfvocoder.models.layers import ReflectionPad1D


def conv1d_transpose_polyphase(x: tf.Tensor, kernel: tf.Tensor, stride: int,
                               bias=None) -> tf.Tensor:
  """`Conv1DTranspose(padding="same")` as a stride-1 conv + depth-to-space.

  Args:
    x: `[batch, T, in]`.
    kernel: Keras transposed-conv kernel `[K, out, in]`.
    stride: s.
    bias: `[out]` or None.
  Returns:
    `[batch, T * s, out]`, equal (float rounding aside) to the layer.
  """
  size, out_channels, in_channels = kernel.shape
  size, s = int(size), int(stride)
  taps = math.ceil(size / s)
  pad_left = max(size - s, 0) // 2             # TF's SAME rule
  kernel = tf.pad(kernel, [[0, taps * s - size], [0, 0], [0, 0]])
  # [taps, s, out, in] -> conv taps run over x[q - taps + 1 .. q]: reverse m.
  phases = tf.reshape(kernel, [taps, s, out_channels, in_channels])[::-1]
  weights = tf.reshape(tf.transpose(phases, [0, 3, 1, 2]),
                       [taps, in_channels, s * out_channels])
  padded = tf.pad(x, [[0, 0], [taps - 1, taps - 1], [0, 0]])
  y = tf.nn.conv1d(padded, weights, stride=1, padding="VALID")
  batch, length = tf.shape(x)[0], tf.shape(x)[1]
  y = tf.reshape(y, [batch, -1, out_channels])
  y = y[:, pad_left:pad_left + length * s]
  if bias is not None:
    y = y + bias
  static = x.shape[1]
  y.set_shape([x.shape[0], None if static is None else static * s,
               out_channels])
  return y


def _eligible(layer) -> bool:
  return (type(layer) is keras.layers.Conv1DTranspose   # pylint: disable=unidiomatic-typecheck
          and layer.padding == "same" and layer.output_padding is None
          and tuple(layer.dilation_rate) == (1,)
          and layer.data_format == "channels_last")


@contextlib.contextmanager
def polyphase_transposed_convs(model, extra_layers=()):
  """Routes eligible `Conv1DTranspose` layers through the polyphase form."""
  layers = list(model._flatten_layers(include_self=False, recursive=True))  # pylint: disable=protected-access
  for extra in extra_layers:
    layers += list(extra._flatten_layers(include_self=True, recursive=True))  # pylint: disable=protected-access
  patched = []
  for layer in layers:
    if not _eligible(layer) or any(layer is p for p in patched):
      continue

    def call(inputs, *_, _layer=layer, **__):
      y = conv1d_transpose_polyphase(
          inputs, _layer.kernel, _layer.strides[0],
          _layer.bias if _layer.use_bias else None)
      return _layer.activation(y) if _layer.activation is not None else y

    object.__setattr__(layer, "call", call)
    patched.append(layer)
  try:
    yield patched
  finally:
    for layer in patched:
      object.__delattr__(layer, "call")


def reflect_pad_slices(x: tf.Tensor, left: int, right: int) -> tf.Tensor:
  """`[batch, T, c]` reflect-padded on the time axis (edge sample not
  repeated, like MIRROR_PAD REFLECT) by concatenating slices."""
  parts = [x[:, i:i + 1] for i in range(left, 0, -1)] + [x]
  parts += [x[:, -1 - i:-i] for i in range(1, right + 1)]
  return tf.concat(parts, axis=1)


@contextlib.contextmanager
def reflect_pads_as_slices(model):
  """Routes every `ReflectionPad1D` of `model` through `reflect_pad_slices`."""
  layers = [layer for layer in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
            if isinstance(layer, ReflectionPad1D)]
  for layer in layers:
    object.__setattr__(
        layer, "call",
        lambda x, *_, _pad=layer.padding, **__: reflect_pad_slices(x, *_pad))
  try:
    yield layers
  finally:
    for layer in layers:
      object.__delattr__(layer, "call")
