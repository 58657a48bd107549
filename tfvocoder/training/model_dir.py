"""A training model dir: config.json and checkpoints -> a generator.

Layout (written by `tfvocoder.training.train`):
  config.json          the resolved VocoderConfig (resume/export/evaluate)
  run.json             the run's TrainOptions and which training data its
                       checkpoints' input positions belong to (resume)
  ckpt-N.*, checkpoint checkpoints
  train/               TensorBoard event files
  synthetic_data/      the built-in dataset, when no data dir was given

On resume the saved config is the source of truth: `train.py` starts from
`saved_config` and applies only the flags given; `resolve_config` rejects
changed model fields and logs changed training-only ones.

Shared by training (`resolve_config`, `check_model_dir`, `input_record`,
`write_run`), export, evaluation and anything else that rebuilds a trained
generator. Every failure of `check_model_dir` / `saved_config` /
`load_config` / `load_generator` is a `ModelDirError` whose message names
the path.
"""

import json
import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import keras
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import (atomic_write_json, atomic_write_text,
                                output_dir_problem)
from tfvocoder.models import build_generator

CONFIG_FILE = "config.json"          # written by training in the model dir
RUN_FILE = "run.json"                # ditto: options and the data record


class ModelDirError(RuntimeError):
  """The model dir / checkpoint cannot be used; the message names it."""


def _one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"


def check_model_dir(model_dir: str) -> None:
  """Raise unless `model_dir` is a writable dir or can be created as one.

  Creates nothing; cheap, so callers run it before any slow work. Remote
  paths (`gs://...`) are left to the first write.

  Raises:
    ModelDirError: naming `model_dir` and what is in the way.
  """
  if not model_dir:
    raise ModelDirError("--model_dir is empty: give the dir for checkpoints "
                        "and config.json")
  if "://" in model_dir:
    return
  problem = output_dir_problem(model_dir)
  if problem:     # io_utils' one wording, for the model dir
    raise ModelDirError(problem.replace("output dir", "model dir", 1))


def saved_config(model_dir: str) -> Optional[VocoderConfig]:
  """The config saved in `model_dir/config.json`; None when there is none.

  Raises:
    ModelDirError: the file exists but is not a valid VocoderConfig.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      return VocoderConfig.from_json(f.read())
  except (OSError, ValueError, TypeError, tf.errors.OpError) as e:
    raise ModelDirError(f"{path}: not a valid VocoderConfig ({_one_line(e)}); "
                        "fix it, or use a new --model_dir") from e


def _changes(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
  """`name old -> new` for every key whose value differs."""
  return [f"{k} {old.get(k)!r} -> {new[k]!r}" for k in sorted(new)
          if old.get(k) != new[k]]


def resolve_config(config: VocoderConfig, model_dir: str,
                   write: bool = True) -> VocoderConfig:
  """The config of `model_dir`: `config`, checked against a saved one.

  On resume, model fields that differ from the saved config are an error
  naming the fields; training-only fields (learning rate, loss weights, ...)
  take the new values, each change logged (`learning_rate 0.0002 ->
  0.0001`). `train.py` builds `config` from the saved one plus the flags
  given, so a flag not given keeps its saved value.

  Args:
    config: the requested config.
    model_dir: the run's model dir (created when `write`).
    write: write `config` as `model_dir/config.json` (the chief does).
  Returns:
    `config`.
  Raises:
    ValueError: the saved config's model fields differ from `config`'s.
    ModelDirError: the saved config.json cannot be read.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  saved = saved_config(model_dir)
  if saved is not None:
    conflicts = saved.model_differences(config)
    if conflicts:
      details = ", ".join(f"{k}: saved {a!r} vs requested {b!r}"
                          for k, (a, b) in sorted(conflicts.items()))
      raise ValueError(f"{path} was written by a run with a different model "
                       f"config ({details}). Use a new --model_dir, or drop "
                       "the conflicting flags to resume.")
    for change in _changes(saved.to_dict(), config.to_dict()):
      logging.info("resuming with %s (was saved in %s)", change, path)
  if write:
    write_config(model_dir, config)
  return config


def write_config(model_dir: str, config: VocoderConfig) -> None:
  """Write `config` as `model_dir/config.json` atomically."""
  tf.io.gfile.makedirs(model_dir)
  atomic_write_text(os.path.join(model_dir, CONFIG_FILE), config.to_json())


def load_run(model_dir: str) -> Dict[str, Any]:
  """`model_dir/run.json` ({"options": ..., "data": ...}); {} when missing.

  An unreadable one is logged and treated as missing (it only holds what
  the flags can give again).
  """
  path = os.path.join(model_dir, RUN_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  try:
    with tf.io.gfile.GFile(path) as f:
      run = json.loads(f.read())
    if isinstance(run, dict):
      return run
    error = f"a JSON {type(run).__name__}, not an object"
  except (OSError, ValueError, tf.errors.OpError) as e:
    error = _one_line(e)
  logging.warning("%s: ignored, not readable (%s)", path, error)
  return {}


def _describe(data: Dict[str, Any]) -> str:
  where = data.get("data_dir") or "the built-in synthetic data"
  return f"{where} ({len(data.get('train_shards') or [])} training shard(s))"


def input_record(model_dir: str, data_dir: Optional[str], shards: List[str],
                 newest_step: Optional[int]) -> Tuple[Dict[str, Any], int]:
  """Which checkpoints hold an input position of this run's training data.

  A checkpoint's tf.data iterator state belongs to the data it was saved
  with; restoring it on other data (a fine-tuning run, rebuilt shards)
  fails. `run.json` records the data; when it changed, every checkpoint up
  to `newest_step` resumes without its input position.

  Args:
    model_dir: the run's model dir.
    data_dir: the data dir given (None: the built-in synthetic data).
    shards: the training shard files.
    newest_step: the step of the newest checkpoint; None when there is none.
  Returns:
    (the `data` record for `write_run`, the step up to which checkpoints'
    input positions are stale: -1 for none).
  """
  data = {"data_dir": data_dir and os.path.realpath(data_dir),
          "train_shards": sorted(os.path.basename(p) for p in shards)}
  saved = load_run(model_dir).get("data")
  if newest_step is None or not isinstance(saved, dict):
    stale = -1      # a new run, or a model dir from before run.json
  elif all(saved.get(k) == v for k, v in data.items()):
    stale = int(saved.get("stale_input_until", -1))
  else:
    stale = newest_step
    logging.info("training data changed: %s, was %s. Weights, optimizers and "
                 "step resume from step %d; the input pipeline starts afresh "
                 "on the new data", _describe(data), _describe(saved), stale)
  return dict(data, stale_input_until=stale), stale


def write_run(model_dir: str, options: Dict[str, Any],
              data: Dict[str, Any]) -> None:
  """Write `model_dir/run.json` atomically; log options changed since.

  Args:
    options: the run's options (`TrainOptions` fields, JSON values).
    data: `input_record`'s record.
  """
  previous = load_run(model_dir).get("options")
  if isinstance(previous, dict):
    for change in _changes(previous, options):
      logging.info("resuming with %s (was saved in %s)", change, RUN_FILE)
  tf.io.gfile.makedirs(model_dir)
  atomic_write_json(os.path.join(model_dir, RUN_FILE),
                    {"options": options, "data": data})


def load_config(model_dir: str) -> VocoderConfig:
  """The `VocoderConfig` training saved as `model_dir/config.json`."""
  path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.isdir(model_dir):
    raise ModelDirError(f"{model_dir}: model dir does not exist")
  if not os.path.isfile(path):
    raise ModelDirError(f"{path}: missing; expected the VocoderConfig JSON "
                      "that train.py writes into the model dir")
  try:
    with open(path) as f:
      return VocoderConfig.from_json(f.read())
  except (OSError, ValueError, TypeError) as e:
    raise ModelDirError(f"{path}: not a valid VocoderConfig ({_one_line(e)})")


def _checkpoint_tracked(model) -> int:
  """How many of `model.weights` a `tf.train.Checkpoint` of it would hold."""
  found = {id(v) for v in tf.train.TrackableView(model).descendants()
           if isinstance(v, (tf.Variable, keras.Variable))}
  return sum(id(w) in found for w in model.weights)


def load_generator(model_dir: str, checkpoint: Optional[str] = None):
  """(generator, config, checkpoint path) restored from a training model dir.

  Uses `checkpoint` if given, else the latest checkpoint of `model_dir`.
  Raises ModelDirError naming the path when there is none, when it cannot be
  read, or when it holds no generator matching the config.
  """
  config = load_config(model_dir)
  if checkpoint is None:
    checkpoint = tf.train.latest_checkpoint(model_dir)
    if checkpoint is None:
      raise ModelDirError(f"{model_dir}: no checkpoint found (expected a "
                        "'checkpoint' file and ckpt-N.index / ckpt-N.data-* "
                        "written by training); pass --checkpoint=PATH")
  elif not tf.io.gfile.exists(checkpoint + ".index"):
    raise ModelDirError(f"{checkpoint}: no such checkpoint ({checkpoint}.index "
                      "missing)")
  generator = build_generator(config)
  tracked = _checkpoint_tracked(generator)
  if tracked < len(generator.weights):
    raise ModelDirError(
        f"{checkpoint}: only {tracked} of {len(generator.weights)} weights of "
        f"the {config.model} generator are reachable by tf.train.Checkpoint, "
        "so no checkpoint can hold the others (Keras 3 does not checkpoint "
        "layers kept in Python lists); the model must expose every sub-layer "
        "as a tracked attribute")
  try:
    status = tf.train.Checkpoint(generator=generator).restore(checkpoint)
    status.expect_partial().assert_existing_objects_matched()
  except Exception as e:  # noqa: BLE001 -- corrupt files raise many kinds
    raise ModelDirError(f"{checkpoint}: cannot restore the generator from this "
                      f"checkpoint ({_one_line(e)})") from e
  return generator, config, checkpoint


