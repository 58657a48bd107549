"""The on-disk shard format: TFRecord files of int16 PCM records.

One record (a serialized `tf.train.Example`) holds a contiguous stretch of
one source file:

  audio        bytes   int16 little-endian PCM, mono, `float = int16 / 32767`
  sample_rate  int64   Hz (the config's sample_rate)
  source       bytes   the file's path relative to the input dir
  offset       int64   index of the record's first sample in the file

Records start at multiples of `hop_length` in their file, so a window drawn
at a hop-aligned offset inside a record is hop-aligned in the file too.

Shards are named `{split}-{i:05d}-of-{n:05d}.tfrecord`. While `prepare`
runs, a shard is written to `.{split}-{i:05d}.tfrecord.tmp`, renamed to
`{split}-{i:05d}.tfrecord.done` when it is complete (never touched again),
and all of a split's shards get their final `-of-` names once the count is
known. TensorFlow is imported only when a writer is created: `prepare`'s
worker processes never import it.
"""

import json
import os
from typing import Callable, List, Optional, Tuple

import numpy as np

FEATURE_AUDIO = "audio"
FEATURE_SAMPLE_RATE = "sample_rate"
FEATURE_SOURCE = "source"
FEATURE_OFFSET = "offset"
# TFRecord framing per record: length (8) + length crc (4) + data crc (4).
RECORD_OVERHEAD_BYTES = 16


def final_name(split: str, index: int, count: int) -> str:
  return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def done_name(split: str, index: int) -> str:
  return f"{split}-{index:05d}.tfrecord.done"


def temp_name(split: str, index: int) -> str:
  return f".{split}-{index:05d}.tfrecord.tmp"


def record_spans(num_samples: int, record_samples: int,
                 hop: int) -> List[Tuple[int, int]]:
  """Split `num_samples` into records of about `record_samples`.

  Returns `[(start, stop), ...]` covering `[0, num_samples)` without gaps;
  every start is a multiple of `hop`; pieces are whole hops (the last also
  takes the remainder), near-equal, and each at least `record_samples`
  long (`record_samples` a multiple of `hop`) unless the whole file is
  shorter (then one piece).
  """
  pieces = max(1, num_samples // max(record_samples, 1))
  base, extra = divmod(num_samples // hop, pieces)
  starts = [hop * (j * base + min(j, extra)) for j in range(pieces)]
  stops = starts[1:] + [num_samples]
  return list(zip(starts, stops))


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


class ShardWriter:
  """Writes one split's records into shards of about `shard_bytes`.

  A shard is closed (temp -> `.done` rename) as soon as it reaches
  `shard_bytes`, after a whole record; `on_shard_done(name, records,
  bytes)` is then called so the caller can record its progress.
  """

  def __init__(self, output_dir: str, split: str, shard_bytes: int,
               first_index: int = 0,
               on_shard_done: Optional[Callable[[str, int, int], None]] = None):
    import tensorflow as tf  # only the parent process writes records
    self._tf = tf
    self.output_dir = output_dir
    self.split = split
    self.shard_bytes = int(shard_bytes)
    self.index = first_index
    self.on_shard_done = on_shard_done
    self._writer = None
    self._records = 0
    self._bytes = 0

  @property
  def current_shard(self) -> str:
    """The `.done` name the currently open (or next) shard will get."""
    return done_name(self.split, self.index)

  def serialize(self, pcm: np.ndarray, sample_rate: int, source: str,
                offset: int) -> bytes:
    """One record as a serialized tf.train.Example (see module docstring)."""
    train = self._tf.train
    feature = {
        FEATURE_AUDIO: train.Feature(bytes_list=train.BytesList(
            value=[np.ascontiguousarray(pcm, dtype="<i2").tobytes()])),
        FEATURE_SAMPLE_RATE: train.Feature(
            int64_list=train.Int64List(value=[int(sample_rate)])),
        FEATURE_SOURCE: train.Feature(
            bytes_list=train.BytesList(value=[source.encode("utf-8")])),
        FEATURE_OFFSET: train.Feature(
            int64_list=train.Int64List(value=[int(offset)])),
    }
    # deterministic=True sorts the feature map: identical bytes in every
    # process (map order otherwise follows the string hash seed).
    return train.Example(features=train.Features(
        feature=feature)).SerializeToString(deterministic=True)

  def write(self, record: bytes) -> Optional[str]:
    """Append one serialized record; returns the `.done` name if it closed."""
    if self._writer is None:
      path = os.path.join(self.output_dir, temp_name(self.split, self.index))
      self._writer = self._tf.io.TFRecordWriter(path)
    self._writer.write(record)
    self._records += 1
    self._bytes += len(record) + RECORD_OVERHEAD_BYTES
    if self._bytes >= self.shard_bytes:
      return self.close()
    return None

  def close(self) -> Optional[str]:
    """Finish the open shard (if any): flush, rename to `.done`, callback."""
    if self._writer is None:
      return None
    self._writer.close()
    temp = os.path.join(self.output_dir, temp_name(self.split, self.index))
    name = done_name(self.split, self.index)
    with open(temp, "rb") as f:   # make the bytes durable before the rename
      os.fsync(f.fileno())
    os.replace(temp, os.path.join(self.output_dir, name))
    records, size = self._records, self._bytes
    self._writer, self._records, self._bytes = None, 0, 0
    self.index += 1
    if self.on_shard_done is not None:
      self.on_shard_done(name, records, size)
    return name
