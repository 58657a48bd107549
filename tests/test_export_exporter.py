"""`python -m export`: SavedModel + builtin-op TFLite files, parity, errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvocoder.config import tiny_config
from tfvocoder.models.layers import WeightNormalization
from tfvocoder.evaluation.metrics import snr_db
from vocoder_models import (CHUNK_FRAMES, MERGE_FRAMES, exported,
                            healthy_generator, import_export, music_mel,
                            write_model_dir)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TFLITE = ("vocoder_fp32.tflite", "vocoder_fp16.tflite", "vocoder_int8.tflite")


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_report_files_ops_and_parity(tmp_path_factory, model):
  out_dir, report, _, _ = exported(tmp_path_factory, model)
  with open(os.path.join(out_dir, "export_report.json")) as f:
    assert json.load(f) == json.loads(json.dumps(report))
  for name in ("saved_model", *TFLITE):
    assert os.path.exists(os.path.join(out_dir, name))
    assert report["files"][name]["bytes"] > 0
  for name in TFLITE:
    ops = report["files"][name]["ops"]
    assert "CONV_2D" in ops
    assert not [op for op in ops if op.startswith("CUSTOM")], ops
    if model == "multiscale":
      assert "RFFT2D" in ops
  parity = report["parity"]
  assert parity["saved_model"]["max_abs_diff"] <= 1e-5
  assert parity["saved_model_stream"]["snr_db"] >= 40
  assert parity["tflite_fp32"]["chunk_snr_db"] >= 40
  assert parity["tflite_fp32"]["stream_snr_db"] >= 40
  assert parity["tflite_fp16"]["chunk_snr_db"] >= 30
  assert parity["tflite_fp16"]["stream_snr_db"] >= 30
  assert np.isfinite(parity["tflite_int8"]["stream_snr_db"])
  assert all(entry["ok"] for entry in parity.values())
  with open(os.path.join(out_dir, "export_config.json")) as f:
    info = json.load(f)
  assert info["tflite"]["chunk_frames"] == CHUNK_FRAMES
  assert info["tflite"]["merge_frames"] == (MERGE_FRAMES if model ==
                                            "multiscale" else None)
  assert not os.path.isabs(info["checkpoint"])


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


def test_tflite_files_run_under_litert(tmp_path_factory):
  from ai_edge_litert.interpreter import Interpreter
  out_dir, _, generator, config = exported(tmp_path_factory, "multiscale")
  mel = music_mel(config, CHUNK_FRAMES, seed=5)
  expected = generator.generate_audio(mel[None]).numpy()[0]
  interpreter = Interpreter(os.path.join(out_dir, "vocoder_fp32.tflite"),
                            num_threads=1)
  assert set(interpreter.get_signature_list()) == {
      "serving_default", "bands", "merge"}
  audio = interpreter.get_signature_runner("serving_default")(
      mel=mel[None])["audio"][0]
  assert snr_db(expected, audio) >= 40
  bands = interpreter.get_signature_runner("bands")(mel=mel[None])
  assert [bands[f"band_{k}"].shape[1] for k in range(config.n_bands)] == [
      CHUNK_FRAMES * hop for hop in config.band_hops]


def _model_dir(tmp_path, name="model"):
  config = tiny_config(model="melgan", melgan_ngf=4)
  model_dir = str(tmp_path / name)
  write_model_dir(model_dir, config, healthy_generator(config))
  return model_dir


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
  export = import_export()
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(export.ExportError, match="config.json: missing"):
    export.export_model(str(empty), str(tmp_path / "out"))
  (empty / "config.json").write_text(tiny_config().to_json())
  with pytest.raises(export.ExportError, match=r"empty: no checkpoint found"):
    export.export_model(str(empty), str(tmp_path / "out"))

  model_dir = _model_dir(tmp_path)
  checkpoint = tf.train.latest_checkpoint(model_dir)
  with open(checkpoint + ".index", "wb") as f:          # corrupt the index
    f.write(b"\0garbage" * 16)
  with pytest.raises(export.ExportError, match=checkpoint.replace(".", r"\.")):
    export.export_model(model_dir, str(tmp_path / "out"))
  with pytest.raises(export.ExportError, match="no such checkpoint"):
    export.export_model(model_dir, str(tmp_path / "out"),
                        checkpoint=str(tmp_path / "nope" / "ckpt-3"))


def test_checkpoint_without_generator_is_an_error(tmp_path):
  export = import_export()
  config = tiny_config(model="melgan", melgan_ngf=4)
  model_dir = str(tmp_path / "other")
  os.makedirs(model_dir)
  step = tf.Variable(3)
  tf.train.CheckpointManager(tf.train.Checkpoint(step=step), model_dir,
                             1).save()
  with open(os.path.join(model_dir, "config.json"), "w") as f:
    f.write(config.to_json())
  with pytest.raises(export.ExportError, match="cannot restore the generator"):
    export.export_model(model_dir, str(tmp_path / "out"))


def test_untracked_weights_are_detected():
  from tfvocoder.training.model_dir import _checkpoint_tracked  # pylint: disable=protected-access

  class Listed(keras.Model):
    def __init__(self):
      super().__init__()
      self.parts = [keras.layers.Dense(2), keras.layers.Dense(2)]
      self.last = keras.layers.Dense(1)

    def call(self, x):
      return self.last(self.parts[1](self.parts[0](x)))

  model = Listed()
  model(np.zeros((1, 3), np.float32))
  assert _checkpoint_tracked(model) == 2 < len(model.weights) == 6


def test_cli_reports_errors_with_exit_status(tmp_path):
  missing = str(tmp_path / "no_such_model_dir")
  run = subprocess.run(
      [sys.executable, "-m", "export", f"--model_dir={missing}",
       f"--output_dir={tmp_path / 'out'}"], cwd=REPO, capture_output=True,
      text=True, timeout=120)
  assert run.returncode == 1
  assert f"{missing}: model dir does not exist" in run.stderr


@pytest.mark.parametrize("size,stride,frames", [
    (8, 4, 13), (4, 2, 10), (16, 8, 9), (7, 3, 11), (3, 3, 5), (2, 1, 6)])
def test_polyphase_transposed_conv_equals_keras(size, stride, frames):
  formulations = import_export().formulations
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
  from tfvocoder.models.layers import ReflectionPad1D
  formulations = import_export().formulations
  x = np.random.default_rng(left).normal(size=(2, 12, 3)).astype(np.float32)
  layer = ReflectionPad1D((left, right))
  expected = layer(x).numpy()
  model = keras.Sequential([layer])
  with formulations.reflect_pads_as_slices(model) as patched:
    assert patched == [layer]
    got = model(x).numpy()
  assert got.shape == expected.shape and np.array_equal(got, expected)
