"""`tfvocoder.export.formulations`: polyphase transposed convs, slice pads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvocoder.export import formulations
from tfvocoder.models.layers import ReflectionPad1D
from vocoder_models import exported

TFLITE = ("vocoder_fp32.tflite", "vocoder_fp16.tflite", "vocoder_int8.tflite")


@pytest.mark.parametrize("size,stride,frames", [
    (8, 4, 13), (4, 2, 10), (16, 8, 9), (7, 3, 11), (3, 3, 5), (2, 1, 6)])
def test_polyphase_transposed_conv_equals_keras(size, stride, frames):
  layer = keras.layers.Conv1DTranspose(
      5, size, strides=stride, padding="same", bias_initializer="normal")
  layer.build((None, None, 3))
  x = np.random.default_rng(size).normal(size=(2, frames, 3)).astype(
      np.float32)
  expected = layer(x).numpy()
  got = formulations.conv1d_transpose_polyphase(
      tf.constant(x), layer.kernel, stride, layer.bias).numpy()
  assert got.shape == expected.shape == (2, frames * stride, 5)
  assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
  model = keras.Sequential([layer])
  with formulations.polyphase_transposed_convs(model) as patched:
    assert patched == [layer]
    dynamic = tf.function(model, input_signature=[
        tf.TensorSpec([None, None, 3], tf.float32)])
    assert np.abs(dynamic(x).numpy() - expected).max() <= 1e-5 * np.abs(
        expected).max()
  assert "call" not in vars(layer)                      # restored


def test_exported_tflite_has_no_transposed_convolutions(tmp_path_factory):
  _, report, _, _ = exported(tmp_path_factory, "multiscale")
  assert report["formulations"] == ["tflite: polyphase_transposed_conv",
                                    "tflite: reflect_pad_as_slices"]
  for name in TFLITE:
    assert "TRANSPOSE_CONV" not in report["files"][name]["ops"]
  _, report, _, _ = exported(tmp_path_factory, "melgan")
  for name in TFLITE:
    assert "TRANSPOSE_CONV" not in report["files"][name]["ops"]
    assert "MIRROR_PAD" not in report["files"][name]["ops"]


@pytest.mark.parametrize("left,right", [(1, 1), (3, 3), (9, 9), (3, 0)])
def test_reflect_pad_slices_equal_reflection_padding(left, right):
  x = np.random.default_rng(left).normal(size=(2, 12, 3)).astype(np.float32)
  layer = ReflectionPad1D((left, right))
  expected = layer(x).numpy()
  model = keras.Sequential([layer])
  with formulations.reflect_pads_as_slices(model) as patched:
    assert patched == [layer]
    got = model(x).numpy()
  assert got.shape == expected.shape and np.array_equal(got, expected)
