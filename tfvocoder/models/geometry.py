"""Receptive fields and multiply-adds of chains of 1-D convolutions."""

import collections
import math
from typing import Iterable, Sequence, Tuple

import keras

from tfvocoder.models import layers

Span = collections.namedtuple(
    "Span", "kernel stride dilation pad_left transpose")
Span.__doc__ = """One layer's footprint on its input time axis.

A convolution's output i reads inputs `i * stride - pad_left + j * dilation`,
j in [0, kernel); a transposed convolution's output n receives input t when
`0 <= n + pad_left - t * stride < kernel` (`pad_left` is then the crop).
"""


def conv_span(layer, pad_left=None) -> Span:
  """The `Span` of a Keras Conv1D / Conv1DTranspose (or WN-wrapped one).

  `padding="same"` follows TensorFlow's SAME rule for inputs whose length is
  a multiple of the stride; for `"valid"` pass the explicit padding (e.g. a
  preceding `ReflectionPad1D`) as `pad_left`.
  """
  layer = layers.unwrapped(layer)
  kernel, stride = layer.kernel_size[0], layer.strides[0]
  dilation = layer.dilation_rate[0]
  transpose = isinstance(layer, keras.layers.Conv1DTranspose)
  if transpose and dilation != 1:
    raise ValueError("dilated transposed convolutions are not supported")
  if pad_left is None:
    if layer.padding == "same":
      pad_left = max((kernel - 1) * dilation + 1 - stride, 0) // 2
    else:
      pad_left = 0
  return Span(kernel, stride, dilation, pad_left, transpose)


def filter_bank_span(layer) -> Span:
  """The `Span` of a frozen `FilterBankConv` / `FilterBankConvTranspose`."""
  left = layer.taps // 2
  if isinstance(layer, layers.FilterBankConvTranspose):
    return Span(layer.taps, 1, 1, layer.taps - 1 - left, False)
  return Span(layer.taps, 1, 1, left, False)


def input_interval(spans: Sequence[Span], lo: int, hi: int) -> Tuple[int, int]:
  """Input indices `[lo', hi']` that outputs `[lo, hi]` of a chain depend on.

  `spans` run from the chain's input to its output. Borders are ignored
  (indices may be negative or past the end): the answer is translation
  invariant away from them.
  """
  for span in reversed(spans):
    if span.transpose:
      lo = -((span.kernel - 1 - lo - span.pad_left) // span.stride)  # ceil
      hi = (hi + span.pad_left) // span.stride
    else:
      lo = lo * span.stride - span.pad_left
      hi = hi * span.stride - span.pad_left + (span.kernel - 1) * span.dilation
  return lo, hi


def receptive_field_frames(paths: Iterable[Tuple[Sequence[Span], int]]) -> int:
  """Mel frames on each side of its own frame that influence an output sample.

  Args:
    paths: `(spans, samples_per_frame)` for each output stream, the spans of
      its longest chain from the mel frames to its samples.
  Returns:
    max over streams and sample positions n of max(f - lo, hi - f), where f
    = n // samples_per_frame is the sample's own frame and [lo, hi] the
    frames it depends on.
  """
  frames = 0
  for spans, samples_per_frame in paths:
    for n in range(samples_per_frame):
      lo, hi = input_interval(spans, n, n)
      frames = max(frames, -lo, hi)   # own frame is 0 for n < spf
  return int(frames)


def multiply_adds(layer, in_length: float) -> Tuple[float, float]:
  """(multiply-adds, output length) of one layer over `in_length` samples.

  Counted from the kernel shape: a convolution applies its whole kernel
  once per output sample (`[k, in / groups, out]`), a transposed one once
  per input sample (`[k, out, in]`), a filter bank once per sample.
  Biases, activations and padding are not counted. Lengths are per mel frame
  (or any unit), so borders are ignored.
  """
  if isinstance(layer,
                (layers.FilterBankConv, layers.FilterBankConvTranspose)):
    return in_length * layer.n_filters * layer.taps, in_length
  inner = layers.unwrapped(layer)
  kernel_size = math.prod(inner.kernel.shape)
  stride = inner.strides[0]
  if isinstance(inner, keras.layers.Conv1DTranspose):
    return in_length * kernel_size, in_length * stride
  out_length = in_length / stride
  return out_length * kernel_size, out_length


def chain_multiply_adds(layers, in_length: float = 1.0) -> float:
  """Multiply-adds of `layers` applied in sequence to `in_length` input
  samples (per input sample with the default 1), borders not counted."""
  total, length = 0.0, in_length
  for layer in layers:
    macs, length = multiply_adds(layer, length)
    total += macs
  return total
