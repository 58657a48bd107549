"""The exported graphs: signatures over a restored generator.

SavedModel (dynamic batch and frames):
  serving_default(mel f32[batch, frames, n_mels])
      -> {"audio": f32[batch, frames * hop]}
  bands(mel) -> {"band_k": f32[batch, frames*hop/2**k]}         (multiscale)
  merge(band_0, ... band_{n-1}) -> {"audio": ...}                 (multiscale)
`serving_default` is the generator's own `generate_audio` (for the
multiscale model the bands merged by the FFT merge inside the graph), so it
equals Keras. `merge` is the smooth-crossover merge that streaming runs on
overlapping windows (`tfvocoder.inference.streaming_merge`).

TFLite (batch 1, fixed `chunk_frames` mel frames / `merge_frames` band
frames): the same three signatures with builtin ops only; serving_default
merges its chunk with `builtin_merge.merge_bands_builtin` (the FFT merge of
that chunk), `merge` is `builtin_merge.merge_bands_smooth`.

Weight normalisation is folded: while a `folded_weight_norm` context is
open, every `WeightNormalization` layer calls a plain copy of its layer
holding `g * v / ||v||` as its kernel, so traced graphs hold one plain
kernel per convolution and no v / g.
"""

import contextlib
from typing import Dict, List

import tensorflow as tf

from tfvocoder.dsp import builtin_merge
from tfvocoder.config import VocoderConfig
from tfvocoder.models.layers import WeightNormalization

ConcreteFunction = tf.types.experimental.ConcreteFunction

# Signature keys by the generator's target_key, in both export formats.
SIGNATURES = {"bands": ("serving_default", "bands", "merge"),
              "audio": ("serving_default",)}


@contextlib.contextmanager
def folded_weight_norm(model):
  """Temporarily routes every WN layer of `model` through its folded copy.

  Yields the plain layers (their variables are what traced graphs capture).
  """
  patched = []
  for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
    if isinstance(layer, WeightNormalization):
      plain = layer.folded()
      object.__setattr__(layer, "call",
                         lambda inputs, *_, _plain=plain, **__: _plain(inputs))
      patched.append((layer, plain))
  try:
    yield [plain for _, plain in patched]
  finally:
    for layer, _ in patched:
      object.__delattr__(layer, "call")


def _band_specs(config: VocoderConfig, frames, batch) -> List[tf.TensorSpec]:
  return [tf.TensorSpec([batch, None if frames is None else frames * hop],
                        tf.float32, name=f"band_{k}")
          for k, hop in enumerate(config.band_hops)]


def _named_bands(bands) -> Dict[str, tf.Tensor]:
  return {f"band_{k}": band for k, band in enumerate(bands)}


def saved_model_functions(generator, config: VocoderConfig
                          ) -> Dict[str, ConcreteFunction]:
  """Concrete functions of the SavedModel signatures (dynamic shapes)."""
  mel_spec = tf.TensorSpec([None, None, config.n_mels], tf.float32, name="mel")

  @tf.function(input_signature=[mel_spec])
  def serving_default(mel):
    return {"audio": generator.generate_audio(mel)}

  functions = {"serving_default": serving_default.get_concrete_function()}
  if generator.target_key == "bands":
    @tf.function(input_signature=[mel_spec])
    def bands(mel):
      return _named_bands(generator(mel, training=False))

    @tf.function(input_signature=_band_specs(config, None, None))
    def merge(*bands):
      return {"audio": builtin_merge.merge_bands_smooth(list(bands), config)}

    functions["bands"] = bands.get_concrete_function()
    functions["merge"] = merge.get_concrete_function()
  return functions


def tflite_functions(generator, config: VocoderConfig, chunk_frames: int,
                     merge_frames: int) -> List[ConcreteFunction]:
  """Fixed-size batch-1 concrete functions for the TFLite converter; their
  Python names become the signature keys."""
  mel_spec = tf.TensorSpec([1, chunk_frames, config.n_mels], tf.float32,
                           name="mel")
  multiscale = generator.target_key == "bands"
  if multiscale:
    builtin_merge.check_tflite_length(chunk_frames * config.hop_length, config)
    builtin_merge.check_tflite_length(merge_frames * config.hop_length, config)

  def audio_of(mel):
    if multiscale:
      return builtin_merge.merge_bands_builtin(generator(mel, training=False),
                                            config)
    return generator.generate_audio(mel)

  @tf.function(input_signature=[mel_spec])
  def serving_default(mel):
    return {"audio": audio_of(mel)}

  functions = [serving_default.get_concrete_function()]
  if multiscale:
    @tf.function(input_signature=[mel_spec])
    def bands(mel):
      return _named_bands(generator(mel, training=False))

    @tf.function(input_signature=_band_specs(config, merge_frames, 1))
    def merge(*bands):
      return {"audio": builtin_merge.merge_bands_smooth(list(bands), config)}

    functions += [bands.get_concrete_function(), merge.get_concrete_function()]
  return functions


def tracking_root(functions) -> tf.Module:
  """A module tracking exactly the variables the functions (a list or a
  dict of concrete functions) capture."""
  if isinstance(functions, dict):
    functions = list(functions.values())
  root = tf.Module()
  seen, variables = set(), []
  for function in functions:
    for variable in function.variables:
      if id(variable) not in seen:
        seen.add(id(variable))
        variables.append(variable)
  root.variables_used = variables
  return root


def save(generator, config: VocoderConfig, path: str) -> List[str]:
  """Writes the SavedModel; returns the saved variables' names."""
  functions = saved_model_functions(generator, config)
  root = tracking_root(functions)
  tf.saved_model.save(root, path, signatures=functions)
  return [v.name for v in root.variables_used]
