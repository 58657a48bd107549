"""The resumable engine behind `prepare`: sources in, shards + manifest out.

`run(output_dir, config, specs, options, load, executor)` calls
`load(spec, config)` for every source spec in a spawn process pool that
never imports TensorFlow (`_process` returns int16 PCM or a skip reason),
consumes the results in plan order (train sources, then test, each sorted
by name) and writes them in this process alone with `shards.ShardWriter`,
so shards and manifest do not depend on worker timing. What the sources
are, and how one is read, is `sources.py`'s business, not this module's.

Why TFRecords are written only here: the TFRecord framing needs CRC32C and
the records are `tf.train.Example` protos; writing them by hand would need
a CRC32C package (pure Python is far too slow for 100 MB shards) and a
protobuf schema of our own. Decoding and resampling are the expensive part
and run in the workers; one writer keeps up with them easily.

Resume: each completed shard is renamed from its temp name and recorded in
the journal (`JOURNAL`: shards done, files and skips so far, and the next
file/record). A re-run loads it, checks the plan and the finished shards
are unchanged, deletes leftovers, and restarts at the first unwritten
record; the manifest then equals an uninterrupted run's.

A source spec is a dict with at least name (its manifest path), split
("train" or "test") and bytes (its size, for the ETA); the optional sha1
(the content digest, recorded in the manifest) and seconds also identify
it in the plan. Everything else in it is for `load`.
"""

import functools
import hashlib
import os
import re
import tempfile
import time
from typing import Callable, Dict, List, Optional

from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_write_json, output_dir_problem
from tfvocoder.data import audio_io, shards, worker_pool

MANIFEST = "manifest.json"
JOURNAL = ".prepare-progress.json"
FORMAT = "tfvocoder-pcm16-tfrecord-v1"
SPLITS = ("train", "test")

# `load(spec, config)`: one source's audio, or raises `audio_io.SkipFile`.
# Runs in the worker processes, so it must be a picklable module-level
# function whose module does not import TensorFlow.
Loader = Callable[[dict, VocoderConfig], audio_io.DecodedAudio]


class PrepareError(ValueError):
  """A problem with the inputs or the output dir, raised before any work."""


def safe_text(text: str) -> str:
  """`text` as valid UTF-8 text: undecodable file-name bytes as `\\xNN`.

  A non-UTF-8 file name reaches Python with lone surrogates (PEP 383),
  which cannot be printed, hashed as UTF-8 or stored in a record; this
  form can, and equals `text` for any valid name.
  """
  try:
    raw = text.encode("utf-8", "surrogateescape")
  except UnicodeEncodeError:   # surrogates not from a file name
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
  return raw.decode("utf-8", "backslashreplace")


def dataset_options(config: VocoderConfig, record_seconds: float,
                    shard_bytes: int, **extra) -> dict:
  """Everything the shards depend on; a different dict = a different dataset."""
  record = int(round(record_seconds * config.frame_rate))
  record_samples = max(record * config.hop_length, config.window)
  options = dict(format=FORMAT, sample_rate=config.sample_rate,
                 hop_length=config.hop_length, window=config.window,
                 silence_rms=config.silence_rms, shard_bytes=int(shard_bytes),
                 record_samples=record_samples)
  options.update(extra)
  return options


# ---------------------------------------------------------------------------
# Worker side (no TensorFlow)
# ---------------------------------------------------------------------------
def _process(spec: dict, config: VocoderConfig, load: Loader) -> dict:
  """Load and validate one source; never raises."""
  try:
    decoded = load(spec, config)
    audio_io.validate(decoded.audio, config)
  except audio_io.SkipFile as e:
    return {"reason": e.code, "detail": safe_text(e.detail)}
  except Exception as e:  # bad input must never stop the run
    return {"reason": "error", "detail": safe_text(" ".join(
        f"{type(e).__name__}: {e}".split()))}
  return {"pcm": audio_io.to_pcm16(decoded.audio),
          "source_rate": decoded.source_rate, "channels": decoded.channels}


# ---------------------------------------------------------------------------
# Entry
# ---------------------------------------------------------------------------
def _order(specs: List[dict]) -> List[dict]:
  return sorted(specs, key=lambda s: (SPLITS.index(s["split"]), s["name"]))


def ensure_output_dir(output_dir: str) -> None:
  """Create `output_dir` if needed and check that a file can be written.

  Raises PrepareError (one line naming the path) when it cannot: a file
  where it or a parent dir should be, no permission, a read-only disk.
  """
  problem = output_dir_problem(output_dir)
  if problem:
    raise PrepareError(problem)
  try:
    os.makedirs(output_dir, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=output_dir, prefix=".prepare-probe.",
                                 suffix=".tmp")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise PrepareError(f"output dir {output_dir!r} cannot be created or "
                       f"written ({e.strerror or e})") from e


def _read_own_json(path: str) -> dict:
  """A manifest or journal we wrote; PrepareError naming it if unreadable."""
  try:
    value = shards.read_json(path)
  except (OSError, ValueError) as e:
    raise PrepareError(f"{path!r} is unreadable or not JSON ({e}); delete "
                       "it (or its whole dir) and run again") from e
  if not isinstance(value, dict) or "options" not in value:
    raise PrepareError(f"{path!r} is not a prepare manifest/journal; delete "
                       "it (or its whole dir) and run again")
  return value


def check_output(output_dir: str, options: dict) -> Optional[dict]:
  """The finished manifest if the dir is complete; raises if it differs."""
  path = os.path.join(output_dir, MANIFEST)
  for name in (MANIFEST, JOURNAL):
    existing = os.path.join(output_dir, name)
    if os.path.exists(existing):
      previous = _read_own_json(existing)["options"]
      if previous != options:
        diff = ", ".join(
            f"{k}: {previous.get(k)!r} there vs {options.get(k)!r} now"
            for k in sorted(set(previous) | set(options))
            if previous.get(k) != options.get(k))
        raise PrepareError(
            f"output dir {output_dir!r} holds a dataset prepared with a "
            f"different config ({diff}); use another --output_dir or delete "
            "that one")
  if not os.path.exists(path):
    return None
  if os.path.exists(os.path.join(output_dir, JOURNAL)):  # killed at the end
    os.remove(os.path.join(output_dir, JOURNAL))
  return _read_own_json(path)


def run(output_dir: str, config: VocoderConfig, specs: List[dict],
        options: dict, load: Loader, executor=None) -> dict:
  """Write `specs` as shards + manifest in `output_dir`; returns the manifest.

  `load`: see `Loader`. `executor`: None (load here) or
  `worker_pool.make_executor(workers)`'s result. A dir already complete
  with the same `options` is returned untouched; different options raise
  PrepareError before any work.
  """
  output_dir = os.path.abspath(output_dir)
  done = check_output(output_dir, options)
  if done is not None:
    logging.info("%s is already complete", output_dir)
    return done
  return _run(output_dir, config, _order(specs), options, load, executor)


# ---------------------------------------------------------------------------
# Writing, journal, resume
# ---------------------------------------------------------------------------
class _Progress:
  """Logs files done, hours of audio and an ETA at most every `interval` s."""

  def __init__(self, specs: List[dict], interval: float = 10.0):
    self.total_files = len(specs)
    self.total_bytes = max(1, sum(s["bytes"] for s in specs))
    self.files = self.bytes = self.skipped = 0
    self.seconds = 0.0
    self.start = self.last = time.monotonic()
    self.interval = interval

  def update(self, spec: dict, seconds: float, skipped: bool,
             force: bool = False):
    self.files += 1
    self.bytes += spec["bytes"]
    self.seconds += seconds
    self.skipped += int(skipped)
    now = time.monotonic()
    if force or now - self.last >= self.interval:
      self.last = now
      rate = self.bytes / max(now - self.start, 1e-9)
      eta = (self.total_bytes - self.bytes) / max(rate, 1e-9)
      logging.info("prepare: %d/%d files, %.2f h of audio, %d skipped, "
                   "ETA %dm%02ds", self.files, self.total_files,
                   self.seconds / 3600, self.skipped, eta // 60, eta % 60)


def _plan_digest(specs: List[dict]) -> str:
  text = "\n".join(f"{s['name']}|{s['split']}|{s['bytes']}|{s.get('sha1')}|"
                   f"{s.get('seconds')}" for s in specs)
  return hashlib.sha1(text.encode()).hexdigest()


def _load_journal(output_dir: str, options: dict, digest: str) -> dict:
  path = os.path.join(output_dir, JOURNAL)
  if not os.path.exists(path):
    return dict(options=options, plan=digest, next_file=0, next_record=0,
                shards={s: [] for s in SPLITS}, files=[], skipped=[],
                current=None)
  journal = shards.read_json(path)
  if journal["plan"] != digest:
    raise PrepareError(f"the input changed since the interrupted run in "
                       f"{output_dir!r}; delete that dir and start again")
  for split, done in journal["shards"].items():
    for i, shard in enumerate(done):
      names = (shard["name"], shards.final_name(split, i, len(done)))
      sizes = [os.path.getsize(os.path.join(output_dir, n)) for n in names
               if os.path.exists(os.path.join(output_dir, n))]
      if sizes != [shard["bytes"]]:
        raise PrepareError(f"finished shard {shard['name']} in {output_dir!r} "
                           "is missing or changed; delete that dir and start "
                           "again")
  logging.info("resuming %s at file %d (record %d), %d shards kept",
               output_dir, journal["next_file"], journal["next_record"],
               sum(len(v) for v in journal["shards"].values()))
  return journal


# Shard temp/done files, `io_utils.atomic_path` temps of the two JSONs, and
# `ensure_output_dir`'s probe.
_LEFTOVER = re.compile(r"^(\.(%s)-\d{5}\.tfrecord\.tmp|(%s)-\d{5}\.tfrecord"
                      r"\.done|\.%s\.\w+\.tmp|\.%s\.\w+\.tmp"
                      r"|\.prepare-probe\.\w+\.tmp)$" % (
                          "|".join(SPLITS), "|".join(SPLITS),
                          re.escape(MANIFEST), re.escape(JOURNAL)))


def _clean_leftovers(output_dir: str, journal: dict):
  """Delete our temp files and the `.done` shards the journal does not know."""
  known = {s["name"] for done in journal["shards"].values() for s in done}
  for name in os.listdir(output_dir):
    if _LEFTOVER.match(name) and name not in known:
      logging.info("removing unfinished %s", name)
      os.remove(os.path.join(output_dir, name))


def _run(output_dir: str, config: VocoderConfig, specs: List[dict],
         options: dict, load: Loader, executor) -> dict:
  ensure_output_dir(output_dir)
  journal = _load_journal(output_dir, options, _plan_digest(specs))
  _clean_leftovers(output_dir, journal)
  writer = _JournaledWriter(output_dir, config, options, journal)
  todo = specs[journal["next_file"]:]
  progress = _Progress(todo)
  results = worker_pool.ordered_map(executor, _process, todo, config, load)
  for i, (spec, result) in enumerate(zip(todo, results),
                                     start=journal["next_file"]):
    seconds = writer.add(i, spec, result)
    progress.update(spec, seconds, skipped="reason" in result,
                    force=i + 1 == len(specs))
  writer.close()
  return _finish(output_dir, config, journal)


class _JournaledWriter:
  """Writes the sources' records in plan order and journals each shard.

  The journal records, with every finished shard, the file and record to
  resume at (`cursor`): always the first record not yet in a finished shard.
  """

  def __init__(self, output_dir: str, config: VocoderConfig, options: dict,
               journal: dict):
    self.output_dir = output_dir
    self.config = config
    self.options = options
    self.journal = journal
    self.cursor = {"file": journal["next_file"],
                   "record": journal["next_record"]}
    self.writer: Optional[shards.ShardWriter] = None

  def _on_shard_done(self, split: str, name: str, records: int, size: int):
    journal = self.journal
    journal["shards"][split].append(dict(name=name, records=records,
                                         bytes=size))
    journal["next_file"] = self.cursor["file"]
    journal["next_record"] = self.cursor["record"]
    atomic_write_json(os.path.join(self.output_dir, JOURNAL), journal)

  def _writer_for(self, split: str) -> shards.ShardWriter:
    if self.writer is None or self.writer.split != split:
      self.close()
      self.writer = shards.ShardWriter(
          self.output_dir, split, self.options["shard_bytes"],
          len(self.journal["shards"][split]),
          functools.partial(self._on_shard_done, split))
    return self.writer

  def close(self):
    if self.writer is not None:
      self.writer.close()

  def add(self, i: int, spec: dict, result: dict) -> float:
    """Source number `i` (plan order): journal its skip or write its records.

    Returns its duration, s (0 when skipped).
    """
    writer = self._writer_for(spec["split"])
    if "reason" in result:
      self.journal["skipped"].append(dict(
          path=spec["name"], split=spec["split"], reason=result["reason"],
          detail=result["detail"]))
      self.cursor.update(file=i + 1, record=0)
      return 0.0
    self._write(writer, i, spec, result)
    return len(result["pcm"]) / self.config.sample_rate

  def _write(self, writer: shards.ShardWriter, i: int, spec: dict,
             result: dict):
    """Writes the records not yet written (all but after a resume)."""
    config, journal, cursor = self.config, self.journal, self.cursor
    pcm = result["pcm"]
    spans = shards.record_spans(len(pcm), self.options["record_samples"],
                                config.hop_length)
    entry = journal["current"] if cursor["record"] else dict(
        path=spec["name"], split=spec["split"],
        seconds=round(len(pcm) / config.sample_rate, 6), samples=len(pcm),
        source_rate=result["source_rate"], channels=result["channels"],
        sha1=spec.get("sha1"), records=len(spans), shards=[])
    for j in range(cursor["record"], len(spans)):
      start, stop = spans[j]
      if writer.current_shard not in entry["shards"]:
        entry["shards"].append(writer.current_shard)
      if j + 1 == len(spans):
        journal["files"].append(entry)
        journal["current"] = None
        cursor.update(file=i + 1, record=0)
      else:
        journal["current"] = entry
        cursor.update(file=i, record=j + 1)
      writer.write(writer.serialize(pcm[start:stop], config.sample_rate,
                                    spec["name"], start))


def _finish(output_dir: str, config: VocoderConfig, journal: dict) -> dict:
  """Give shards their final names, write manifest.json, drop the journal."""
  rename: Dict[str, str] = {}
  splits = {}
  for split in SPLITS:
    done = journal["shards"][split]
    for i, shard in enumerate(done):
      final = shards.final_name(split, i, len(done))
      rename[shard["name"]] = final
      source = os.path.join(output_dir, shard["name"])
      if os.path.exists(source):
        os.replace(source, os.path.join(output_dir, final))
    files = [f for f in journal["files"] if f["split"] == split]
    splits[split] = dict(
        shards=[rename[s["name"]] for s in done], files=len(files),
        seconds=round(sum(f["seconds"] for f in files), 3),
        records=sum(s["records"] for s in done),
        bytes=sum(s["bytes"] for s in done))
  for entry in journal["files"]:
    entry["shards"] = [rename[name] for name in entry["shards"]]
  manifest = dict(format=FORMAT, config=config.to_dict(),
                  options=journal["options"], splits=splits,
                  files=journal["files"], skipped=journal["skipped"])
  path = os.path.join(output_dir, MANIFEST)
  atomic_write_json(path, manifest)
  if os.path.exists(os.path.join(output_dir, JOURNAL)):   # none if no shards
    os.remove(os.path.join(output_dir, JOURNAL))
  if not journal["files"]:
    logging.warning("no usable audio: all %d sources were skipped",
                    len(journal["skipped"]))
  return shards.read_json(path)   # JSON types, as a later run reads it
