"""Vocoding files: inputs -> log-mels -> 16-bit wav files (the library
behind `python -m tfvocoder.vocode`, whose docstring gives the contract).

An input is an audio file or a `.npy` log-mel (`inference.inputs`). Each
becomes
`<output_dir>/<name>.wav` at the model's sample rate, streamed through
`Vocoder.stream` (live: pushed `LIVE_PUSH_FRAMES` frames at a time into a
`StreamingVocoder`) into a temporary file renamed when complete
(`tfvocoder.io_utils.atomic_path`). A bad input is an `InputError` whose
one-line message says what was expected; `vocode_files` reports it as that
input's `Outcome` and goes on with the others.

Timing: `load_vocoder` opens the model and warms it up (`warm_up`: the
first calls of a model are slow, a SavedModel's by far), reported once as
a `Loaded`; each `Outcome` times only the vocoding (the model calls and
stitching, not decoding the input or writing the wav), so its x real time
is the model's speed.

Before any work `plan_outputs` names every output (`output_names`: unique,
inputs with the same name get numbered outputs) and refuses the run, with an
`OutputError` of one line per problem, when the output dir cannot hold files
(`output_dir_problem`), an output would replace an input, or an output
exists and `overwrite` is off.
"""

import dataclasses
import itertools
import os
import time
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

from absl import logging
import numpy as np
import soundfile as sf

from tfvocoder.data import audio_io
from tfvocoder.inference.inputs import InputError, load_input
from tfvocoder.inference.runtime import ModelLoadError
from tfvocoder.inference.streaming import StreamingVocoder, stream_mel
from tfvocoder.inference.vocoder import Vocoder
from tfvocoder.io_utils import atomic_path, output_dir_problem

LIVE_PUSH_FRAMES = 16              # mel frames per push in live mode
# What vocodes: a `Vocoder` (whole inputs), or a `StreamingVocoder` (live).
Engine = Union[Vocoder, StreamingVocoder]


class ModelError(RuntimeError):
  """The model cannot be loaded; the message is one line naming it."""


class OutputError(RuntimeError):
  """The outputs cannot be written as asked (nothing was vocoded).

  Attributes:
    problems: one line per problem, each naming the file or dir.
  """

  def __init__(self, problems: Sequence[str]):
    super().__init__("\n".join(problems))
    self.problems = list(problems)


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What became of one input.

  Attributes:
    path: the input.
    target: the wav written (None on error).
    seconds: audio seconds written.
    elapsed: wall seconds spent vocoding (model calls and stitching; not
      decoding the input, nor writing the wav).
    error: one line (None on success).
  """
  path: str
  target: Optional[str] = None
  seconds: float = 0.0
  elapsed: float = 0.0
  error: Optional[str] = None

  @property
  def message(self) -> str:
    """The line `vocode` prints: the error (stderr) or the x real time."""
    if self.error is not None:
      return f"vocode: error: {self.path}: {self.error}"
    return (f"{self.path} -> {self.target}: {self.seconds:.2f} s of audio in "
            f"{self.elapsed:.2f} s "
            f"({self.seconds / max(self.elapsed, 1e-9):.1f}x real time)")


@dataclasses.dataclass(frozen=True)
class Loaded:
  """The model, opened and warmed up (`load_vocoder`).

  Attributes:
    model: the file or dir opened (a dir holding both: its TFLite file).
    seconds: wall seconds opening it (a SavedModel: TensorFlow's import
      included).
    warm_up_seconds: wall seconds of its first calls (`warm_up`).
    latency_frames: live mode: frames the audio lags the pushed mel (the
      `StreamingVocoder` latency rule); None otherwise.
    latency_ms: `latency_frames` in milliseconds of audio.
  """
  model: str
  seconds: float
  warm_up_seconds: float
  latency_frames: Optional[int] = None
  latency_ms: Optional[float] = None

  @property
  def lines(self) -> List[str]:
    """What `vocode` prints before the inputs: the load, and live, the
    latency."""
    lines = [f"loaded {self.model} in {self.seconds:.2f} s (warm-up "
             f"{self.warm_up_seconds:.2f} s)"]
    if self.latency_frames is not None:
      lines.append(f"latency: {self.latency_frames} frames = "
                   f"{self.latency_ms:.0f} ms (live, pushes of "
                   f"{LIVE_PUSH_FRAMES} frames)")
    return lines


def output_path(path: str, output_dir: str, used: set) -> str:
  """`output_dir/<name>.wav` for input `path`, unique among the names in
  `used` (the name chosen is added to it): `<name>` is the input's base name
  without its extension; on a clash, with it (song.flac -> song.flac.wav);
  then `<name>-2`, `<name>-3`, ... (a/x.npy, b/x.npy, c/x.npy -> x.wav,
  x.npy.wav, x-2.wav)."""
  stem = os.path.splitext(os.path.basename(path))[0]
  candidates = itertools.chain([stem, os.path.basename(path)],
                               (f"{stem}-{n}" for n in itertools.count(2)))
  name = next(c for c in candidates if c not in used)
  used.add(name)
  return os.path.join(output_dir, name + ".wav")


def _file_ids(path: str) -> set:
  """What identifies file `path`: its resolved path and, if it exists, its
  (device, inode) (hard links, case-insensitive disks)."""
  ids = {os.path.realpath(path)}
  try:
    info = os.stat(path)
  except OSError:
    return ids
  return ids | {(info.st_dev, info.st_ino)}


def plan_outputs(inputs: Sequence[str], output_dir: str,
                 overwrite: bool = False) -> List[str]:
  """The output of each input (`output_path`), checked before any work.

  Args:
    inputs: the input paths, in order.
    output_dir: where the wav files go.
    overwrite: replace existing output files (never an input).
  Returns:
    the target `.wav` path of each input.
  Raises:
    OutputError: one line per problem: the output dir cannot be written
      (`output_dir_problem`), an output would replace an input (any of
      them), or an output exists and `overwrite` is off.
  """
  problem = output_dir_problem(output_dir)
  if problem:
    raise OutputError([problem])
  used, problems, input_ids = set(), [], {}
  for path in inputs:
    for key in _file_ids(path):
      input_ids.setdefault(key, path)
  targets = [output_path(path, output_dir, used) for path in inputs]
  for path, target in zip(inputs, targets):
    clobbered = [input_ids[k] for k in _file_ids(target) if k in input_ids]
    if clobbered:
      what = ("is the input itself" if clobbered[0] == path
              else f"would replace the input {clobbered[0]}")
      problems.append(f"{path}: its output {target} {what}; choose another "
                      "--output_dir (no flag replaces an input)")
    elif os.path.isdir(target):
      problems.append(f"{path}: output {target} is a directory")
    elif os.path.lexists(target) and not overwrite:
      problems.append(f"{path}: output {target} exists; pass --overwrite to "
                      "replace it")
  if problems:
    raise OutputError(problems)
  for path, target in zip(inputs, targets):
    stem = os.path.splitext(os.path.basename(path))[0]
    if os.path.basename(target) != stem + ".wav":
      logging.info("%s -> %s (another input has the same name)", path, target)
  return targets


def audio_blocks(vocoder: Engine, mel: np.ndarray,
                 progress: Optional[Callable[[int, int], None]] = None
                 ) -> Iterator[np.ndarray]:
  """The float32 audio of `mel` `[frames, n_mels]` in consecutive blocks.

  Args:
    vocoder: a `Vocoder` (`Vocoder.stream`), or a `StreamingVocoder`: a new
      live stream (it is reset) pushed `LIVE_PUSH_FRAMES` frames at a time
      (`stream_mel`; the same audio as `Vocoder(path, live=True)`).
    mel: the log-mel (e.g. memory-mapped).
    progress: called with (frames done, total frames).
  """
  if not isinstance(vocoder, StreamingVocoder):
    yield from vocoder.stream(mel, progress=progress)
    return
  vocoder.reset()
  for block in stream_mel(vocoder, mel, LIVE_PUSH_FRAMES):
    if progress is not None:
      progress(vocoder.frames_pushed, len(mel))
    yield block


def write_wav(vocoder: Engine, mel: np.ndarray, target: str, label: str,
              progress_seconds: float = 30.0) -> Tuple[float, float]:
  """Streams the vocoded `[frames, n_mels]` mel into `target` as 16-bit PCM,
  atomically (`audio_blocks`).

  Args:
    vocoder: what vocodes (`Engine`).
    mel: the log-mel.
    target: the wav file.
    label: names the input in progress lines, logged every 10 % for inputs
      of `progress_seconds` seconds of audio or more.
    progress_seconds: see `label`.
  Returns:
    (seconds of audio, wall seconds spent vocoding: producing the blocks,
    not writing them).
  """
  config = vocoder.config
  seconds = len(mel) / config.frame_rate
  marks = set()

  def progress(done, total):
    tenth = 10 * done // total
    if seconds >= progress_seconds and tenth not in marks:
      marks.add(tenth)
      logging.info("%s: %d%% of %.1f s", label, 10 * tenth, seconds)

  blocks, busy = audio_blocks(vocoder, mel, progress), 0.0
  with atomic_path(target) as tmp:
    with sf.SoundFile(tmp, "w", samplerate=config.sample_rate, channels=1,
                      subtype="PCM_16", format="WAV") as f:
      while True:
        start = time.perf_counter()
        block = next(blocks, None)
        busy += time.perf_counter() - start
        if block is None:
          break
        f.write(audio_io.to_pcm16(block))
  return seconds, busy


def open_vocoder(model: str, num_threads: int = 2,
                 live: bool = False) -> Engine:
  """`Vocoder(model, ...)`, live a `StreamingVocoder(model, ...)`, or
  ModelError with its one-line reason."""
  try:
    if live:
      return StreamingVocoder(model, num_threads=num_threads)
    return Vocoder(model, num_threads=num_threads)
  except (ModelLoadError, ValueError) as e:
    raise ModelError(str(e)) from e


def warm_up(vocoder: Engine) -> float:
  """Vocodes silence, a block and a few chunks long, so that what follows
  runs at the model's speed: the first calls of a model are slow (a
  SavedModel's optimise its graphs: about a second per signature on 2 CPU
  cores; a short input takes another signature than a long one). Returns
  the wall seconds taken; ModelError if the model fails to run."""
  whole = vocoder.vocoder if isinstance(vocoder, StreamingVocoder) else vocoder
  config = vocoder.config
  start = time.perf_counter()
  for frames in (whole.block_frames,
                 max(whole.chunk_frames, whole.merge_frames) + 1):
    mel = np.full((frames, config.n_mels), np.log10(config.log_floor),
                  np.float32)
    try:
      for _ in audio_blocks(vocoder, mel):
        pass
    except (RuntimeError, ValueError) as e:
      raise ModelError(f"{whole.runtime.path}: fails on silence ("
                       f"{' '.join(str(e).split())})") from e
  if isinstance(vocoder, StreamingVocoder):
    vocoder.reset()
  return time.perf_counter() - start


def load_vocoder(model: str, num_threads: int = 2, live: bool = False
                 ) -> Tuple[Engine, Loaded]:
  """Opens `model` (`open_vocoder`) and warms it up (`warm_up`), timing
  both. Returns the vocoder and its `Loaded`; raises ModelError."""
  start = time.perf_counter()
  vocoder = open_vocoder(model, num_threads, live)
  opened = time.perf_counter() - start
  warm = warm_up(vocoder)
  if isinstance(vocoder, StreamingVocoder):
    return vocoder, Loaded(vocoder.vocoder.runtime.path, opened, warm,
                           vocoder.latency_frames, vocoder.latency_ms)
  return vocoder, Loaded(vocoder.runtime.path, opened, warm)


def vocode_files(inputs: Sequence[str], model: str, output_dir: str,
                 num_threads: int = 2, live: bool = False,
                 progress_seconds: float = 30.0, overwrite: bool = False,
                 on_load: Optional[Callable[[Loaded], None]] = None
                 ) -> Iterator[Outcome]:
  """Vocodes every input into `output_dir` (created), yielding each one's
  `Outcome` as soon as it is done.

  Args:
    inputs: audio files and `.npy` log-mels.
    model: SavedModel dir or `.tflite` file (`python -m export` output).
    output_dir: where the wav files go (names: `plan_outputs`).
    num_threads: TFLite interpreter threads.
    live: the live stream (`StreamingVocoder`, pushes of
      `LIVE_PUSH_FRAMES` frames): fixed latency, for the multiscale model
      without the whole-input band-edge correction.
    progress_seconds: log progress for inputs longer than this.
    overwrite: replace existing output files (an input: never).
    on_load: called with the `Loaded` once the model is warmed up, before
      the first input is read.
  Raises:
    OutputError: the outputs cannot be written as asked (`plan_outputs`;
      before the model is loaded, nothing written).
    ModelError: the model cannot be loaded (before any input is read).
  """
  targets = plan_outputs(inputs, output_dir, overwrite)
  vocoder, loaded = load_vocoder(model, num_threads, live)
  if on_load is not None:
    on_load(loaded)
  os.makedirs(output_dir, exist_ok=True)
  for path, target in zip(inputs, targets):
    yield _vocode_one(vocoder, path, target, progress_seconds)


def _vocode_one(vocoder: Engine, path: str, target: str,
                progress_seconds: float) -> Outcome:
  """Vocodes one input into `target`; a bad input or a failed write is the
  Outcome's one-line error (no partial `target` is left)."""
  try:
    mel = load_input(path, vocoder.config)
    try:
      seconds, elapsed = write_wav(vocoder, mel, target, path,
                                   progress_seconds)
    except OSError as e:
      return Outcome(path, error=f"cannot write {target} "
                     f"({e.strerror or e})")
  except (InputError, ValueError) as e:
    return Outcome(path, error=str(e))
  return Outcome(path, target, seconds, elapsed)
