"""Model dirs: config.json on resume, and errors that name the path."""

import json
import os
from unittest import mock

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


def test_resume_logs_training_only_changes_and_rewrites_config(tmp_path):
  path = str(tmp_path)
  model_dir.resolve_config(tiny_config(learning_rate=2e-4), path)
  with mock.patch.object(model_dir.logging, "info") as info:
    model_dir.resolve_config(tiny_config(learning_rate=1e-4), path)
  lines = [call.args[0] % call.args[1:] for call in info.call_args_list]
  assert any("learning_rate 0.0002 -> 0.0001" in line for line in lines), lines
  assert model_dir.load_config(path).learning_rate == 1e-4
  assert os.listdir(path) == ["config.json"]      # no temp file left


def test_a_corrupt_saved_config_names_the_file(tmp_path):
  assert model_dir.saved_config(str(tmp_path)) is None
  (tmp_path / "config.json").write_text("{not json")
  with pytest.raises(model_dir.ModelDirError,
                     match="config.json: not a valid VocoderConfig"):
    model_dir.resolve_config(tiny_config(), str(tmp_path))


def test_an_unusable_model_dir_is_named_and_nothing_is_created(tmp_path):
  a_file = tmp_path / "a_file"
  a_file.write_text("x")
  with pytest.raises(model_dir.ModelDirError,
                     match=f"model dir {a_file}/run: cannot be created, "
                     f"{a_file} is not a directory"):
    model_dir.check_model_dir(str(a_file / "run"))
  with pytest.raises(model_dir.ModelDirError,
                     match=f"model dir {a_file}: exists and is not a "
                     "directory"):
    model_dir.check_model_dir(str(a_file))
  with pytest.raises(model_dir.ModelDirError, match="--model_dir is empty"):
    model_dir.check_model_dir("")
  model_dir.check_model_dir(str(tmp_path / "new" / "run"))    # creatable
  assert not os.path.exists(tmp_path / "new")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_model_dir_is_named(tmp_path):
  locked = tmp_path / "locked"
  locked.mkdir(mode=0o500)
  with pytest.raises(model_dir.ModelDirError, match="not writable"):
    model_dir.check_model_dir(str(locked / "run"))


def _record(path, data_dir, shards, newest_step):
  data, stale = model_dir.input_record(path, data_dir, shards, newest_step)
  model_dir.write_run(path, {"batch_size": 2}, data)
  return stale


def test_input_positions_of_other_data_are_stale(tmp_path):
  path, one, two = str(tmp_path / "run"), ["d/train-0"], ["e/train-0",
                                                          "e/train-1"]
  assert _record(path, "/d", one, None) == -1        # a new run
  assert _record(path, "/d", one, 4) == -1           # same data: restore
  assert _record(path, "/e", two, 4) == 4            # new data: ckpt-4 stale
  assert _record(path, "/e", two, 4) == 4            # still (killed before
  assert _record(path, "/e", two, 6) == 4            # saving), not ckpt-6
  assert _record(path, None, one, 6) == 6            # back to other data
  saved = json.load(open(os.path.join(path, "run.json")))
  assert saved["data"] == {"data_dir": None, "train_shards": ["train-0"],
                           "stale_input_until": 6}
  assert saved["options"] == {"batch_size": 2}


def test_a_model_dir_without_or_with_a_bad_run_json_restores(tmp_path):
  path = str(tmp_path)
  assert model_dir.load_run(path) == {}
  assert model_dir.input_record(path, "/d", ["train-0"], 3)[1] == -1
  (tmp_path / "run.json").write_text("[1, 2]")
  assert model_dir.load_run(path) == {}
  assert model_dir.input_record(path, "/d", ["train-0"], 3)[1] == -1
