"""sources: file trees, MusicNet folders, synthetic music, and their splits."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from conftest import load_music
from data_fixtures import RATE, prepare_tree
from tfvocoder.config import tiny_config
from tfvocoder.data import music, pipeline, prepare, sources

CONFIG = tiny_config()


def _in_first_fraction(data: bytes, fraction: float) -> bool:
  """Oracle of the holdout rule: SHA-1 of the bytes in the first `fraction`
  of the hash space (the digest read as a number in [0, 1))."""
  return int(hashlib.sha1(data).hexdigest(), 16) / 16 ** 40 < fraction


def test_holdout_split_is_by_content_hash(tmp_path):
  rng = np.random.default_rng(0)
  contents = {f"song{i:02d}.wav": rng.bytes(100 + i) for i in range(40)}
  for name, data in contents.items():
    (tmp_path / name).write_bytes(data)
  # A renamed copy in a sub-dir: same bytes, so the same split.
  (tmp_path / "copies").mkdir()
  (tmp_path / "copies" / "renamed.flac").write_bytes(contents["song07.wav"])
  layout, found = sources.find_audio(str(tmp_path))
  assert layout == "tree" and all(split is None for _, split in found)
  for fraction in (0.0, 0.3, 0.5):
    specs = {s["name"]: s for s in sources.file_specs(str(tmp_path), found,
                                                      fraction)}
    assert set(specs) == set(contents) | {"copies/renamed.flac"}
    for name, data in contents.items():
      assert specs[name]["sha1"] == hashlib.sha1(data).hexdigest()
      assert specs[name]["bytes"] == len(data)
      assert specs[name]["split"] == (
          "test" if _in_first_fraction(data, fraction) else "train"), name
    assert specs["copies/renamed.flac"]["split"] == specs["song07.wav"]["split"]
    tests = sum(s["split"] == "test" for s in specs.values())
    assert tests == 0 if fraction == 0 else 0 < tests < len(specs)


def test_musicnet_folder_maps_its_dirs_to_the_splits(tmp_path):
  for path in ["train_data/1727.wav", "train_data/sub/1728.flac",
               "test_data/2303.ogg", "test_data/.hidden.wav",
               "train_labels/1727.csv", "stray.wav"]:
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_bytes(path.encode())
  layout, found = sources.find_audio(str(tmp_path))
  assert layout == "musicnet"
  assert found == [("train_data/1727.wav", "train"),
                   ("train_data/sub/1728.flac", "train"),
                   ("test_data/2303.ogg", "test")]
  # The split comes from the folder, whatever the content hash says.
  specs = sources.file_specs(str(tmp_path), found, holdout_fraction=0.99)
  assert [s["split"] for s in specs] == ["train", "train", "test"]
  # Without test_data/ it is a plain tree; the output dir is not walked.
  os.rename(tmp_path / "test_data", tmp_path / "out")
  layout, found = sources.find_audio(str(tmp_path),
                                     exclude=str(tmp_path / "out"))
  assert layout == "tree"
  assert [rel for rel, _ in found] == ["stray.wav", "train_data/1727.wav",
                                       "train_data/sub/1728.flac"]


def test_synthetic_specs_hold_out_the_last_pieces():
  for minutes, fraction, pieces, tests in [(0.25, 0.05, 1, 0),
                                           (0.5, 0.05, 2, 1),
                                           (10.0, 0.05, 30, 2),
                                           (10.0, 0.2, 30, 6)]:
    specs = sources.synthetic_specs(minutes, 7, 8000, fraction)
    assert len(specs) == pieces
    assert [s["split"] for s in specs] == ["train"] * (pieces - tests) + [
        "test"] * tests
    for i, spec in enumerate(specs):
      assert spec["seconds"] * pieces == pytest.approx(minutes * 60)
      assert (spec["name"], spec["index"], spec["seed"]) == (
          f"synthetic/piece-{i:04d}", i, 7)
      assert spec["bytes"] == 2 * int(spec["seconds"] * 8000)


def test_load_source_reads_each_kind(tmp_path):
  spec = sources.synthetic_specs(0.5, 3, CONFIG.sample_rate)[1]
  decoded = sources.load_source(spec, CONFIG)
  np.testing.assert_array_equal(decoded.audio, music.generate_music(
      spec["seconds"], CONFIG.sample_rate, seed=(3, 1)))
  assert (decoded.source_rate, decoded.channels) == (CONFIG.sample_rate, 1)
  audio = 0.5 * load_music(RATE, 1.0, seed=0)[0]
  sf.write(tmp_path / "a.wav", np.stack([audio, -audio], 1), RATE,
           subtype="FLOAT")
  decoded = sources.load_source(dict(kind="file", path=str(tmp_path / "a.wav")),
                                CONFIG)
  assert (decoded.source_rate, decoded.channels) == (RATE, 2)
  np.testing.assert_allclose(decoded.audio, 0.0, atol=1e-7)   # mono mean


def test_worker_modules_import_neither_tensorflow_nor_the_cli():
  code = ("import sys; import tfvocoder.data.sources, tfvocoder.data.build; "
          "print(sorted(m for m in ('tensorflow', 'keras', 'librosa', "
          "'tfvocoder.data.prepare') if m in sys.modules))")
  run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, timeout=120)
  assert run.returncode == 0, run.stderr
  assert run.stdout.strip() == "[]"


def test_musicnet_layout_gives_splits(tmp_path):
  music = 0.5 * load_music(RATE, 2.0, seed=0)[0]
  for sub, name in [("train_data", "1727.wav"), ("train_data", "1728.wav"),
                    ("test_data", "2303.wav")]:
    (tmp_path / "musicnet" / sub).mkdir(parents=True, exist_ok=True)
    sf.write(tmp_path / "musicnet" / sub / name, music, RATE)
  (tmp_path / "musicnet" / "stray.wav").write_bytes(b"")   # not walked
  manifest = prepare_tree(tmp_path / "musicnet", tmp_path / "out")
  assert manifest["options"]["layout"] == "musicnet"
  assert {f["path"]: f["split"] for f in manifest["files"]} == {
      "train_data/1727.wav": "train", "train_data/1728.wav": "train",
      "test_data/2303.wav": "test"}
  assert manifest["skipped"] == []


def test_dataset_written_once_and_matches_generator(tmp_path):
  out = sources.ensure_synthetic_dataset(str(tmp_path / "syn"), CONFIG,
                                         minutes=0.5, workers=1)
  manifest = json.load(open(os.path.join(out, "manifest.json")))
  assert [f["split"] for f in manifest["files"]] == ["train", "test"]
  assert manifest["skipped"] == []
  stamps = {n: os.stat(os.path.join(out, n)).st_mtime_ns
            for n in os.listdir(out)}
  assert sources.ensure_synthetic_dataset(
      str(tmp_path / "syn"), CONFIG, minutes=0.5, workers=1) == out
  assert {n: os.stat(os.path.join(out, n)).st_mtime_ns
          for n in os.listdir(out)} == stamps
  # The shards hold the generator's piece 1 (the test split), as int16.
  pcm = []
  for raw in tf.data.TFRecordDataset(
      os.path.join(out, manifest["splits"]["test"]["shards"][0])):
    feature = tf.train.Example.FromString(raw.numpy()).features.feature
    pcm.append(np.frombuffer(feature["audio"].bytes_list.value[0], "<i2"))
  expected = music.generate_music(15.0, RATE, seed=(0, 1))
  np.testing.assert_array_equal(np.concatenate(pcm),
                                np.round(expected * 32767).astype(np.int16))
  batch = next(iter(pipeline.make_dataset(
      pipeline.shard_pattern(out, "train"), CONFIG, 4, seed=0)))
  assert batch["audio"].shape == (4, CONFIG.window)


def _write_music(path, seed=0):
  sf.write(path, 0.5 * load_music(RATE, 1.0, seed=seed)[0], RATE)


def test_odd_files_are_skipped_with_their_reason(tmp_path):
  tree = tmp_path / "in"
  tree.mkdir()
  _write_music(tree / "a.wav")
  os.symlink("missing.wav", tree / "dangling.wav")
  os.symlink("loop_b.wav", tree / "loop_a.wav")
  os.symlink("loop_a.wav", tree / "loop_b.wav")
  os.mkfifo(tree / "fifo.wav")   # hashing it would block forever
  expected = {"dangling.wav": "dangling_link", "loop_a.wav": "link_loop",
              "loop_b.wav": "link_loop", "fifo.wav": "not_a_file"}
  try:   # Latin-1 "café.wav": not UTF-8
    with open(os.fsencode(tree) + b"/caf\xe9.wav", "wb") as f:
      f.write((tree / "a.wav").read_bytes())
    expected["caf\\xe9.wav"] = "bad_name"
  except OSError:
    pass   # a file system that refuses such names cannot have this problem
  manifest = prepare_tree(tree, tmp_path / "out")
  assert [f["path"] for f in manifest["files"]] == ["a.wav"]
  assert {s["path"]: s["reason"] for s in manifest["skipped"]} == expected
  text = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
  assert json.loads(text) == manifest
  summary = prepare.summarize(manifest)
  summary.encode("utf-8")   # printable: no lone surrogates
  assert "skipped dangling.wav: dangling_link: symbolic link to missing " \
      "'missing.wav'" in summary
  assert prepare_tree(tree, tmp_path / "out") == manifest   # re-run: same


def test_directory_symlinks_are_followed_once(tmp_path):
  tree, outside = tmp_path / "in", tmp_path / "outside"
  for path in ["in/real/r.wav", "in/deep/d.wav", "outside/x.wav",
               "outside/sub/y.wav"]:
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_bytes(path.encode())
  os.symlink("real", tree / "a_link")            # the real place wins
  os.symlink(outside, tree / "ext1")             # followed
  os.symlink(outside, tree / "ext2")             # same real dir: once
  os.symlink(outside / "sub", tree / "ext0")     # inside ext1's target
  os.symlink(".", tree / "self")                 # an ancestor: no loop
  os.symlink("..", tree / "deep" / "up")
  os.symlink(tree, outside / "back")             # back into the tree
  os.symlink(tmp_path / "gone", tree / "dangling_dir")
  layout, found = sources.find_audio(str(tree))
  assert layout == "tree"
  assert sorted(rel for rel, _ in found) == [
      "deep/d.wav", "ext0/y.wav", "ext1/x.wav", "real/r.wav"]
