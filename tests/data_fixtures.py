"""A tree of real (or stand-in) music files, good and broken, and its prepare.

Shared by the data tests: `write_tree(root)` writes wav/flac/ogg/mp3 music
(`GOOD`) and files `prepare` must skip (`BROKEN`: path -> skip reason);
`prepare_tree` prepares a dir with small shards and records.
"""

import os

import numpy as np
import soundfile as sf

from conftest import load_music
from tfvocoder.config import tiny_config
from tfvocoder.data import sources

RATE = tiny_config().sample_rate
SHARD_BYTES = 60_000          # a few records per shard
RECORD_SECONDS = 0.5
GOOD = {"a.wav", "music/sub/b.flac", "c.ogg", "d.mp3", "stereo48k.wav"}
BROKEN = {"broken/truncated.wav": "truncated", "broken/text.wav": "unreadable",
          "broken/clip10ms.wav": "too_short", "broken/silent.flac": "silent",
          "broken/nan.wav": "non_finite", "broken/empty.ogg": "empty"}


def write_tree(root):
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


def prepare_tree(tree, out, **kwargs):
  """`sources.prepare_dir` with one worker, holdout 0.4 and small shards."""
  kwargs = dict(dict(workers=1, holdout_fraction=0.4, shard_bytes=SHARD_BYTES,
                     record_seconds=RECORD_SECONDS), **kwargs)
  return sources.prepare_dir(str(tree), str(out), tiny_config(), **kwargs)
