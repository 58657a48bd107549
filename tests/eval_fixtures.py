"""Tiny trained-looking model dirs and shards for the evaluation tests."""

import json
import os
import subprocess
import sys

import tensorflow as tf

from tfvocoder import models
from tfvocoder.config import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_model_dir(path: str, family: str, seed: int = 0) -> str:
  """A freshly initialised tiny generator saved as a training model dir:
  config.json plus a tf.train checkpoint holding `generator`."""
  config = tiny_config(model=family, seed=seed)
  tf.keras.utils.set_random_seed(seed)
  generator = models.build_generator(config)
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    f.write(config.to_json())
  tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator), path,
                             max_to_keep=1).save()
  return path


def tiny_shards(path: str) -> str:
  """1.5 minutes of the built-in synthetic music as prepared shards."""
  from tfvocoder.data import sources
  return sources.ensure_synthetic_dataset(path, tiny_config(), minutes=1.5,
                                          workers=1)


_RUNS = {}


def shared_shards(tmp_path_factory) -> str:
  """`tiny_shards`, prepared once per test session (also `shared_run`'s)."""
  if "shards" not in _RUNS:
    _RUNS["shards"] = tiny_shards(str(tmp_path_factory.mktemp("eval_shards")))
  return _RUNS["shards"]


def shared_model_dirs(tmp_path_factory) -> list:
  """Two tiny model dirs, multiscale "tiny_ms" and MelGAN "tiny_mg", written
  once per test session (also `shared_run`'s)."""
  if "model_dirs" not in _RUNS:
    root = tmp_path_factory.mktemp("eval_models")
    _RUNS["model_dirs"] = [
        write_model_dir(str(root / "tiny_ms"), "multiscale"),
        write_model_dir(str(root / "tiny_mg"), "melgan")]
  return _RUNS["model_dirs"]


def shared_run(tmp_path_factory) -> dict:
  """One CLI evaluation of two tiny model dirs (multiscale + MelGAN) on tiny
  shards, TFLite timing and ViSQOL included (the one end-to-end run that
  scores ViSQOL: 1 s examples, its minimum is 0.96 s); run once per test
  session.

  Returns {"model_dirs", "data_dir", "output_dir", "result" (metrics.json),
  "stdout", "stderr"}.
  """
  if "run" in _RUNS:
    return _RUNS["run"]
  root = tmp_path_factory.mktemp("evaluation")
  model_dirs = shared_model_dirs(tmp_path_factory)
  data_dir = shared_shards(tmp_path_factory)
  output_dir = str(root / "report")
  command = [sys.executable, "-m", "tfvocoder.evaluate",
             *[f"--model_dir={d}" for d in model_dirs],
             f"--data_dir={data_dir}", f"--output_dir={output_dir}",
             "--examples=2", "--seconds=1", "--speed_seconds=0.5",
             "--speed_repeats=1", "--seed=3"]
  done = subprocess.run(command, capture_output=True, text=True,
                        timeout=300, cwd=REPO,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert done.returncode == 0, done.stderr[-3000:]
  with open(os.path.join(output_dir, "metrics.json")) as f:
    result = json.load(f)
  _RUNS["run"] = dict(model_dirs=model_dirs, data_dir=data_dir,
                      output_dir=output_dir, result=result,
                      stdout=done.stdout, stderr=done.stderr)
  return _RUNS["run"]
