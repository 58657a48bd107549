"""Vocoding files: inputs -> log-mels -> 16-bit wav files (the library
behind `python -m tfvocoder.vocode`, whose docstring gives the contract).

An input is an audio file (wav/flac/ogg/mp3: resynthesis from its own
log-mel, `audio_log_mel`) or a `.npy` log-mel `[frames, n_mels]`
(`load_mel_npy`, memory-mapped and checked block by block). Each becomes
`<output_dir>/<name>.wav` at the model's sample rate, streamed through
`Vocoder.stream` into a temporary file renamed when complete
(`tfvocoder.io_utils.atomic_path`). A bad input is an `InputError` whose
one-line message says what was expected; `vocode_files` reports it as that
input's `Outcome` and goes on with the others.
"""

import dataclasses
import os
import time
from typing import Iterator, Optional, Sequence

from absl import logging
import numpy as np
import soundfile as sf

from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io
from tfvocoder.inference.runtime import ModelLoadError
from tfvocoder.inference.vocoder import Vocoder
from tfvocoder.io_utils import atomic_path

CHECK_BLOCK_FRAMES = 2 ** 12       # frames of a .npy mel checked at a time


class InputError(ValueError):
  """A bad input; the message is one line saying what was expected."""


class ModelError(RuntimeError):
  """The model cannot be loaded; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What became of one input.

  Attributes:
    path: the input.
    target: the wav written (None on error).
    seconds: audio seconds written.
    elapsed: wall seconds spent vocoding and writing.
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


def audio_log_mel(audio: np.ndarray, config: VocoderConfig,
                  block_frames: Optional[int] = None) -> np.ndarray:
  """The log-mel of a whole decoded file, in bounded memory.

  Args:
    audio: `[samples]` float32 at `config.sample_rate`; a partial last
      frame is zero-padded (kept, unlike `dsp.log_mel`).
    config: the model's signal settings.
    block_frames: frames per block of `dsp.mel.log_mel_blocks` (None: its
      default).
  Returns:
    `[ceil(samples / hop_length), n_mels]` float32.
  """
  # TensorFlow (the STFT) only for audio inputs: .npy mels through a
  # .tflite model never load it.
  from tfvocoder.dsp.mel import MEL_BLOCK_FRAMES, log_mel_blocks
  audio = np.asarray(audio, np.float32)
  audio = np.pad(audio, (0, -len(audio) % config.hop_length))
  return log_mel_blocks(audio, config, block_frames or MEL_BLOCK_FRAMES)


def load_mel_npy(path: str, config: VocoderConfig) -> np.ndarray:
  """A `[frames, n_mels]` float log-mel from `.npy` (memory-mapped), or
  InputError."""
  expected = f"expected a float log-mel [frames, {config.n_mels}]"
  if os.path.getsize(path) == 0:
    raise InputError(f"empty file; {expected} in .npy format")
  try:
    mel = np.load(path, mmap_mode="r", allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise InputError(f"not a readable .npy array ({e}); {expected}") from e
  if mel.ndim != 2:
    raise InputError(f"array of rank {mel.ndim} (shape {mel.shape}); "
                     f"{expected}")
  if mel.shape[1] != config.n_mels:
    raise InputError(f"mel width {mel.shape[1]} (shape {mel.shape}); "
                     f"{expected}")
  if mel.shape[0] == 0:
    raise InputError(f"no frames (shape {mel.shape}); {expected}")
  if not np.issubdtype(mel.dtype, np.floating):
    raise InputError(f"dtype {mel.dtype}; {expected}")
  bad = sum(int(np.count_nonzero(~np.isfinite(mel[a:a + CHECK_BLOCK_FRAMES])))
            for a in range(0, len(mel), CHECK_BLOCK_FRAMES))
  if bad:
    raise InputError(f"{bad} NaN/inf values; {expected} with finite values")
  return mel


def load_audio_mel(path: str, config: VocoderConfig) -> np.ndarray:
  """Decode an audio file and compute its log-mel (`audio_log_mel`), or
  InputError."""
  expected = "expected a readable audio file (wav/flac/ogg/mp3)"
  try:
    audio = audio_io.decode(path, config).audio
  except audio_io.SkipFile as e:
    raise InputError(f"{e.code}: {e.detail}; {expected}") from e
  if len(audio) < config.hop_length:
    raise InputError(f"{len(audio)} samples, shorter than one frame "
                     f"({config.hop_length}); {expected} of some length")
  return audio_log_mel(audio, config)


def load_input(path: str, config: VocoderConfig) -> np.ndarray:
  """The `[frames, n_mels]` log-mel of one input, or InputError."""
  if not os.path.isfile(path):
    raise InputError("no such file; expected an audio file or a .npy mel")
  if path.lower().endswith(".npy"):
    return load_mel_npy(path, config)
  if audio_io.is_audio_path(path):
    return load_audio_mel(path, config)
  raise InputError(f"unsupported file type; expected audio "
                   f"{audio_io.AUDIO_EXTENSIONS} or a .npy mel")


def output_path(path: str, output_dir: str, used: set) -> str:
  """`output_dir/<name>.wav`, keeping the input extension on a clash with a
  name in `used` (the name is added to it)."""
  name = os.path.splitext(os.path.basename(path))[0]
  if name in used:
    name = os.path.basename(path)
  used.add(name)
  return os.path.join(output_dir, name + ".wav")


def write_wav(vocoder: Vocoder, mel: np.ndarray, target: str, label: str,
              progress_seconds: float = 30.0) -> float:
  """Streams the vocoded `[frames, n_mels]` mel into `target` as 16-bit PCM,
  atomically; returns the seconds of audio. Logs progress every 10 % for
  inputs over `progress_seconds` seconds, labelled `label`."""
  config = vocoder.config
  seconds = len(mel) / config.frame_rate
  marks = set()

  def progress(done, total):
    tenth = 10 * done // total
    if seconds >= progress_seconds and tenth not in marks:
      marks.add(tenth)
      logging.info("%s: %d%% of %.1f s", label, 10 * tenth, seconds)

  with atomic_path(target) as tmp:
    with sf.SoundFile(tmp, "w", samplerate=config.sample_rate, channels=1,
                      subtype="PCM_16", format="WAV") as f:
      for block in vocoder.stream(mel, progress=progress):
        f.write(audio_io.to_pcm16(block))
  return seconds


def open_vocoder(model: str, num_threads: int = 2,
                 live: bool = False) -> Vocoder:
  """`Vocoder(model, ...)`, or ModelError with its one-line reason."""
  try:
    return Vocoder(model, num_threads=num_threads, live=live)
  except (ModelLoadError, ValueError) as e:
    raise ModelError(str(e)) from e


def vocode_files(inputs: Sequence[str], model: str, output_dir: str,
                 num_threads: int = 2, live: bool = False,
                 progress_seconds: float = 30.0) -> Iterator[Outcome]:
  """Vocodes every input into `output_dir` (created), yielding each one's
  `Outcome` as soon as it is done.

  Args:
    inputs: audio files and `.npy` log-mels.
    model: SavedModel dir or `.tflite` file (`python -m export` output).
    output_dir: where the wav files go.
    num_threads: TFLite interpreter threads.
    live: fixed-latency streaming (`Vocoder(live=True)`).
    progress_seconds: log progress for inputs longer than this.
  Raises:
    ModelError: the model cannot be loaded (before any input is read).
  """
  vocoder = open_vocoder(model, num_threads, live)
  os.makedirs(output_dir, exist_ok=True)
  used = set()
  for path in inputs:
    try:
      mel = load_input(path, vocoder.config)
      target = output_path(path, output_dir, used)
      start = time.perf_counter()
      seconds = write_wav(vocoder, mel, target, path, progress_seconds)
      elapsed = time.perf_counter() - start
    except (InputError, ValueError) as e:
      yield Outcome(path, error=str(e))
      continue
    yield Outcome(path, target, seconds, elapsed)
