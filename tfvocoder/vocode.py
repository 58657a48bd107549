"""Vocode audio files or log-mels with an exported model.

  python -m tfvocoder.vocode INPUT... --model=PATH --output_dir=DIR

INPUT is an audio file (wav/flac/ogg/mp3: resynthesis, audio -> log-mel ->
vocoder) or a `.npy` log-mel `[frames, n_mels]` (e.g. from an upstream
model); PATH a SavedModel dir or a `.tflite` file written by
`python -m export`. Each input becomes `DIR/<name>.wav`, 16-bit PCM at the
model's sample rate, written to a temporary file and renamed when complete.
Prints one line per input with its x-real-time; long inputs log progress.

A bad input (wrong mel width or rank, NaN/inf, empty or unreadable file)
gets a one-line error naming it and what was expected; the others are
still processed, and the exit status is 1 if any input failed.
"""

import os
import sys
import time
from typing import List, Optional

from absl import app, flags, logging
import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_path


def define_flags() -> None:
  """The CLI's flags (defined only when run as a program, so importing this
  module never clashes with other flag sets, e.g. the config's `--model`)."""
  flags.DEFINE_string("model", None, "SavedModel dir or .tflite file from "
                      "`python -m export`.", required=True)
  flags.DEFINE_string("output_dir", None, "Where the wav files go.",
                      required=True)
  flags.DEFINE_integer("num_threads", 2, "TFLite interpreter threads.")
  flags.DEFINE_bool("live", False, "Multiscale: fixed-latency streaming "
                    "without the whole-input band-edge correction (see "
                    "tfvocoder.inference.streaming_merge).")
  flags.DEFINE_float("progress_seconds", 30.0, "Log progress for inputs "
                     "longer than this many seconds of audio.")


FLAGS = flags.FLAGS

MEL_BLOCK_FRAMES = 2 ** 12          # frames of log-mel computed at a time


class InputError(ValueError):
  """A bad input; the message is one line saying what was expected."""


def log_mel_blocks(audio: np.ndarray, config: VocoderConfig) -> np.ndarray:
  """`dsp.log_mel` of a long signal, computed a block of frames at a time.

  Args:
    audio: `[samples]` float32; the last partial frame is zero-padded.
  Returns:
    `[ceil(samples / hop), n_mels]` float32, equal to `dsp.log_mel` of the
    padded audio (same reflect padding, STFT and mel basis).
  """
  import tensorflow as tf
  from tfvocoder import dsp
  hop = config.hop_length
  frames = -(-len(audio) // hop)
  audio = np.pad(audio, (0, frames * hop - len(audio)))
  padded = np.pad(audio, config.mel_padding, mode="reflect")
  basis = tf.constant(dsp.mel_basis(config).T, tf.float32)
  out = np.empty((frames, config.n_mels), np.float32)
  for a in range(0, frames, MEL_BLOCK_FRAMES):
    b = min(a + MEL_BLOCK_FRAMES, frames)
    segment = padded[a * hop:b * hop + 2 * config.mel_padding]
    spec = tf.signal.stft(segment[None], frame_length=config.win_length,
                          frame_step=hop, fft_length=config.n_fft,
                          window_fn=tf.signal.hann_window, pad_end=False)
    mel = tf.tensordot(tf.abs(spec), basis, axes=1)
    out[a:b] = (tf.math.log(tf.maximum(mel, config.log_floor))
                / np.log(10.0)).numpy()[0, :b - a]
  return out


def load_mel_npy(path: str, config: VocoderConfig) -> np.ndarray:
  """A `[frames, n_mels]` float32 log-mel from `.npy` (memory-mapped), or
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
  bad = sum(int(np.count_nonzero(~np.isfinite(mel[a:a + MEL_BLOCK_FRAMES])))
            for a in range(0, len(mel), MEL_BLOCK_FRAMES))
  if bad:
    raise InputError(f"{bad} NaN/inf values; {expected} with finite values")
  return mel


def load_audio_mel(path: str, config: VocoderConfig) -> np.ndarray:
  """Decode an audio file and compute its log-mel, or InputError."""
  from tfvocoder.data import audio_io
  expected = "expected a readable audio file (wav/flac/ogg/mp3)"
  try:
    audio = audio_io.decode(path, config).audio
  except audio_io.SkipFile as e:
    raise InputError(f"{e.code}: {e.detail}; {expected}") from e
  if len(audio) < config.hop_length:
    raise InputError(f"{len(audio)} samples, shorter than one frame "
                     f"({config.hop_length}); {expected} of some length")
  return log_mel_blocks(audio, config)


def load_input(path: str, config: VocoderConfig) -> np.ndarray:
  """The log-mel of one input (see the module docstring), or InputError."""
  from tfvocoder.data import audio_io
  if not os.path.isfile(path):
    raise InputError("no such file; expected an audio file or a .npy mel")
  if path.lower().endswith(".npy"):
    return load_mel_npy(path, config)
  if audio_io.is_audio_path(path):
    return load_audio_mel(path, config)
  raise InputError(f"unsupported file type; expected audio "
                   f"{audio_io.AUDIO_EXTENSIONS} or a .npy mel")


def output_path(path: str, output_dir: str, used: set) -> str:
  """`output_dir/<name>.wav`, keeping the input extension on a clash."""
  name = os.path.splitext(os.path.basename(path))[0]
  if name in used:
    name = os.path.basename(path)
  used.add(name)
  return os.path.join(output_dir, name + ".wav")


def write_wav(vocoder, mel: np.ndarray, target: str, label: str,
              progress_seconds: float = 30.0) -> float:
  """Streams the vocoded mel into `target` atomically; returns seconds of
  audio. Logs progress every 10 % for inputs over `progress_seconds`."""
  import soundfile as sf
  from tfvocoder.data.audio_io import to_pcm16
  config = vocoder.config
  seconds = len(mel) / config.frame_rate
  marks = {}

  def progress(done, total):
    tenth = 10 * done // total
    if seconds >= progress_seconds and tenth not in marks:
      marks[tenth] = True
      logging.info("%s: %d%% of %.1f s", label, 10 * tenth, seconds)

  with atomic_path(target) as tmp:
    with sf.SoundFile(tmp, "w", samplerate=config.sample_rate, channels=1,
                      subtype="PCM_16", format="WAV") as f:
      for block in vocoder.stream(mel, progress=progress):
        f.write(to_pcm16(block))
  return seconds


def vocode_files(inputs: List[str], model: str, output_dir: str,
                 num_threads: int = 2, live: bool = False,
                 progress_seconds: float = 30.0) -> int:
  """Vocodes every input; returns the number of failed inputs (all of
  them when the model cannot be loaded)."""
  from tfvocoder.inference import Vocoder
  from tfvocoder.inference.runtime import ModelLoadError
  try:
    vocoder = Vocoder(model, num_threads=num_threads, live=live)
  except (ModelLoadError, ValueError) as e:
    print(f"vocode: error: {e}", file=sys.stderr)
    return max(len(inputs), 1)
  os.makedirs(output_dir, exist_ok=True)
  failed, used = 0, set()
  for path in inputs:
    try:
      mel = load_input(path, vocoder.config)
      target = output_path(path, output_dir, used)
      start = time.perf_counter()
      seconds = write_wav(vocoder, mel, target, path, progress_seconds)
      elapsed = time.perf_counter() - start
    except (InputError, ValueError) as e:
      print(f"vocode: error: {path}: {e}", file=sys.stderr)
      failed += 1
      continue
    print(f"{path} -> {target}: {seconds:.2f} s of audio in {elapsed:.2f} s "
          f"({seconds / max(elapsed, 1e-9):.1f}x real time)")
  return failed


def main(argv: List[str]) -> Optional[int]:
  inputs = argv[1:]
  if not inputs:
    print("vocode: error: no INPUT given; usage: python -m tfvocoder.vocode "
          "INPUT... --model=PATH --output_dir=DIR", file=sys.stderr)
    return 2
  failed = vocode_files(inputs, FLAGS.model, FLAGS.output_dir,
                        FLAGS.num_threads, FLAGS.live, FLAGS.progress_seconds)
  return 1 if failed else 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
