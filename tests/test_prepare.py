"""prepare: files -> shards + manifest; skip reasons, layout, resume, errors."""

import hashlib
import os
import re
import shutil
import subprocess
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

from conftest import load_music
from tfvocoder.config import tiny_config
from tfvocoder.data import audio_io, prepare, shards

RATE = tiny_config().sample_rate
SHARD_BYTES = 60_000          # a few records per shard
RECORD_SECONDS = 0.5
GOOD = {"a.wav", "music/sub/b.flac", "c.ogg", "d.mp3", "stereo48k.wav"}
BROKEN = {"broken/truncated.wav": "truncated", "broken/text.wav": "unreadable",
          "broken/clip10ms.wav": "too_short", "broken/silent.flac": "silent",
          "broken/nan.wav": "non_finite", "broken/empty.ogg": "empty"}


def _write_tree(root):
  """A few seconds of wav/flac/ogg/mp3 music plus broken files."""
  def music(rate, seconds, seed):
    return 0.8 * load_music(rate, seconds, seed=seed)[0]
  os.makedirs(os.path.join(root, "music/sub"))
  os.makedirs(os.path.join(root, "broken"))
  sf.write(os.path.join(root, "a.wav"), music(RATE, 3.0, 0), RATE,
           subtype="PCM_16")
  sf.write(os.path.join(root, "music/sub/b.flac"), music(44100, 2.5, 1), 44100)
  sf.write(os.path.join(root, "c.ogg"), music(RATE, 2.0, 2), RATE)
  sf.write(os.path.join(root, "d.mp3"), music(RATE, 2.0, 3), RATE)
  stereo = np.stack([music(48000, 2.0, 4), music(48000, 2.0, 5)], axis=1)
  sf.write(os.path.join(root, "stereo48k.wav"), stereo, 48000, subtype="FLOAT")
  # Broken ones.
  sf.write(os.path.join(root, "full.wav"), music(RATE, 2.0, 6), RATE)
  with open(os.path.join(root, "full.wav"), "rb") as f:
    data = f.read()
  os.remove(os.path.join(root, "full.wav"))
  with open(os.path.join(root, "broken/truncated.wav"), "wb") as f:
    f.write(data[:len(data) // 2])
  with open(os.path.join(root, "broken/text.wav"), "w") as f:
    f.write("these are not the samples you are looking for\n" * 50)
  sf.write(os.path.join(root, "broken/clip10ms.wav"),
           music(RATE, 2.0, 7)[:RATE // 100], RATE)
  sf.write(os.path.join(root, "broken/silent.flac"), np.zeros(2 * RATE), RATE)
  nan = music(RATE, 1.0, 8).copy()
  nan[100] = np.nan
  sf.write(os.path.join(root, "broken/nan.wav"), nan, RATE, subtype="FLOAT")
  open(os.path.join(root, "broken/empty.ogg"), "wb").close()
  with open(os.path.join(root, "notes.txt"), "w") as f:
    f.write("not audio, ignored\n")


def _prepare(tree, out, **kwargs):
  kwargs = dict(dict(workers=1, holdout_fraction=0.4, shard_bytes=SHARD_BYTES,
                     record_seconds=RECORD_SECONDS), **kwargs)
  return prepare.prepare_dir(str(tree), str(out), tiny_config(), **kwargs)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
  root = tmp_path_factory.mktemp("audio")
  _write_tree(str(root))
  return root


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
  out = tmp_path_factory.mktemp("shards")
  return out, _prepare(tree, out)


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
  again = _prepare(tree, tmp_path, workers=2)
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
    _prepare(tree, tmp_path)
  monkeypatch.undo()
  journal = shards.read_json(tmp_path / prepare.JOURNAL)
  assert journal["next_record"] > 0   # killed in the middle of a file
  assert not os.path.exists(tmp_path / prepare.MANIFEST)
  done = tmp_path / closed[0]
  before = os.stat(done)
  leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
  assert leftovers   # the second shard was being written
  manifest = _prepare(tree, tmp_path)
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
  assert _prepare(tree, out) == manifest
  assert {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)} == stamps


def test_clear_errors_before_any_work(prepared, tree, tmp_path):
  out, _ = prepared
  with pytest.raises(prepare.PrepareError, match="does not exist"):
    _prepare(tmp_path / "missing", tmp_path / "o1")
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("no audio here")
  with pytest.raises(prepare.PrepareError, match="no audio files"):
    _prepare(tmp_path / "empty", tmp_path / "o2")
  stamps = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)}
  with pytest.raises(prepare.PrepareError, match=f"sample_rate: {RATE} there"):
    prepare.prepare_dir(str(tree), str(out), tiny_config(sample_rate=RATE // 2),
                        workers=1, holdout_fraction=0.4,
                        shard_bytes=SHARD_BYTES, record_seconds=RECORD_SECONDS)
  assert {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)} == stamps
  assert not os.path.exists(tmp_path / "o1")


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


def test_only_broken_files_give_an_empty_dataset(tree, tmp_path):
  shutil.copytree(tree / "broken", tmp_path / "in")
  manifest = _prepare(tmp_path / "in", tmp_path / "out")
  assert manifest["files"] == []
  assert {s["path"]: s["reason"] for s in manifest["skipped"]} == {
      k.split("/")[1]: v for k, v in BROKEN.items()}
  assert os.listdir(tmp_path / "out") == ["manifest.json"]


def test_musicnet_layout_gives_splits(tmp_path):
  music = 0.5 * load_music(RATE, 2.0, seed=0)[0]
  for sub, name in [("train_data", "1727.wav"), ("train_data", "1728.wav"),
                    ("test_data", "2303.wav")]:
    (tmp_path / "musicnet" / sub).mkdir(parents=True, exist_ok=True)
    sf.write(tmp_path / "musicnet" / sub / name, music, RATE)
  (tmp_path / "musicnet" / "stray.wav").write_bytes(b"")   # not walked
  manifest = _prepare(tmp_path / "musicnet", tmp_path / "out")
  assert manifest["options"]["layout"] == "musicnet"
  assert {f["path"]: f["split"] for f in manifest["files"]} == {
      "train_data/1727.wav": "train", "train_data/1728.wav": "train",
      "test_data/2303.wav": "test"}
  assert manifest["skipped"] == []


def test_cli_error_and_success(tree, tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  cmd = [sys.executable, "-m", "tfvocoder.data.prepare"]
  bad = subprocess.run(cmd + [f"--input_dir={tmp_path / 'nope'}",
                              f"--output_dir={tmp_path / 'o'}"],
                       capture_output=True, text=True, env=env, timeout=120)
  assert bad.returncode != 0 and "does not exist" in bad.stderr
  good_dir = tmp_path / "in"
  good_dir.mkdir()
  shutil.copy(tree / "a.wav", good_dir / "a.wav")
  shutil.copy(tree / "broken" / "text.wav", good_dir / "text.wav")
  run = subprocess.run(cmd + [f"--input_dir={good_dir}",
                              f"--output_dir={tmp_path / 'o'}",
                              "--workers=1", "--window=2048",
                              "--holdout_fraction=0"],
                       capture_output=True, text=True, env=env, timeout=120)
  assert run.returncode == 0, run.stderr
  assert re.search(r"train: 1 files, 0\.001 h, 1 shards", run.stdout)
  assert "skipped: 1 files (1 unreadable)" in run.stdout
