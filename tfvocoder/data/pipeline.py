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

`check_shards` checks shards before a long job reads them: the TFRecord
framing of every file and, where `prepare` wrote a manifest.json, the
split's shard names, record count and bytes. A truncated, cut or missing
shard is a one-line `ShardError` naming it; `data_error` turns a read error
met later (a shard damaged after the check) into one too.
"""

import json
import os
import re
import struct
from typing import List, Optional, Sequence, Union

import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io, shards

# TFRecord framing: uint64 length + its crc (4), the data, the data's crc (4).
_HEADER_BYTES = 12
_FOOTER_BYTES = 4
_MANIFEST = "manifest.json"
_TF_NOISE = ("File ", "Detected at node", "Graph execution error", "[[")

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


class ShardError(ValueError):
  """A shard is missing, truncated or corrupt, or disagrees with its
  manifest; the message names it (one line)."""


def _read_manifest(folder: str) -> Optional[dict]:
  """`folder`'s manifest.json, or None when there is none."""
  path = os.path.join(folder, _MANIFEST)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      manifest = json.load(f)
    int(manifest["options"]["sample_rate"])
  except (ValueError, KeyError, TypeError) as e:
    raise ShardError(f"{path}: not a prepare manifest ({type(e).__name__}: "
                     f"{e}); re-run tfvocoder.data.prepare") from e
  return manifest


def _check_manifests(files: List[str], config: VocoderConfig):
  """The shards' manifest (when present) must match the config's rate."""
  for folder in sorted({os.path.dirname(f) for f in files}):
    manifest = _read_manifest(folder)
    if manifest is not None:
      rate = manifest["options"]["sample_rate"]
      if rate != config.sample_rate:
        raise ValueError(f"shards in {folder!r} are at {rate} Hz; the config "
                         f"wants sample_rate={config.sample_rate}")


def record_offsets(path: str) -> List[int]:
  """Byte offsets of the records of one TFRecord file, from the framing.

  Reads each record's 12-byte header and seeks past its data: a cheap
  check that the file ends exactly after a whole record (data checksums
  are not read).
  Raises:
    ShardError: the file ends inside a record (truncated) or a length
      points past its end (corrupt).
  """
  size = tf.io.gfile.stat(path).length
  offsets, start = [], 0
  with tf.io.gfile.GFile(path, "rb") as f:
    while start < size:
      header = f.read(_HEADER_BYTES)
      length = (struct.unpack("<Q", header[:8])[0]
                if len(header) == _HEADER_BYTES else size)
      end = start + _HEADER_BYTES + length + _FOOTER_BYTES
      if end > size:
        raise ShardError(
            f"{path}: truncated or corrupt shard: record {len(offsets)} at "
            f"byte {start} runs past the end of the file ({size} bytes); "
            "re-run tfvocoder.data.prepare")
      offsets.append(start)
      f.seek(end)
      start = end
  return offsets


def _check_split(folder: str, split: str, entry: dict) -> None:
  """All of one manifest split's shards exist and hold what it lists."""
  paths = [os.path.join(folder, name) for name in entry["shards"]]
  manifest = os.path.join(folder, _MANIFEST)
  for path in paths:
    if not tf.io.gfile.exists(path):
      raise ShardError(f"{path}: missing ({manifest} lists it); re-run "
                       "tfvocoder.data.prepare")
  records = sum(len(record_offsets(path)) for path in paths)
  size = sum(tf.io.gfile.stat(path).length for path in paths)
  expected = (entry.get("records", records), entry.get("bytes", size))
  if (records, size) != expected:
    what = paths[0] if len(paths) == 1 else (
        f"the {len(paths)} {split} shards in {folder}")
    raise ShardError(
        f"{what}: {records} records / {size} bytes, but {manifest} lists "
        f"{expected[0]} / {expected[1]} (a shard cut short or replaced); "
        "re-run tfvocoder.data.prepare")


def _check_folder(folder: str, names: List[str]) -> None:
  """`folder`'s shards `names` against its manifest (framing alone when
  there is none); every split they belong to is checked whole."""
  splits = (_read_manifest(folder) or {}).get("splits")
  if not isinstance(splits, dict):
    for name in names:
      record_offsets(os.path.join(folder, name))
    return
  owner = {shard: split for split, entry in splits.items()
           for shard in entry["shards"]}
  for name in names:
    if name not in owner:
      raise ShardError(
          f"{os.path.join(folder, name)}: not a shard that "
          f"{os.path.join(folder, _MANIFEST)} lists (left by another "
          "prepare run?); remove it or re-run tfvocoder.data.prepare")
  for split in sorted({owner[name] for name in names}):
    _check_split(folder, split, splits[split])


def check_shards(pattern: Union[str, Sequence[str]]) -> None:
  """Check shards before a job reads them (cheap: headers only).

  Every file's TFRecord framing (`record_offsets`); where its folder has
  `prepare`'s manifest.json, that the file is one of the manifest's shards
  and that each split read has all its shards, holding the records and
  bytes the manifest lists.

  Args:
    pattern: glob (or list of globs / paths) of the shards.
  Raises:
    ShardError: naming the first bad shard (or manifest).
  """
  files = list_shards(pattern)
  for folder in sorted({os.path.dirname(f) for f in files}):
    _check_folder(folder, [os.path.basename(f) for f in files
                           if os.path.dirname(f) == folder])


def _tf_message(error: Exception) -> str:
  """TF's error message on one line, without the op-definition trace."""
  text = getattr(error, "message", None) or str(error)
  lines = [line.strip() for line in text.splitlines()]
  kept = [line for line in lines if line and not line.startswith(_TF_NOISE)]
  return " ".join(kept) or type(error).__name__


def data_error(pattern: Union[str, Sequence[str]], error: Exception,
               note: str = "") -> ShardError:
  """A one-line `ShardError` for a read error met while reading `pattern`.

  Names the bad shard when its framing is broken (`record_offsets`), or
  the shards with a record at the byte offset TF reports (a data checksum
  mismatch; often just one), else the shards' folders. TF's message and
  `note` follow.
  """
  message = _tf_message(error)
  found = re.search(r"(?:corrupted|truncated) record at (\d+)", message)
  suspects = []
  files = list_shards(pattern)
  for path in files:
    try:
      offsets = record_offsets(path)
    except ShardError as e:
      return ShardError(f"{e} (TensorFlow: {message}){note}")
    if found and {int(found.group(1)), int(found.group(1)) - _HEADER_BYTES
                 } & set(offsets):   # TF names a record's or its data's start
      suspects.append(path)
  return ShardError(f"{_suspects(suspects, files)}: corrupt shard "
                    f"(TensorFlow: {message}); re-run "
                    f"tfvocoder.data.prepare{note}")


def _suspects(suspects: List[str], files: List[str], shown: int = 3) -> str:
  """The one suspect shard, a few of several, or the shards' folders."""
  if len(suspects) == 1:
    return suspects[0]
  if suspects:
    more = len(suspects) - shown
    return (f"one of {', '.join(suspects[:shown])}" +
            (f" (or {more} more with a record there)" if more > 0 else ""))
  return "a shard in " + ", ".join(sorted({os.path.dirname(f) for f in files}))


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
