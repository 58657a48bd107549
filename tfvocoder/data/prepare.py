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

Errors: a bad input or output dir (missing, a file, not writable, prepared
with other options) is one line `prepare: error: ...` naming it, exit
status 1, found before any file is hashed. Odd files (dangling or looping
symlinks, non-UTF-8 names, shown with `\\x` escapes) are skipped with
their reason like unreadable ones; directory symlinks are followed, each
real dir once.
"""

import collections
import os
import sys

from absl import app, flags

from tfvocoder import cli
from tfvocoder.config import VocoderConfig
from tfvocoder.data import build, sources, worker_pool


def summarize(manifest: dict) -> str:
  """A few human lines: files, hours and shards per split; skips by reason."""
  lines = []
  for split in build.SPLITS:
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


def _define_flags():
  """Defined only when run as a program: importers keep their own flags."""
  defaults = VocoderConfig()
  flags.DEFINE_string("input_dir", None, "Folder of audio files (recursive) "
                      "or a MusicNet folder (train_data/, test_data/).")
  flags.DEFINE_string("output_dir", None, "Where the shards and "
                      "manifest.json go.")
  flags.DEFINE_integer("workers", worker_pool.default_workers(), "Decoding "
                       "processes; <= 1 decodes in this process.")
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  flag_values = flags.FLAGS
  config = VocoderConfig(sample_rate=flag_values.sample_rate,
                         window=flag_values.window)
  shard_bytes = int(flag_values.shard_mb * 1e6)
  try:
    if flag_values.synthetic > 0:
      manifest = sources.write_synthetic_dataset(
          flag_values.output_dir, config, flag_values.synthetic,
          seed=flag_values.seed, workers=flag_values.workers,
          holdout_fraction=flag_values.holdout_fraction,
          shard_bytes=shard_bytes, record_seconds=flag_values.record_seconds)
    elif not flag_values.input_dir:
      raise app.UsageError("give --input_dir (or --synthetic=MINUTES)")
    else:
      manifest = sources.prepare_dir(
          flag_values.input_dir, flag_values.output_dir, config,
          workers=flag_values.workers,
          holdout_fraction=flag_values.holdout_fraction,
          shard_bytes=shard_bytes, record_seconds=flag_values.record_seconds)
  except build.PrepareError as e:
    print(f"prepare: error: {build.safe_text(str(e))}", file=sys.stderr)
    return 1
  print(f"prepared {build.safe_text(os.path.abspath(flag_values.output_dir))}")
  print(summarize(manifest))
  return 0


if __name__ == "__main__":
  cli.setup_logging()
  _define_flags()
  app.run(main)
