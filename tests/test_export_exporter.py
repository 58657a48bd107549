"""`tfvocoder.export.exporter` / `python -m export`: files, report, errors."""

import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvocoder import export
from tfvocoder.config import tiny_config
from tfvocoder.io_utils import KILL_AT_ENV
from tfvocoder.training.model_dir import _checkpoint_tracked  # pylint: disable=protected-access
from vocoder_models import (CHUNK_FRAMES, MERGE_FRAMES, exported,
                            healthy_generator, write_model_dir)

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


def _model_dir(tmp_path, name="model"):
  config = tiny_config(model="melgan", melgan_ngf=4)
  model_dir = str(tmp_path / name)
  write_model_dir(model_dir, config, healthy_generator(config))
  return model_dir


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
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


def _files(root):
  """{relative path: bytes} of every file below `root`."""
  out = {}
  for directory, _, names in os.walk(root):
    for name in names:
      path = os.path.join(directory, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = f.read()
  return out


def test_killed_export_keeps_the_old_one_and_replaces_whole_sets(
    tmp_path_factory, tmp_path):
  """SIGKILL during the parity check leaves the old full export intact; the
  next (SavedModel-only) export replaces the whole set: no stale TFLite
  files, no temp dirs left beside it."""
  old_dir, _, _, _ = exported(tmp_path_factory, "melgan")
  out = tmp_path / "out"
  shutil.copytree(old_dir, out)
  old = _files(out)
  model_dir = _model_dir(tmp_path)
  run = subprocess.run(
      [sys.executable, "-m", "export", f"--model_dir={model_dir}",
       f"--output_dir={out}", "--formats=saved_model"], cwd=REPO,
      env=dict(os.environ, **{KILL_AT_ENV: "export:parity"}),
      capture_output=True, text=True, timeout=300)
  assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
  assert _files(out) == old
  assert [p for p in os.listdir(tmp_path) if p.startswith(".out.tmp")]

  export.export_model(model_dir, str(out), formats=["saved_model"])
  assert sorted(os.listdir(out)) == ["export_config.json",
                                     "export_report.json", "saved_model"]
  assert sorted(os.listdir(tmp_path)) == ["model", "out"]
  with open(out / "export_config.json") as f:
    assert json.load(f)["config"]["melgan_ngf"] == 4


def test_bad_output_dirs_are_refused_before_loading(tmp_path, monkeypatch):
  monkeypatch.setattr(export.exporter, "load_generator", _never)
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  user = tmp_path / "user"
  user.mkdir()
  (user / "notes.txt").write_text("keep")
  mixed = tmp_path / "mixed"
  mixed.mkdir()
  (mixed / "export_config.json").write_text("{}")
  (mixed / "notes.txt").write_text("keep")
  for path, error in [(a_file / "out", f"{a_file} is a file, not a dir"),
                      (a_file, "is a file, not a directory"),
                      (user, "not empty and not an export"),
                      (mixed, r"holds files an export does not write "
                       r"\(notes.txt\)")]:
    with pytest.raises(export.ExportError, match=error):
      export.export_model("unused", str(path))
  assert (user / "notes.txt").read_text() == "keep"
  assert (mixed / "notes.txt").read_text() == "keep"


def _never(*args):
  raise AssertionError("the model was loaded before the output dir check")


def test_cli_output_dir_below_a_file_is_one_line(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  run = subprocess.run(
      [sys.executable, "-m", "export", f"--model_dir={tmp_path / 'none'}",
       f"--output_dir={a_file / 'out'}"], cwd=REPO, capture_output=True,
      text=True, timeout=120)
  assert run.returncode == 1
  assert "Traceback" not in run.stderr
  assert (f"export: error: --output_dir {a_file / 'out'}: {a_file} is a "
          "file, not a directory") in run.stderr
