"""Model dirs: config.json on resume, and errors that name the path."""

import os

import pytest

from tfvocoder import training
from tfvocoder.config import tiny_config
from tfvocoder.training import model_dir


def test_conflicting_model_config_is_a_clear_error(tmp_path):
  training.resolve_config(tiny_config(), str(tmp_path))
  # Training-only fields may change.
  training.resolve_config(tiny_config(learning_rate=5e-5), str(tmp_path))
  with pytest.raises(ValueError, match=r"n_mels: saved 32 vs requested 64"):
    training.resolve_config(tiny_config(n_mels=64), str(tmp_path))


def test_resolved_config_round_trips(tmp_path):
  config = tiny_config(learning_rate=5e-5)
  assert model_dir.resolve_config(config, str(tmp_path)) == config
  assert model_dir.load_config(str(tmp_path)) == config


def test_missing_pieces_are_errors_naming_the_path(tmp_path):
  missing = str(tmp_path / "nope")
  with pytest.raises(model_dir.ModelDirError, match="does not exist") as e:
    model_dir.load_generator(missing)
  assert missing in str(e.value)
  with pytest.raises(model_dir.ModelDirError, match="config.json: missing"):
    model_dir.load_config(str(tmp_path))
  model_dir.resolve_config(tiny_config(), str(tmp_path))
  with pytest.raises(model_dir.ModelDirError,
                     match="no checkpoint found") as e:
    model_dir.load_generator(str(tmp_path))
  assert str(e.value).startswith(str(tmp_path))
  bad = os.path.join(str(tmp_path), "ckpt-9")
  with pytest.raises(model_dir.ModelDirError, match="no such checkpoint") as e:
    model_dir.load_generator(str(tmp_path), checkpoint=bad)
  assert str(e.value).startswith(bad)
