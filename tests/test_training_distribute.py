"""Strategies: MultiWorker keeps workers identical; bad choices are errors."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import eval_fixtures
from tfvocoder.training import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """The session's small synthetic shard dir (read only)."""
  return eval_fixtures.shared_shards(tmp_path_factory)


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_multi_worker_keeps_workers_identical(tmp_path, data_dir):
  workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
  model_dir = str(tmp_path / "mw")
  procs = []
  for index in range(2):
    tf_config = {"cluster": {"worker": workers},
                 "task": {"type": "worker", "index": index}}
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config),
               PYTHONPATH=ROOT)
    procs.append(subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "mw_worker.py"),
         model_dir, data_dir, "3", str(tmp_path / f"w{index}.npz")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  for proc in procs:
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-3000:]
  w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
  assert len(w0.files) == len(w1.files) > 10
  for key in w0.files:
    np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-3")
  assert not tf.io.gfile.glob(os.path.join(model_dir, "worker_tmp_*"))


def test_unknown_strategy_and_missing_cluster_are_errors(monkeypatch):
  with pytest.raises(ValueError, match="expected one of"):
    distribute.make_strategy("tpu")
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(ValueError, match="needs TF_CONFIG"):
    distribute.make_strategy("multi_worker")
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
    distribute.make_strategy("auto")


def test_default_strategy_is_the_chief():
  strategy = distribute.make_strategy("default")
  assert strategy.num_replicas_in_sync == 1
  assert distribute.is_chief(strategy)
