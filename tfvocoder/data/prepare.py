"""Prepare audio files (or synthetic music) as TFRecord shards.

  python -m tfvocoder.data.prepare --input_dir=DIR --output_dir=OUT
  python -m tfvocoder.data.prepare --synthetic=MINUTES --output_dir=OUT

Input: any tree of .wav/.flac/.ogg/.mp3 files, or a MusicNet folder (with
`train_data/` and `test_data/`, which become the train and test splits).
Other trees get a deterministic held-out "test" split: a file goes to test
when the SHA-1 of its bytes falls in the first `holdout_fraction` of the
hash space, so re-runs, renames and copies agree.

Output (format in `shards.py`): `{split}-{i:05d}-of-{n:05d}.tfrecord`
shards of about `shard_mb` MB of int16 PCM at the config's rate, and
`manifest.json` = {"config": VocoderConfig dict, "options": what the data
depends on, "splits": {split: {"shards", "files", "seconds", "records",
"bytes"}}, "files": [{"path", "split", "seconds", "samples",
"source_rate", "channels", "sha1", "records", "shards"}], "skipped":
[{"path", "split", "reason", "detail"}]}.

Processing (`build.py`): files are hashed, then decoded in a spawn process
pool (`--workers`) that never imports TensorFlow, and written in plan order
by this process alone. Progress (files done, hours of audio, ETA) is
logged with absl.logging. Bad files are skipped with a one-line reason
(manifest and summary). Shards are written under temp names and renamed
when complete; a re-run after an interruption keeps the finished shards
untouched, resumes at the first unwritten record and ends with the same
manifest as an uninterrupted run. A finished output dir is left as is.
"""

import collections
import hashlib
import os
from typing import List, Optional

from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io, build
from tfvocoder.data.build import (  # noqa: F401 (re-exported)
    JOURNAL, MANIFEST, SPLITS, PrepareError, default_workers)


def holdout_split(key_hex: str, fraction: float) -> str:
  """"test" if the hex digest falls in the first `fraction` of hash space."""
  return "test" if int(key_hex[:15], 16) / 16 ** 15 < fraction else "train"


def _sha1_file(path: str) -> Optional[str]:
  digest = hashlib.sha1()
  try:
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
  except OSError:
    return None   # the decode step will skip it with its reason
  return digest.hexdigest()


def find_audio(input_dir: str, exclude: Optional[str] = None):
  """(layout, [(relative path, split or None)]) of the audio under a dir.

  layout is "musicnet" when `train_data/` and `test_data/` exist (only
  they are walked, and give the split), else "tree" (split None).
  """
  if not os.path.isdir(input_dir):
    raise PrepareError(f"input dir {input_dir!r} does not exist or is not a "
                       "directory")
  musicnet = all(os.path.isdir(os.path.join(input_dir, d))
                 for d in ("train_data", "test_data"))
  roots = ([("train_data", "train"), ("test_data", "test")] if musicnet
           else [("", None)])
  found = []
  for sub, split in roots:
    top = os.path.join(input_dir, sub)
    for dirpath, dirnames, filenames in os.walk(top):
      dirnames[:] = sorted(
          d for d in dirnames if not d.startswith(".") and not (
              exclude and os.path.realpath(os.path.join(dirpath, d))
              == os.path.realpath(exclude)))
      for name in sorted(filenames):
        if audio_io.is_audio_path(name) and not name.startswith("."):
          path = os.path.join(dirpath, name)
          found.append((os.path.relpath(path, input_dir), split))
  if not found:
    kinds = ", ".join(audio_io.AUDIO_EXTENSIONS)
    raise PrepareError(f"no audio files ({kinds}) under {input_dir!r}")
  return ("musicnet" if musicnet else "tree"), found


def dataset_options(config: VocoderConfig, record_seconds: float,
                    shard_bytes: int, **extra) -> dict:
  """Everything the shards depend on; a different dict = a different dataset."""
  record = int(round(record_seconds * config.frame_rate))
  record_samples = max(record * config.hop_length, config.window)
  options = dict(format=build.FORMAT, sample_rate=config.sample_rate,
                 hop_length=config.hop_length, window=config.window,
                 silence_rms=config.silence_rms, shard_bytes=int(shard_bytes),
                 record_samples=record_samples)
  options.update(extra)
  return options


def prepare_dir(input_dir: str, output_dir: str, config: VocoderConfig,
                workers: Optional[int] = None, holdout_fraction: float = 0.05,
                shard_bytes: int = 100 * 10 ** 6,
                record_seconds: float = 10.0) -> dict:
  """Prepare every audio file under `input_dir`; returns the manifest dict.

  Raises PrepareError (before any work) for a missing or audio-less input
  dir or an output dir prepared with different options.
  """
  if not 0.0 <= holdout_fraction < 1.0:
    raise PrepareError(f"holdout_fraction={holdout_fraction} must be in "
                       "[0, 1)")
  input_dir = os.path.abspath(input_dir)
  output_dir = os.path.abspath(output_dir)
  layout, found = find_audio(input_dir, exclude=output_dir)
  options = dataset_options(
      config, record_seconds, shard_bytes, layout=layout, input_dir=input_dir,
      holdout_fraction=(None if layout == "musicnet"
                        else float(holdout_fraction)))
  done = build.check_output(output_dir, options)
  if done is not None:
    logging.info("%s is already complete", output_dir)
    return done
  workers = default_workers() if workers is None else int(workers)
  paths = [os.path.join(input_dir, rel) for rel, _ in found]
  executor = build.make_executor(workers)
  try:
    logging.info("hashing %d files", len(paths))
    digests = list(build.ordered_map(executor, _sha1_file, paths))
    specs = []
    for (rel, split), path, digest in zip(found, paths, digests):
      key = digest or hashlib.sha1(rel.encode()).hexdigest()
      specs.append(dict(kind="file", name=rel, path=path, sha1=digest,
                        bytes=os.path.getsize(path),
                        split=split or holdout_split(key, holdout_fraction)))
    return build.run(output_dir, config, specs, options, executor)
  finally:
    build.shutdown(executor)


def prepare_sources(output_dir: str, config: VocoderConfig, specs: List[dict],
                    options: dict, workers: Optional[int] = None) -> dict:
  """Prepare an explicit list of source specs (used for synthetic music)."""
  if build.check_output(os.path.abspath(output_dir), options) is not None:
    return build.run(output_dir, config, specs, options)   # already done
  workers = default_workers() if workers is None else int(workers)
  executor = build.make_executor(min(workers, len(specs)))
  try:
    return build.run(output_dir, config, specs, options, executor)
  finally:
    build.shutdown(executor)


def summarize(manifest: dict) -> str:
  """A few human lines: files, hours and shards per split; skips by reason."""
  lines = []
  for split in SPLITS:
    info = manifest["splits"][split]
    lines.append(f"{split}: {info['files']} files, "
                 f"{info['seconds'] / 3600:.3f} h, {len(info['shards'])} "
                 f"shards, {info['bytes'] / 1e6:.1f} MB")
  reasons = collections.Counter(s["reason"] for s in manifest["skipped"])
  counts = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
  lines.append(f"skipped: {len(manifest['skipped'])} files"
               + (f" ({counts})" if counts else ""))
  for skip in manifest["skipped"]:
    lines.append(f"  skipped {skip['path']}: {skip['reason']}: "
                 f"{skip['detail']}")
  return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def _define_flags():
  from absl import flags
  defaults = VocoderConfig()
  flags.DEFINE_string("input_dir", None, "Folder of audio files (recursive) "
                      "or a MusicNet folder (train_data/, test_data/).")
  flags.DEFINE_string("output_dir", None, "Where the shards and "
                      "manifest.json go.")
  flags.DEFINE_integer("workers", default_workers(), "Decoding processes; "
                       "<= 1 decodes in this process.")
  flags.DEFINE_float("holdout_fraction", 0.05, "Fraction of files (by content "
                     "hash) held out as the test split; not for MusicNet.")
  flags.DEFINE_float("synthetic", 0.0, "If > 0, write this many minutes of "
                     "the built-in synthetic music instead of --input_dir.")
  flags.DEFINE_integer("seed", 0, "Seed of the synthetic music.")
  flags.DEFINE_float("shard_mb", 100.0, "Target shard size, MB (10**6 B).")
  flags.DEFINE_float("record_seconds", 10.0, "Audio per TFRecord record, s.")
  flags.DEFINE_integer("sample_rate", defaults.sample_rate, "Output rate, Hz.")
  flags.DEFINE_integer("window", defaults.window, "Training window, samples: "
                       "shorter files are skipped.")
  flags.mark_flag_as_required("output_dir")
  return flags.FLAGS


def main(argv):
  from absl import app
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  flag_values = _FLAGS
  config = VocoderConfig(sample_rate=flag_values.sample_rate,
                         window=flag_values.window)
  shard_bytes = int(flag_values.shard_mb * 1e6)
  try:
    if flag_values.synthetic > 0:
      from tfvocoder.data import music
      manifest = music.write_synthetic_dataset(
          flag_values.output_dir, config, flag_values.synthetic,
          seed=flag_values.seed, workers=flag_values.workers,
          holdout_fraction=flag_values.holdout_fraction,
          shard_bytes=shard_bytes, record_seconds=flag_values.record_seconds)
    elif not flag_values.input_dir:
      raise app.UsageError("give --input_dir (or --synthetic=MINUTES)")
    else:
      manifest = prepare_dir(
          flag_values.input_dir, flag_values.output_dir, config,
          workers=flag_values.workers,
          holdout_fraction=flag_values.holdout_fraction,
          shard_bytes=shard_bytes, record_seconds=flag_values.record_seconds)
  except PrepareError as e:
    raise app.UsageError(str(e))
  print(f"prepared {os.path.abspath(flag_values.output_dir)}")
  print(summarize(manifest))


if __name__ == "__main__":
  from absl import app as _app
  _FLAGS = _define_flags()
  _app.run(main)
