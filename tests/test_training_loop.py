"""Trainer: replica loss scaling, Mirrored/MultiWorker runs, resume, guards."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfvocoder import dsp, training
from tfvocoder.config import tiny_config
from tfvocoder.training.gan import GANTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _batch(config, size, seed=0):
  """A batch in the pipeline's element format, from generated music."""
  from tfvocoder.data import pipeline, music
  audio = music.generate_music(
      size * config.window / config.sample_rate + 0.1, config.sample_rate,
      seed=seed)[:size * config.window].reshape(size, config.window)
  audio = config.peak_normalize * audio / np.max(np.abs(audio), axis=1,
                                                 keepdims=True)
  return pipeline.features(tf.constant(audio, tf.float32), config)


def _iterator(strategy, batch):
  dataset = tf.data.Dataset.from_tensors(batch).repeat()
  if strategy.num_replicas_in_sync > 1:
    # A batch op the strategy can split into per-replica halves.
    dataset = dataset.unbatch().batch(
        int(batch["mel"].shape[0]), drop_remainder=True)
    return iter(strategy.experimental_distribute_dataset(dataset))
  return iter(dataset)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  """A small synthetic shard dir shared by the training tests."""
  from tfvocoder.data import music
  path = tmp_path_factory.mktemp("shards")
  return music.ensure_synthetic_dataset(str(path), tiny_config(),
                                            minutes=1.5, workers=1)


@pytest.mark.parametrize("model, aux_weight", [("multiscale", 1.0),
                                               ("melgan", 0.0)])
def test_two_replicas_give_the_one_replica_gradients(model, aux_weight):
  config = tiny_config(model=model, stft_loss_weight=aux_weight,
                       mel_loss_weight=aux_weight)
  batch = _batch(config, 4)
  grads = {}
  for replicas in (1, 2):
    strategy = (tf.distribute.get_strategy() if replicas == 1 else
                tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    tf.keras.utils.set_random_seed(7)
    trainer = GANTrainer(config, strategy, global_batch_size=4)
    if replicas == 2:
      np.testing.assert_array_equal(
          trainer.generator.weights[0].numpy(),
          grads[1]["init"])
    d, g = trainer.gradients(_iterator(strategy, batch))
    grads[replicas] = {"d": [x.numpy() for x in d],
                       "g": [x.numpy() for x in g],
                       "init": trainer.generator.weights[0].numpy()}
  for key in ("d", "g"):
    assert len(grads[1][key]) == len(grads[2][key]) > 0
    # Float rounding differs (sums split across replicas), so compare against
    # the network's gradient scale; a replica-scaling bug would be a factor
    # of 2 in every element.
    scale = max(np.max(np.abs(g)) for g in grads[1][key])
    for one, two in zip(grads[1][key], grads[2][key]):
      np.testing.assert_allclose(two, one, rtol=1e-3, atol=1e-4 * scale)
    ratio = (sum(np.sum(np.abs(g)) for g in grads[2][key]) /
             sum(np.sum(np.abs(g)) for g in grads[1][key]))
    assert abs(ratio - 1) < 1e-3


def test_mirrored_training_runs_and_writes_everything(tmp_path, data_dir):
  model_dir = str(tmp_path / "run")
  config = tiny_config(stft_loss_weight=1.0, mel_loss_weight=1.0)
  options = training.TrainOptions(
      model_dir=model_dir, data_dir=data_dir, batch_size=4, max_steps=4,
      strategy="mirrored", cpu_replicas=2, checkpoint_every=2,
      summary_every=1)
  result = training.train(config, options)
  assert result.trainer.strategy.num_replicas_in_sync == 2
  assert result.step == 4
  assert {"d_loss", "g_loss", "g_adversarial", "g_feature_matching",
          "g_stft", "g_mel_l1"} <= set(result.losses)
  assert all(np.isfinite(v) for v in result.losses.values())
  saved = json.load(open(os.path.join(model_dir, "config.json")))
  assert saved["window"] == config.window
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-4")
  events = tf.io.gfile.glob(os.path.join(model_dir, "train", "events.*"))
  tags = set()
  for event in tf.compat.v1.train.summary_iterator(events[0]):
    tags.update(v.tag for v in event.summary.value)
  assert {"d_loss", "g_loss", "steps_per_sec", "audio_seconds_per_sec",
          "learning_rate_g"} <= tags


def test_conflicting_model_config_is_a_clear_error(tmp_path):
  training.resolve_config(tiny_config(), str(tmp_path))
  # Training-only fields may change.
  training.resolve_config(tiny_config(learning_rate=5e-5), str(tmp_path))
  with pytest.raises(ValueError, match=r"n_mels: saved 32 vs requested 64"):
    training.resolve_config(tiny_config(n_mels=64), str(tmp_path))


def test_missing_shards_name_the_pattern(tmp_path):
  with pytest.raises(FileNotFoundError, match="train-\\*.tfrecord"):
    training.train(tiny_config(), training.TrainOptions(
        model_dir=str(tmp_path / "m"), data_dir=str(tmp_path), max_steps=1,
        strategy="default"))


def test_non_finite_loss_stops_and_keeps_good_checkpoint(tmp_path, data_dir):
  model_dir = str(tmp_path / "nan")
  options = training.TrainOptions(
      model_dir=model_dir, data_dir=data_dir, batch_size=2, max_steps=2,
      strategy="default", checkpoint_every=1, summary_every=100)
  training.train(tiny_config(), options)
  good = _final_weights(model_dir)
  # Resume with an absurd learning rate: the weights overflow at once.
  with pytest.raises(training.NonFiniteLossError, match="non-finite"):
    training.train(tiny_config(learning_rate=1e38),
                   dataclasses.replace(options, max_steps=50))
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-2")
  after = _final_weights(model_dir)
  for name, value in after.items():
    np.testing.assert_array_equal(value, good[name], err_msg=name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.all(np.isfinite(value)), name


def _run_train(model_dir, data_dir, steps, env=None, timeout=300):
  command = [sys.executable, os.path.join(ROOT, "train.py"),
             f"--model_dir={model_dir}", f"--data_dir={data_dir}",
             "--strategy=default", "--batch_size=2", f"--max_steps={steps}",
             "--checkpoint_every=2", "--summary_every=1", "--deterministic",
             "--window=2048", "--n_mels=32", "--filter_bank_filters=16",
             "--filter_bank_taps=32", "--gen_channels=16", "--disc_channels=16",
             "--joint_channels=32"]
  return subprocess.run(command, env=dict(os.environ, **(env or {})),
                        capture_output=True, text=True, timeout=timeout,
                        cwd=ROOT)


def _final_weights(model_dir):
  """Every numeric variable of the latest checkpoint: both networks (Keras 3
  files trainable weights under the optimizers' paths), Adam moments, step."""
  latest = tf.train.latest_checkpoint(model_dir)
  values = {name: tf.train.load_variable(latest, name)
            for name, _ in tf.train.list_variables(latest)
            if not name.startswith(("_CHECKPOINTABLE", "iterator"))}
  return {k: v for k, v in values.items()
          if np.issubdtype(np.asarray(v).dtype, np.number)}


def test_exact_resume_after_sigkill(tmp_path, data_dir):
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  run = _run_train(straight, data_dir, 4)
  assert run.returncode == 0, run.stderr[-3000:]
  killed = _run_train(resumed, data_dir, 4,
                      env={training.KILL_AFTER_SAVE_ENV: "2"})
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  assert tf.train.latest_checkpoint(resumed).endswith("ckpt-2")
  run = _run_train(resumed, data_dir, 4)
  assert run.returncode == 0, run.stderr[-3000:]
  assert "resumed from" in run.stderr
  a, b = _final_weights(straight), _final_weights(resumed)
  assert a.keys() == b.keys() and len(a) > 100
  for name in a:
    np.testing.assert_array_equal(a[name], b[name], err_msg=name)


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


def test_example_summaries(tmp_path):
  from tfvocoder.training import summaries
  config = tiny_config()
  batch = _batch(config, 2)
  writer = tf.summary.create_file_writer(str(tmp_path))
  fake = 0.5 * batch["audio"]
  summaries.write_examples(writer, 7, config, batch["audio"], batch["mel"],
                           fake, dsp.split_bands(fake, config))
  writer.flush()
  values = {}
  for path in tf.io.gfile.glob(str(tmp_path / "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        values[v.tag] = v
  assert {"audio/real", "audio/generated", "mel/real", "mel/generated",
          "mel/abs_difference", "eval/mel_l1"} | {
              f"bands/generated_band_{k}" for k in range(config.n_bands)
          } <= set(values)
  # Halving the amplitude shifts every unclamped log-mel by log10(2).
  mel_l1 = tf.make_ndarray(values["eval/mel_l1"].tensor)
  assert abs(float(mel_l1) - np.log10(2)) < 0.05
  image = tf.io.decode_png(
      tf.make_ndarray(values["mel/real"].tensor)[2])   # [mels, frames, 1]
  assert image.shape == (config.n_mels, config.frames_per_window, 1)
