"""shards: record spans, and the writer's records, shard sizes and names."""

import os

import numpy as np
import tensorflow as tf

from tfvocoder.data import shards


def test_record_spans_are_whole_hops_and_long_enough():
  rng = np.random.default_rng(0)
  for _ in range(500):
    hop = int(rng.choice([64, 256]))
    record = hop * int(rng.integers(1, 40))
    n = int(rng.integers(1, 100 * record))
    spans = shards.record_spans(n, record, hop)
    assert spans[0][0] == 0 and spans[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(start % hop == 0 for start, _ in spans)
    assert len(spans) == 1 or min(b - a for a, b in spans) >= record




def test_writer_rolls_shards_and_records_parse_back(tmp_path):
  done = []
  writer = shards.ShardWriter(str(tmp_path), "train", shard_bytes=5000,
                              first_index=3,
                              on_shard_done=lambda *a: done.append(a))
  rng = np.random.default_rng(0)
  pieces = [rng.integers(-32767, 32768, 1000).astype("<i2") for _ in range(5)]
  closed = [writer.write(writer.serialize(p, 8000, "dir/song.wav", 1000 * i))
            for i, p in enumerate(pieces)]
  # About 2 KB a record: a shard closes after the record reaching 5000 B.
  assert closed == [None, None, "train-00003.tfrecord.done", None, None]
  assert writer.current_shard == "train-00004.tfrecord.done"
  assert sorted(os.listdir(tmp_path)) == [".train-00004.tfrecord.tmp",
                                          "train-00003.tfrecord.done"]
  assert writer.close() == "train-00004.tfrecord.done"
  assert writer.close() is None
  assert [(name, records) for name, records, _ in done] == [
      ("train-00003.tfrecord.done", 3), ("train-00004.tfrecord.done", 2)]
  # The byte count the writer keeps is the TFRecord file size.
  for name, _, size in done:
    assert os.path.getsize(tmp_path / name) == size
  # Oracle: TensorFlow's own TFRecord reader and tf.train.Example parser.
  got = []
  for name, _, _ in done:
    for raw in tf.data.TFRecordDataset(str(tmp_path / name)):
      feature = tf.train.Example.FromString(raw.numpy()).features.feature
      assert feature["sample_rate"].int64_list.value == [8000]
      assert feature["source"].bytes_list.value == [b"dir/song.wav"]
      got.append((feature["offset"].int64_list.value[0], np.frombuffer(
          feature["audio"].bytes_list.value[0], "<i2")))
  assert [offset for offset, _ in got] == [0, 1000, 2000, 3000, 4000]
  for (_, pcm), piece in zip(got, pieces):
    np.testing.assert_array_equal(pcm, piece)
  assert (shards.final_name("train", 3, 12), shards.temp_name("test", 0)) == (
      "train-00003-of-00012.tfrecord", ".test-00000.tfrecord.tmp")
