"""build: sources -> shards + manifest; skips, sizes, workers, resume."""

import hashlib
import os
import re
import shutil

import librosa
import numpy as np
import pytest

from data_fixtures import (BROKEN, GOOD, RATE, RECORD_SECONDS, SHARD_BYTES,
                           prepare_tree, write_tree)
from tfvocoder.config import tiny_config
from tfvocoder.data import audio_io, build, prepare, shards, sources


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("audio")
  write_tree(str(root))
  return root


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
  out = tmp_path_factory.mktemp("shards")
  return out, prepare_tree(tree, out)


def _read_records(path):
  import tensorflow as tf
  records = []
  for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
    feature = tf.train.Example.FromString(raw).features.feature
    records.append(dict(
        source=feature["source"].bytes_list.value[0].decode(),
        offset=feature["offset"].int64_list.value[0],
        rate=feature["sample_rate"].int64_list.value[0],
        pcm=np.frombuffer(feature["audio"].bytes_list.value[0], "<i2")))
  return records


def test_manifest_lists_good_files_and_skip_reasons(prepared, tree):
  _, manifest = prepared
  assert {f["path"] for f in manifest["files"]} == GOOD
  assert {s["path"]: s["reason"] for s in manifest["skipped"]} == BROKEN
  assert all(s["detail"] and "\n" not in s["detail"]
             for s in manifest["skipped"])
  stereo = next(f for f in manifest["files"] if f["path"] == "stereo48k.wav")
  assert (stereo["source_rate"], stereo["channels"]) == (48000, 2)
  assert stereo["seconds"] == pytest.approx(2.0, abs=1e-3)
  for entry in manifest["files"]:
    with open(os.path.join(tree, entry["path"]), "rb") as f:
      digest = hashlib.sha1(f.read()).hexdigest()
    assert entry["sha1"] == digest
    # Held out by content hash: a fraction 0.4 of hash space -> "test".
    assert entry["split"] == ("test" if int(digest[:15], 16) < 0.4 * 16 ** 15
                              else "train")
  summary = prepare.summarize(manifest)
  assert "skipped: 6 files" in summary and "1 truncated" in summary


def test_shards_named_sized_and_complete(prepared):
  out, manifest = prepared
  names = sorted(os.listdir(out))
  expected = sorted(n for s in manifest["splits"].values() for n in s["shards"])
  assert names == sorted(expected + ["manifest.json"])   # no temp/journal
  max_record = int(2 * RECORD_SECONDS * RATE) * 2 + 200  # bytes, generous
  for split, info in manifest["splits"].items():
    count = len(info["shards"])
    assert info["shards"] == [f"{split}-{i:05d}-of-{count:05d}.tfrecord"
                              for i in range(count)]
    sizes = [os.path.getsize(os.path.join(out, n)) for n in info["shards"]]
    assert sum(sizes) == info["bytes"]
    for size in sizes[:-1]:
      assert SHARD_BYTES <= size < SHARD_BYTES + max_record
  assert sum(len(s["shards"]) for s in manifest["splits"].values()) >= 4


def test_shard_audio_equals_decoded_files(prepared, tree):
  out, manifest = prepared
  config = tiny_config()
  by_source = {}
  for info in manifest["splits"].values():
    for name in info["shards"]:
      for record in _read_records(os.path.join(out, name)):
        assert record["rate"] == RATE
        assert record["offset"] % config.hop_length == 0
        by_source.setdefault(record["source"], []).append(record)
  for entry in manifest["files"]:
    records = sorted(by_source[entry["path"]], key=lambda r: r["offset"])
    assert len(records) == entry["records"]
    starts = np.cumsum([0] + [len(r["pcm"]) for r in records[:-1]])
    assert [r["offset"] for r in records] == list(starts)   # no gaps
    pcm = np.concatenate([r["pcm"] for r in records])
    assert len(pcm) == entry["samples"]
    if entry["path"].endswith(".mp3"):   # codec delay: duration only
      assert entry["seconds"] == pytest.approx(2.0, abs=0.1)
      continue
    # Oracle: librosa's decode + mono mean + soxr_hq resampling (librosa
    # rounds the length up and zero-pads: at most one sample more).
    expected, _ = librosa.load(os.path.join(tree, entry["path"]), sr=RATE,
                               mono=True, res_type="soxr_hq")
    assert 0 <= len(expected) - len(pcm) <= 1
    np.testing.assert_allclose(pcm / 32767.0, expected[:len(pcm)], atol=1e-4)


def test_worker_pool_gives_identical_output(prepared, tree, tmp_path):
  out, manifest = prepared
  again = prepare_tree(tree, tmp_path, workers=2)
  assert again == manifest
  for name in os.listdir(out):
    if name.endswith(".tfrecord"):
      with open(out / name, "rb") as a, open(tmp_path / name, "rb") as b:
        assert a.read() == b.read()


def test_resume_after_interruption(prepared, tree, tmp_path, monkeypatch):
  out, reference = prepared
  original_close = shards.ShardWriter.close
  closed = []

  def close_then_die(self):
    if closed:
      raise KeyboardInterrupt("simulated kill")
    name = original_close(self)
    closed.append(name)
    return name

  monkeypatch.setattr(shards.ShardWriter, "close", close_then_die)
  with pytest.raises(KeyboardInterrupt):
    prepare_tree(tree, tmp_path)
  monkeypatch.undo()
  journal = shards.read_json(tmp_path / build.JOURNAL)
  assert journal["next_record"] > 0   # killed in the middle of a file
  assert not os.path.exists(tmp_path / build.MANIFEST)
  done = tmp_path / closed[0]
  before = os.stat(done)
  leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
  assert leftovers   # the second shard was being written
  manifest = prepare_tree(tree, tmp_path)
  assert manifest == reference
  for split in manifest["splits"].values():   # byte for byte
    for name in split["shards"]:
      with open(out / name, "rb") as a, open(tmp_path / name, "rb") as b:
        assert a.read() == b.read()
  split = closed[0].split("-")[0]
  final = tmp_path / manifest["splits"][split]["shards"][0]
  after = os.stat(final)   # renamed, never rewritten
  assert (after.st_ino, after.st_mtime_ns) == (before.st_ino,
                                               before.st_mtime_ns)
  assert sorted(os.listdir(tmp_path)) == sorted(
      [n for s in manifest["splits"].values() for n in s["shards"]]
      + ["manifest.json"])


def test_finished_dir_is_left_alone(prepared, tree):
  out, manifest = prepared
  stamps = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)}
  assert prepare_tree(tree, out) == manifest
  assert {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)} == stamps


def test_clear_errors_before_any_work(prepared, tree, tmp_path):
  out, _ = prepared
  with pytest.raises(build.PrepareError, match="does not exist"):
    prepare_tree(tmp_path / "missing", tmp_path / "o1")
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("no audio here")
  with pytest.raises(build.PrepareError, match="no audio files"):
    prepare_tree(tmp_path / "empty", tmp_path / "o2")
  stamps = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)}
  with pytest.raises(build.PrepareError, match=f"sample_rate: {RATE} there"):
    sources.prepare_dir(str(tree), str(out), tiny_config(sample_rate=RATE // 2),
                        workers=1, holdout_fraction=0.4,
                        shard_bytes=SHARD_BYTES, record_seconds=RECORD_SECONDS)
  assert {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)} == stamps
  assert not os.path.exists(tmp_path / "o1")


def test_bad_output_dir_is_found_before_hashing(tree, tmp_path, monkeypatch):
  def no_hashing(path):
    raise AssertionError("hashed before checking the output dir")
  monkeypatch.setattr(sources, "_sha1_file", no_hashing)
  (tmp_path / "file").write_text("a regular file")
  for out, message in [(tmp_path / "file", "exists and is not a directory"),
                       (tmp_path / "file" / "out",
                        f"cannot be created, {tmp_path / 'file'} is not a "
                        "directory")]:
    with pytest.raises(build.PrepareError, match=re.escape(message)):
      prepare_tree(tree, out)
  assert (tmp_path / "file").read_text() == "a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_dir_is_named(tree, tmp_path):
  (tmp_path / "ro").mkdir()
  os.chmod(tmp_path / "ro", 0o555)
  with pytest.raises(build.PrepareError, match="not writable"):
    prepare_tree(tree, tmp_path / "ro")


def test_corrupt_manifest_or_journal_is_named(tree, tmp_path):
  for name in (build.MANIFEST, build.JOURNAL):
    out = tmp_path / name
    out.mkdir()
    (out / name).write_text('{"options": {"format": ')   # cut short
    with pytest.raises(build.PrepareError,
                       match=re.escape(f"{str(out / name)!r} is unreadable")):
      prepare_tree(tree, out)


def test_only_broken_files_give_an_empty_dataset(tree, tmp_path):
  shutil.copytree(tree / "broken", tmp_path / "in")
  manifest = prepare_tree(tmp_path / "in", tmp_path / "out")
  assert manifest["files"] == []
  assert {s["path"]: s["reason"] for s in manifest["skipped"]} == {
      k.split("/")[1]: v for k, v in BROKEN.items()}
  assert os.listdir(tmp_path / "out") == ["manifest.json"]


def _tone_loader(spec, config):
  """A source kind the engine has never heard of: a sine of spec["hz"]."""
  if spec.get("fail") == "skip":
    raise audio_io.SkipFile("corrupt", "made-up reason")
  if spec.get("fail") == "crash":
    raise RuntimeError("the loader\nbroke")
  t = np.arange(int(spec["seconds"] * config.sample_rate)) / config.sample_rate
  audio = (0.5 * np.sin(2 * np.pi * spec["hz"] * t)).astype(np.float32)
  return audio_io.DecodedAudio(audio, source_rate=44100, channels=2)


def test_engine_runs_any_source_kind_through_its_loader(tmp_path):
  config = tiny_config()
  specs = [dict(name="tones/b", split="train", bytes=10, seconds=1.5, hz=440.0),
           dict(name="tones/a", split="test", bytes=10, seconds=1.0, hz=220.0),
           dict(name="tones/skip", split="train", bytes=10, fail="skip"),
           dict(name="tones/crash", split="train", bytes=10, fail="crash")]
  options = build.dataset_options(config, RECORD_SECONDS, SHARD_BYTES,
                                  layout="tones")
  manifest = build.run(str(tmp_path), config, specs, options, _tone_loader)
  # Plan order: train sources, then test, each sorted by name.
  assert [f["path"] for f in manifest["files"]] == ["tones/b", "tones/a"]
  assert [(s["path"], s["reason"], s["detail"]) for s in manifest["skipped"]] \
      == [("tones/crash", "error", "RuntimeError: the loader broke"),
          ("tones/skip", "corrupt", "made-up reason")]
  assert manifest["options"] == options
  for entry, spec in zip(manifest["files"], specs[:2]):
    assert entry["split"] == spec["split"] and entry["sha1"] is None
    assert (entry["source_rate"], entry["channels"]) == (44100, 2)
    records = sorted((r for name in manifest["splits"][spec["split"]]["shards"]
                      for r in _read_records(tmp_path / name)
                      if r["source"] == spec["name"]),
                     key=lambda r: r["offset"])
    assert len(records) == entry["records"] >= 2
    # Oracle: the sine, rounded to int16 as the shard format says.
    t = np.arange(int(spec["seconds"] * RATE)) / RATE
    sine = (0.5 * np.sin(2 * np.pi * spec["hz"] * t)).astype(np.float32)
    np.testing.assert_array_equal(np.concatenate([r["pcm"] for r in records]),
                                  np.round(sine * 32767.0).astype(np.int16))
