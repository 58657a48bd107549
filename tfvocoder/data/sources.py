"""What to prepare: audio file trees, MusicNet folders, synthetic music.

A tree of .wav/.flac/.ogg/.mp3 files gets a deterministic held-out "test"
split: a file goes to test when the SHA-1 of its bytes falls in the first
`holdout_fraction` of the hash space, so re-runs, renames and copies agree.
A MusicNet folder (with `train_data/` and `test_data/`) keeps its own split.
The synthetic dataset is `minutes` of `music.generate_music` in pieces of
about `PIECE_SECONDS`, the last ones held out as "test".

Each turns into source specs (see `build.py`) of a kind, "file" or
"synthetic", that `load_source` reads in `build`'s worker processes; this
module, like those, never imports TensorFlow.
"""

import errno
import hashlib
import os
import stat
from typing import Iterator, List, Optional, Set, Tuple

from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io, build, music, worker_pool
from tfvocoder.data.build import PrepareError

PIECE_SECONDS = 20.0
DEFAULT_MINUTES = 5.0


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


def _log_walk_error(error: OSError):
  logging.warning("cannot list %s (%s): its files are not prepared",
                  build.safe_text(str(error.filename)),
                  error.strerror or error)


def _walk(tops: List[str], seen: Set[str], skip: Optional[str]
          ) -> Iterator[Tuple[int, str, List[str]]]:
  """`os.walk` of each top in sorted order, then of the dir symlinks met.

  Yields (index of the top it is under, dirpath, sorted file names).
  Hidden dirs and the real dir `skip` are not walked. `seen` (real paths,
  updated) makes every real dir walked once: at its own place when it is
  in the tree, else through the first link to it; a link to an ancestor or
  to a dir walked already is logged and not followed.
  """
  links = []
  for i, top in enumerate(tops):
    yield from _walk_real(i, top, seen, skip, links)
  while links:
    i, link = links.pop(0)
    if _first_visit(link, os.path.realpath(link), seen):
      yield from _walk_real(i, link, seen, skip, links)


def _walk_real(i: int, top: str, seen: Set[str], skip: Optional[str],
               links: List[Tuple[int, str]]
               ) -> Iterator[Tuple[int, str, List[str]]]:
  """`_walk` of one top without following links; appends those to `links`."""
  for dirpath, dirnames, filenames in os.walk(top, onerror=_log_walk_error):
    kept = []
    for d in sorted(dirnames):
      path = os.path.join(dirpath, d)
      real = os.path.realpath(path)
      if d.startswith(".") or real == skip:
        continue
      if os.path.islink(path):
        links.append((i, path))
      elif _first_visit(path, real, seen):
        kept.append(d)
    dirnames[:] = kept
    yield i, dirpath, sorted(filenames)


def _first_visit(path: str, real: str, seen: Set[str]) -> bool:
  """Whether the real dir `real` (reached as `path`) is new; marks it seen."""
  if real in seen:
    logging.info("not walking %s: it is %s, walked already",
                 build.safe_text(path), build.safe_text(real))
    return False
  seen.add(real)
  return True


def find_audio(input_dir: str, exclude: Optional[str] = None
               ) -> Tuple[str, List[Tuple[str, Optional[str]]]]:
  """(layout, [(relative path, split or None)]) of the audio under a dir.

  layout is "musicnet" when `train_data/` and `test_data/` exist (only
  they are walked, and give the split), else "tree" (split None). Hidden
  files and dirs, and the dir `exclude` (the output dir), are not walked.
  Directory symlinks are followed, each real dir walked once. Every entry
  with an audio name is listed, even a broken link: `file_specs` says why
  it cannot be used.
  """
  if not os.path.isdir(input_dir):
    raise PrepareError(f"input dir {input_dir!r} does not exist or is not a "
                       "directory")
  musicnet = all(os.path.isdir(os.path.join(input_dir, d))
                 for d in ("train_data", "test_data"))
  roots = ([("train_data", "train"), ("test_data", "test")] if musicnet
           else [("", None)])
  tops = [os.path.join(input_dir, sub) for sub, _ in roots]
  seen = {os.path.realpath(d) for d in [input_dir] + tops}
  skip = os.path.realpath(exclude) if exclude else None
  found = []
  for i, dirpath, filenames in _walk(tops, seen, skip):
    for name in filenames:
      if audio_io.is_audio_path(name) and not name.startswith("."):
        path = os.path.join(dirpath, name)
        found.append((os.path.relpath(path, input_dir), roots[i][1]))
  if not found:
    kinds = ", ".join(audio_io.AUDIO_EXTENSIONS)
    raise PrepareError(f"no audio files ({kinds}) under {input_dir!r}")
  return ("musicnet" if musicnet else "tree"), found


def file_problem(path: str, rel: str) -> Optional[Tuple[str, str]]:
  """(skip code, detail) if the file cannot even be opened, else None.

  Catches what would stop hashing: a name that is not UTF-8 (it could not
  be recorded), a dangling symlink, a symlink loop, and anything but a
  regular file (a FIFO would block).
  """
  if build.safe_text(rel) != rel:
    return ("bad_name", "file name is not valid UTF-8 (shown with \\x "
            "escapes); rename it")
  try:
    mode = os.stat(path).st_mode
  except OSError as e:
    if e.errno == errno.ELOOP:
      return "link_loop", "symbolic link loop (links lead back to themselves)"
    if os.path.islink(path):
      return ("dangling_link", "symbolic link to missing "
              f"{build.safe_text(os.readlink(path))!r}")
    return "unreadable", f"cannot stat ({e.strerror or e})"
  if not stat.S_ISREG(mode):
    return "not_a_file", "not a regular file"
  return None


def file_specs(input_dir: str, found: List[Tuple[str, Optional[str]]],
               holdout_fraction: float, executor=None) -> List[dict]:
  """Source specs of `find_audio`'s files, hashed (in `executor`) and split.

  A file without a split goes to `holdout_split` of its content's SHA-1
  (of its relative path when it cannot be read). A file with a
  `file_problem` is not hashed: its spec carries `skip` [code, detail],
  and its manifest name is `build.safe_text` of its path.
  """
  paths = [os.path.join(input_dir, rel) for rel, _ in found]
  problems = [file_problem(path, rel) for path, (rel, _) in zip(paths, found)]
  good = [path for path, problem in zip(paths, problems) if problem is None]
  logging.info("hashing %d files", len(good))
  digests = dict(zip(good, worker_pool.ordered_map(executor, _sha1_file, good)))
  specs = []
  for (rel, split), path, problem in zip(found, paths, problems):
    name = build.safe_text(rel)
    digest = digests.get(path)
    key = digest or hashlib.sha1(name.encode()).hexdigest()
    spec = dict(kind="file", name=name, path=path, sha1=digest,
                bytes=0 if problem else _size(path),
                split=split or holdout_split(key, holdout_fraction))
    if problem:
      spec["skip"] = list(problem)
    specs.append(spec)
  return specs


def _size(path: str) -> int:
  try:
    return os.path.getsize(path)
  except OSError:
    return 0   # the decode step will skip it with its reason


def synthetic_specs(minutes: float, seed: int, sample_rate: int,
                    holdout_fraction: float = 0.05,
                    piece_seconds: float = PIECE_SECONDS) -> List[dict]:
  """Source specs: equal pieces of about `piece_seconds`.

  The last `round(pieces * holdout_fraction)` pieces (at least one when
  there are two or more) form the "test" split.
  """
  total = minutes * 60.0
  pieces = max(1, int(round(total / piece_seconds)))
  tests = min(pieces - 1, max(int(round(pieces * holdout_fraction)),
                              1 if pieces > 1 else 0))
  seconds = total / pieces
  return [dict(kind="synthetic", name=f"synthetic/piece-{i:04d}", index=i,
               seed=int(seed), seconds=seconds,
               bytes=int(seconds * sample_rate) * 2,
               split="test" if i >= pieces - tests else "train")
          for i in range(pieces)]


def load_source(spec: dict, config: VocoderConfig) -> audio_io.DecodedAudio:
  """A spec's audio at `config.sample_rate` (`build.Loader`).

  Raises `audio_io.SkipFile` for a file that cannot be used.
  """
  if spec.get("skip"):
    raise audio_io.SkipFile(*spec["skip"])
  if spec["kind"] == "synthetic":
    audio = music.generate_music(spec["seconds"], config.sample_rate,
                                 seed=(spec["seed"], spec["index"]))
    return audio_io.DecodedAudio(audio, config.sample_rate, 1)
  return audio_io.decode(spec["path"], config)


def prepare_dir(input_dir: str, output_dir: str, config: VocoderConfig,
                workers: Optional[int] = None, holdout_fraction: float = 0.05,
                shard_bytes: int = 100 * 10 ** 6,
                record_seconds: float = 10.0) -> dict:
  """Prepare every audio file under `input_dir`; returns the manifest dict.

  Raises PrepareError (before any work) for a missing or audio-less input
  dir, an output dir that cannot be created or written, or one prepared
  with different options.
  """
  if not 0.0 <= holdout_fraction < 1.0:
    raise PrepareError(f"holdout_fraction={holdout_fraction} must be in "
                       "[0, 1)")
  input_dir = os.path.abspath(input_dir)
  output_dir = os.path.abspath(output_dir)
  layout, found = find_audio(input_dir, exclude=output_dir)
  options = build.dataset_options(
      config, record_seconds, shard_bytes, layout=layout, input_dir=input_dir,
      holdout_fraction=(None if layout == "musicnet"
                        else float(holdout_fraction)))
  done = build.check_output(output_dir, options)
  if done is not None:
    logging.info("%s is already complete", output_dir)
    return done
  build.ensure_output_dir(output_dir)   # before hours of hashing
  workers = worker_pool.default_workers() if workers is None else int(workers)
  executor = worker_pool.make_executor(workers)
  try:
    specs = file_specs(input_dir, found, holdout_fraction, executor)
    return build.run(output_dir, config, specs, options, load_source,
                     executor)
  finally:
    worker_pool.shutdown(executor)


def prepare_sources(output_dir: str, config: VocoderConfig, specs: List[dict],
                    options: dict, workers: Optional[int] = None) -> dict:
  """Prepare an explicit list of source specs (used for synthetic music)."""
  if build.check_output(os.path.abspath(output_dir), options) is not None:
    return build.run(output_dir, config, specs, options, load_source)  # done
  workers = worker_pool.default_workers() if workers is None else int(workers)
  executor = worker_pool.make_executor(min(workers, len(specs)))
  try:
    return build.run(output_dir, config, specs, options, load_source,
                     executor)
  finally:
    worker_pool.shutdown(executor)


def write_synthetic_dataset(output_dir: str, config: VocoderConfig,
                            minutes: float, seed: int = 0,
                            workers: Optional[int] = None,
                            holdout_fraction: float = 0.05,
                            shard_bytes: int = 100 * 10 ** 6,
                            record_seconds: float = 10.0) -> dict:
  """Write `minutes` of synthetic music as shards; returns the manifest.

  Idempotent: a complete dir with the same options is left untouched.
  """
  options = build.dataset_options(
      config, record_seconds, shard_bytes, layout="synthetic",
      minutes=float(minutes), seed=int(seed), piece_seconds=PIECE_SECONDS,
      holdout_fraction=float(holdout_fraction),
      generator=music.GENERATOR_VERSION)
  specs = synthetic_specs(minutes, seed, config.sample_rate, holdout_fraction)
  return prepare_sources(output_dir, config, specs, options, workers)


def default_synthetic_dir(config: VocoderConfig, minutes: float,
                          seed: int = 0) -> str:
  """A per-user cache dir ($XDG_CACHE_HOME or ~/.cache) for these options."""
  cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
      os.path.expanduser("~"), ".cache")
  name = (f"synthetic-v{music.GENERATOR_VERSION}-sr{config.sample_rate}-"
          f"w{config.window}-{minutes:g}min-seed{seed}")
  return os.path.join(cache, "tfvocoder", name)


def ensure_synthetic_dataset(output_dir: Optional[str], config: VocoderConfig,
                             minutes: float = DEFAULT_MINUTES, seed: int = 0,
                             workers: Optional[int] = None) -> str:
  """Make sure `minutes` of synthetic shards exist; returns their dir.

  `output_dir` None means `default_synthetic_dir(config, minutes, seed)`.
  The first call writes the shards (seconds per minute of audio on one
  core); later calls only read the manifest. Train on
  `pipeline.shard_pattern(dir, "train")`. This is what `train.py` uses
  when no `--data_dir` is given.
  """
  if output_dir is None:
    output_dir = default_synthetic_dir(config, minutes, seed)
  write_synthetic_dataset(output_dir, config, minutes, seed=seed,
                          workers=workers)
  return os.path.abspath(output_dir)
