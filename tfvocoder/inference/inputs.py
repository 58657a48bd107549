"""Vocoder inputs: an audio file or a `.npy` log-mel -> a checked log-mel.

An audio file (wav/flac/ogg/mp3) is resynthesised from its own log-mel
(`audio_log_mel`); a `.npy` must be a float log-mel `[frames, n_mels]`
(`load_mel_npy`: memory-mapped and checked block by block, finite and within
`mel_range` of log10 magnitudes). A bad input is an `InputError` whose
one-line message says what was expected.
"""

import os
from typing import Optional, Tuple

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io

CHECK_BLOCK_FRAMES = 2 ** 12       # frames of a .npy mel checked at a time
MEL_RANGE_MARGIN = 3.0             # log10 units beyond the expected range


class InputError(ValueError):
  """A bad input; the message is one line saying what was expected."""


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


def mel_range(config: VocoderConfig) -> Tuple[float, float]:
  """The accepted values of a `.npy` log-mel, log10 magnitude units.

  A log-mel of audio in [-1, 1] lies between log10(`config.log_floor`)
  (silence; -5 by default) and about the level of a full-scale partial,
  log10(win_length / 2 * n_fft / sample_rate) (a Hann window's sum times a
  Slaney mel filter's weight sum; 1.4 by default, real music stays below
  ~1.1). Both widened by `MEL_RANGE_MARGIN` (a factor 1000 in magnitude).

  Returns:
    (lowest, highest) accepted value.
  """
  full_scale = config.win_length / 2 * config.n_fft / config.sample_rate
  return (float(np.log10(config.log_floor)) - MEL_RANGE_MARGIN,
          float(np.log10(full_scale)) + MEL_RANGE_MARGIN)


def _scan_values(mel: np.ndarray) -> Tuple[int, float, float]:
  """(NaN/inf count, lowest and highest finite value) of a `[frames, n]`
  array, read `CHECK_BLOCK_FRAMES` frames at a time, in its own dtype (a
  float64 1e300 is found as such, not as the inf of a float32 cast)."""
  bad, low, high = 0, np.inf, -np.inf
  for start in range(0, len(mel), CHECK_BLOCK_FRAMES):
    block = np.asarray(mel[start:start + CHECK_BLOCK_FRAMES])
    finite = np.isfinite(block)
    bad += int(block.size - np.count_nonzero(finite))
    if finite.any():
      values = block[finite]
      low, high = min(low, float(values.min())), max(high, float(values.max()))
  return bad, low, high


def _check_mel_values(mel: np.ndarray, config: VocoderConfig,
                      expected: str) -> None:
  """InputError unless every value is finite and within `mel_range`."""
  bad, low, high = _scan_values(mel)
  if bad:
    raise InputError(f"{bad} NaN/inf values; {expected} with finite values")
  floor, ceiling = mel_range(config)
  if low < floor or high > ceiling:
    raise InputError(
        f"values from {low:.4g} to {high:.4g}, outside [{floor:.3g}, "
        f"{ceiling:.3g}]; {expected} of log10 magnitudes, from "
        f"log10(log_floor) = {np.log10(config.log_floor):.3g} to about "
        f"{ceiling - MEL_RANGE_MARGIN:.2g} (full scale), "
        f"+-{MEL_RANGE_MARGIN:g} allowed")


def load_mel_npy(path: str, config: VocoderConfig) -> np.ndarray:
  """A `[frames, n_mels]` float log-mel from `.npy` (memory-mapped), or
  InputError (wrong shape or dtype, NaN/inf, values outside `mel_range`)."""
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
  _check_mel_values(mel, config, expected)
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
