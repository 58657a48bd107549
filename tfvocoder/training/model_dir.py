"""A training model dir: config.json and checkpoints -> a generator.

Layout (written by `tfvocoder.training.train`):
  config.json          the resolved VocoderConfig (resume/export/evaluate)
  ckpt-N.*, checkpoint checkpoints
  train/               TensorBoard event files
  synthetic_data/      the built-in dataset, when no data dir was given

Shared by training (`resolve_config`), export, evaluation and anything else
that rebuilds a trained generator. Every failure of `load_config` /
`load_generator` is a `ModelDirError` whose message names the path.
"""

import os
from typing import Optional

import keras
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_write_text
from tfvocoder.models import build_generator

CONFIG_FILE = "config.json"          # written by training in the model dir


class ModelDirError(RuntimeError):
  """The model dir / checkpoint cannot be used; the message names it."""


def _one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0] if text else ''}"


def resolve_config(config: VocoderConfig, model_dir: str,
                   write: bool = True) -> VocoderConfig:
  """The config of `model_dir`: saved one on resume, else `config` (written).

  A saved config whose model fields differ from `config` is an error naming
  the fields; training-only fields (learning rate, loss weights, ...) take
  the new values.

  Args:
    config: the requested config.
    model_dir: the run's model dir (created when `write`).
    write: write `config` as `model_dir/config.json` (the chief does).
  Returns:
    `config`.
  Raises:
    ValueError: the saved config's model fields differ from `config`'s.
  """
  path = os.path.join(model_dir, CONFIG_FILE)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      saved = VocoderConfig.from_json(f.read())
    conflicts = saved.model_differences(config)
    if conflicts:
      details = ", ".join(f"{k}: saved {a!r} vs requested {b!r}"
                          for k, (a, b) in sorted(conflicts.items()))
      raise ValueError(f"{path} was written by a run with a different model "
                       f"config ({details}). Use a new --model_dir, or drop "
                       "the conflicting flags to resume.")
  if write:
    tf.io.gfile.makedirs(model_dir)
    atomic_write_text(path, config.to_json())
  return config


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


