"""`tfvocoder.inference.runtime`: loading exports, clear errors, op names."""

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfvocoder.inference import Vocoder
from tfvocoder.inference.runtime import (ModelLoadError, SavedModelRuntime,
                                         TFLiteRuntime, open_runtime,
                                         tflite_op_names)
from tfvocoder.io_utils import backup_path
from vocoder_models import exported, music_mel

_NO_TF_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tfvocoder import dsp
    from tfvocoder.dsp import bands
    from tfvocoder.inference import Vocoder
    model, mel_path, out_path = sys.argv[1:4]
    np.save(out_path, Vocoder(model).vocode(np.load(mel_path)))
    print(json.dumps(sorted(m for m in ("tensorflow", "keras")
                            if m in sys.modules)))
""")


def test_flex_ops_are_detected():
  """The builtin-only check can fail: irfft needs a Flex op."""
  module = tf.Module()
  module.inverse = tf.function(
      lambda x: {"y": tf.signal.irfft(tf.complex(x, x))},
      input_signature=[tf.TensorSpec([1, 33], tf.float32, name="x")])
  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [module.inverse.get_concrete_function()], module)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                         tf.lite.OpsSet.SELECT_TF_OPS]
  ops = tflite_op_names(converter.convert())
  assert any(op.startswith("CUSTOM:Flex") for op in ops), ops


def test_missing_and_unloadable_models_are_clear_errors(tmp_path_factory,
                                                        tmp_path):
  out_dir, _, _, _ = exported(tmp_path_factory, "multiscale")
  missing = str(tmp_path / "nothing.tflite")
  with pytest.raises(ModelLoadError, match="nothing.tflite: no such model"):
    Vocoder(missing)
  lonely = tmp_path / "lonely.tflite"
  lonely.write_bytes(b"not a model")
  with pytest.raises(ModelLoadError, match="export_config.json"):
    Vocoder(str(lonely))
  (tmp_path / "export_config.json").write_text(
      open(os.path.join(out_dir, "export_config.json")).read())
  with pytest.raises(ModelLoadError, match="lonely.tflite: not a loadable"):
    Vocoder(str(lonely))


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_tflite_runs_need_no_tensorflow(tmp_path_factory, tmp_path, model):
  """A TFLite export vocodes (exact mode, band-edge correction included)
  with numpy and LiteRT only, as in the TF-free runtime docstring."""
  out_dir, _, _, config = exported(tmp_path_factory, model)
  path = os.path.join(out_dir, "vocoder_fp32.tflite")
  mel = music_mel(config, 300, seed=7)
  np.save(tmp_path / "mel.npy", mel)
  run = subprocess.run([sys.executable, "-c", _NO_TF_SCRIPT, path,
                        str(tmp_path / "mel.npy"), str(tmp_path / "out.npy")],
                       capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert json.loads(run.stdout.strip().splitlines()[-1]) == []
  expected = Vocoder(path).vocode(mel)
  got = np.load(tmp_path / "out.npy")
  assert got.shape == expected.shape
  assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def test_dirs_holding_tflite_open_it_not_the_saved_model(tmp_path_factory,
                                                         tmp_path, caplog):
  """Trust: builtin TFLite cannot run file ops, a SavedModel graph can; so
  an export dir, or a SavedModel dir with the fp32 file in it, opens the
  TFLite file (logged); an export dir without one opens saved_model/."""
  out_dir, _, _, _ = exported(tmp_path_factory, "melgan")
  both = tmp_path / "both"
  shutil.copytree(os.path.join(out_dir, "saved_model"), both)
  shutil.copy(os.path.join(out_dir, "vocoder_fp32.tflite"), both)
  caplog.set_level(logging.INFO, logger="absl")
  for path in (out_dir, str(both)):
    runtime = open_runtime(path)
    assert isinstance(runtime, TFLiteRuntime)
    assert runtime.path == os.path.join(path, "vocoder_fp32.tflite")
    assert f"opening {runtime.path}" in caplog.text
  saved_only = tmp_path / "saved_only"
  shutil.copytree(os.path.join(out_dir, "saved_model"),
                  saved_only / "saved_model")
  shutil.copy(os.path.join(out_dir, "export_config.json"), saved_only)
  runtime = open_runtime(str(saved_only))
  assert isinstance(runtime, SavedModelRuntime)
  assert runtime.path == str(saved_only / "saved_model")


def _tflite_copy(out_dir, target):
  os.makedirs(target)
  for name in ("vocoder_fp32.tflite", "export_config.json"):
    shutil.copy(os.path.join(out_dir, name), target)


def test_files_of_two_exports_are_named(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  mixed = tmp_path / "mixed"
  _tflite_copy(out_dir, mixed)
  info = json.loads((mixed / "export_config.json").read_text())
  info["n_mels"] = info["config"]["n_mels"] = config.n_mels - 8
  (mixed / "export_config.json").write_text(json.dumps(info))
  with pytest.raises(ModelLoadError, match=r"vocoder_fp32.tflite: takes mel "
                     rf"\[1, 64, {config.n_mels}\] .* files of different "
                     "exports; re-export"):
    open_runtime(str(mixed / "vocoder_fp32.tflite"))


def test_export_killed_mid_swap_is_recovered_at_load(tmp_path_factory,
                                                     tmp_path):
  """The fallback swap's one gap (old dir renamed to its backup, new one
  not yet in place) is closed when a model below it is opened."""
  out_dir, _, _, _ = exported(tmp_path_factory, "melgan")
  final = tmp_path / "out"
  _tflite_copy(out_dir, backup_path(str(final)))
  runtime = open_runtime(str(final / "vocoder_fp32.tflite"))
  assert isinstance(runtime, TFLiteRuntime)
  assert sorted(os.listdir(tmp_path)) == ["out"]
