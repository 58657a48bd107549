"""`tfvocoder.export.graphs`: dynamic SavedModel signatures, folded weight norm."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfvocoder.models.layers import WeightNormalization
from vocoder_models import exported, music_mel


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_saved_model_signature_is_dynamic_and_matches_keras(
    tmp_path_factory, model):
  out_dir, _, generator, config = exported(tmp_path_factory, model)
  loaded = tf.saved_model.load(os.path.join(out_dir, "saved_model"))
  serve = loaded.signatures["serving_default"]
  spec = serve.structured_input_signature[1]["mel"]
  assert spec.shape.as_list() == [None, None, config.n_mels]
  assert spec.dtype == tf.float32
  assert list(serve.structured_outputs) == ["audio"]
  for batch, frames in ((1, 24), (3, 17)):
    mel = np.stack([music_mel(config, frames, seed=s) for s in range(batch)])
    audio = serve(mel=tf.constant(mel))["audio"].numpy()
    assert audio.shape == (batch, frames * config.hop_length)
    expected = generator.generate_audio(mel).numpy()
    assert np.abs(audio - expected).max() <= 1e-5


def test_weight_norm_is_folded(tmp_path_factory):
  out_dir, report, generator, _ = exported(tmp_path_factory, "melgan")
  wn_layers = [layer for layer in generator._flatten_layers()  # pylint: disable=protected-access
               if isinstance(layer, WeightNormalization)]
  assert wn_layers
  # Plain kernel + bias per convolution: no g (and no v beside the kernel).
  assert report["files"]["saved_model"]["variables"] == (
      len(generator.weights) - len(wn_layers))
  loaded = tf.saved_model.load(os.path.join(out_dir, "saved_model"))
  graph = loaded.signatures["serving_default"].graph
  ops = {op.type for op in graph.get_operations()}
  for function in graph.as_graph_def().library.function:
    ops |= {node.op for node in function.node_def}
  assert "Sqrt" not in ops and "Rsqrt" not in ops   # no ||v|| at run time
