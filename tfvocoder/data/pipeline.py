"""tf.data pipelines from prepared shards to training batches.

Every element of `make_dataset(...)` is a dict, for a batch of B windows:

  "mel":   float32 `[B, window / hop_length, n_mels]`, `dsp.log_mel(audio)`
  "audio": float32 `[B, window]` at `sample_rate`, each window
           peak-normalised to `config.peak_normalize`
  "bands": tuple of `n_bands` float32 `[B, window / 2**k]`, k = 0 ..
           n_bands - 1, `dsp.split_bands(audio)` (largest band first;
           `dsp.merge_bands(bands)` gives "audio" back)

B is `make_dataset`'s batch_size (per replica under a strategy); in
training every batch is full, in evaluation the last one may be smaller
(its static batch dim is None).
Windows start at multiples of `hop_length` in their source file, and
windows whose RMS (before normalisation) is below `config.silence_rms`
are dropped.
"""

import json
import os
from typing import List, Optional, Sequence, Union

import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io, shards

_RECORD_SPEC = {
    shards.FEATURE_AUDIO: tf.io.FixedLenFeature([], tf.string),
    shards.FEATURE_SAMPLE_RATE: tf.io.FixedLenFeature([], tf.int64),
    shards.FEATURE_SOURCE: tf.io.FixedLenFeature([], tf.string),
    shards.FEATURE_OFFSET: tf.io.FixedLenFeature([], tf.int64),
}


def shard_pattern(data_dir: str, split: str = "train") -> str:
  """The glob of one split's shards in a `prepare` output dir."""
  return os.path.join(data_dir, f"{split}-*-of-*.tfrecord")


def list_shards(pattern: Union[str, Sequence[str]]) -> List[str]:
  """Sorted shard paths matching a glob (or a list of globs / paths)."""
  patterns = [pattern] if isinstance(pattern, str) else list(pattern)
  files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
  if not files:
    raise ValueError(f"no shards match {pattern!r}; run `python -m "
                     "tfvocoder.data.prepare` first")
  return files


def _check_manifests(files: List[str], config: VocoderConfig):
  """The shards' manifest (when present) must match the config's rate."""
  for folder in sorted({os.path.dirname(f) for f in files}):
    path = os.path.join(folder, "manifest.json")
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        rate = json.load(f)["options"]["sample_rate"]
      if rate != config.sample_rate:
        raise ValueError(f"shards in {folder!r} are at {rate} Hz; the config "
                         f"wants sample_rate={config.sample_rate}")


def parse_record(serialized: tf.Tensor, config: VocoderConfig) -> dict:
  """One serialized record -> {"audio": float32 [samples], "source",
  "offset"}; asserts the record's rate is `config.sample_rate`."""
  record = tf.io.parse_single_example(serialized, _RECORD_SPEC)
  check = tf.debugging.assert_equal(
      record[shards.FEATURE_SAMPLE_RATE], tf.constant(config.sample_rate,
                                                      tf.int64),
      message="shard sample rate differs from config.sample_rate")
  with tf.control_dependencies([check]):
    pcm = tf.io.decode_raw(record[shards.FEATURE_AUDIO], tf.int16,
                           little_endian=True)
  return {"audio": tf.cast(pcm, tf.float32) / audio_io.PCM_SCALE,
          "source": record[shards.FEATURE_SOURCE],
          "offset": record[shards.FEATURE_OFFSET]}


def _random_windows(audio: tf.Tensor, seed: tf.Tensor,
                    config: VocoderConfig) -> tf.Tensor:
  """About one window per `window` samples, at random hop-aligned starts.

  Returns `[max(samples // window, 1), window]` (`[0, window]` when the
  record is shorter than a window); `seed` is a stateless-op seed `[2]`.
  """
  n = tf.shape(audio)[0]
  starts = (n - config.window) // config.hop_length + 1
  count = tf.where(starts > 0, tf.maximum(n // config.window, 1), 0)
  offsets = tf.random.stateless_uniform(
      [count], seed=seed, minval=0, maxval=tf.maximum(starts, 1),
      dtype=tf.int32) * config.hop_length
  index = offsets[:, None] + tf.range(config.window)[None, :]
  return tf.gather(audio, index)


def _fixed_windows(audio: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """Consecutive non-overlapping windows from the record's start."""
  return tf.signal.frame(audio, config.window, config.window, pad_end=False)


def _loud_normalised(windows: tf.Tensor, config: VocoderConfig) -> tf.Tensor:
  """Drop windows with RMS < silence_rms; peak-normalise the rest."""
  rms = tf.sqrt(tf.reduce_mean(tf.square(windows), axis=-1))
  windows = tf.boolean_mask(windows, rms >= config.silence_rms)
  peak = tf.reduce_max(tf.abs(windows), axis=-1, keepdims=True)
  windows = windows * (config.peak_normalize / tf.maximum(peak, 1e-9))
  return tf.ensure_shape(windows, [None, config.window])


def features(audio: tf.Tensor, config: VocoderConfig) -> dict:
  """A batch of windows `[B, window]` -> the element dict (module doc)."""
  return {"mel": dsp.log_mel(audio, config), "audio": audio,
          "bands": tuple(dsp.split_bands(audio, config))}


def make_dataset(shard_pattern: Union[str, Sequence[str]],
                 config: VocoderConfig, batch_size: int, training: bool = True,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 seed: int = 0, shuffle_buffer: int = 1024,
                 cycle_length: int = 8) -> tf.data.Dataset:
  """Batches of windows from shards (element: see the module docstring).

  Args:
    shard_pattern: glob (or list of globs/paths) of `prepare`'s shards,
      e.g. `shard_pattern(data_dir, "train")`.
    config: takes window, hop_length, silence_rms, peak_normalize and the
      mel / band settings from here.
    batch_size: windows per batch this dataset yields. Under
      `strategy.distribute_datasets_from_function(fn)` that is the
      per-replica batch: `fn(ctx)` calls `make_dataset(pattern, config,
      ctx.get_per_replica_batch_size(global_batch), input_context=ctx)`.
    training: True: shards shuffled every epoch and repeated forever, random
      hop-aligned windows (about one per window of audio per epoch),
      windows shuffled (`shuffle_buffer`), full batches only. False (eval):
      one pass in file order, consecutive windows from each record's start,
      no shuffling, last batch may be partial.
    input_context: `tf.distribute.InputContext`; pipeline `i` of `n` reads
      every n-th shard, or every n-th record when there are fewer shards
      than pipelines. The pipelines' data are disjoint.
    seed: makes training deterministic (same seed, same batches).
    shuffle_buffer: windows in the training shuffle buffer.
    cycle_length: shards read in parallel.
  """
  files = list_shards(shard_pattern)
  _check_manifests(files, config)
  pipelines, index = 1, 0
  if input_context is not None:
    pipelines = input_context.num_input_pipelines
    index = input_context.input_pipeline_id
  dataset = _records(files, pipelines, index, training, seed, cycle_length)
  dataset = dataset.map(lambda r: parse_record(r, config)["audio"],
                        num_parallel_calls=tf.data.AUTOTUNE)
  dataset = _windows(dataset, config, training, seed, pipelines, index)
  dataset = dataset.unbatch()
  if training:
    dataset = dataset.shuffle(shuffle_buffer, seed=seed + 1,
                              reshuffle_each_iteration=True)
  dataset = dataset.batch(batch_size, drop_remainder=training)
  dataset = dataset.map(lambda audio: features(audio, config),
                        num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


def _records(files: List[str], pipelines: int, index: int, training: bool,
             seed: int, cycle_length: int) -> tf.data.Dataset:
  """Serialized records of pipeline `index` of `pipelines`.

  Every n-th shard, or every n-th record when there are fewer shards than
  pipelines; in training the shards are shuffled each epoch, forever.
  """
  shard_files = pipelines > 1 and len(files) >= pipelines
  if shard_files:
    files = files[index::pipelines]
  dataset = tf.data.Dataset.from_tensor_slices(files)
  if training:
    dataset = dataset.shuffle(len(files), seed=seed,
                              reshuffle_each_iteration=True)
  dataset = dataset.interleave(
      tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if pipelines > 1 and not shard_files:
    dataset = dataset.shard(pipelines, index)   # per epoch: disjoint records
  if training:
    dataset = dataset.repeat()
  return dataset


def _windows(records: tf.data.Dataset, config: VocoderConfig, training: bool,
             seed: int, pipelines: int, index: int) -> tf.data.Dataset:
  """Record audio `[samples]` -> its loud, peak-normalised windows
  `[n, window]`: random hop-aligned ones (training, seeded per record and
  pipeline) or consecutive ones from the record's start (evaluation)."""
  if not training:
    return records.map(
        lambda audio: _loud_normalised(_fixed_windows(audio, config), config),
        num_parallel_calls=tf.data.AUTOTUNE)

  def windows_of(counter, audio):
    record_seed = tf.stack([tf.constant(seed, tf.int64),
                            counter * pipelines + index])
    return _loud_normalised(
        _random_windows(audio, record_seed, config), config)
  return records.enumerate().map(windows_of,
                                 num_parallel_calls=tf.data.AUTOTUNE)
