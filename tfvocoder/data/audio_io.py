"""Decode, mix, resample and validate one audio file (no TensorFlow here).

This module runs inside `prepare`'s worker processes, so it imports only
numpy, soundfile and soxr (the resampler librosa uses for its default
"soxr_hq"; calling it directly keeps librosa's slow import out of the
workers). libsndfile >= 1.1 (bundled with soundfile >= 0.12 wheels) reads
wav, flac, ogg and mp3; only when it lacks MP3 support is audioread (through
librosa) tried for `.mp3` files.

A file that cannot be used raises `SkipFile(code, detail)`; `code` is one of
`SKIP_CODES` and `detail` a one-line human reason. Everything else about a
file (duration, source rate, channels) is returned in `DecodedAudio`.

PCM convention of the shards: int16 little-endian, `float = int16 / 32767`.
"""

import dataclasses
import os
import re
from typing import Optional

import numpy as np
import soundfile as sf
import soxr

from tfvocoder.config import VocoderConfig

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
PCM_SCALE = 32767.0

# Why a file was skipped (manifest `skipped[].reason`). The last four are
# found before decoding (`sources.file_problem`).
SKIP_CODES = ("empty", "unreadable", "corrupt", "truncated", "non_finite",
              "too_short", "silent", "error", "dangling_link", "link_loop",
              "bad_name", "not_a_file")


class SkipFile(Exception):
  """A file that cannot be used; `code` in SKIP_CODES, `detail` one line."""

  def __init__(self, code: str, detail: str):
    super().__init__(f"{code}: {detail}")
    assert code in SKIP_CODES, code
    self.code = code
    self.detail = detail


@dataclasses.dataclass
class DecodedAudio:
  """One decoded file.

  audio: `[samples]` float32 mono at the target rate, in [-1, 1].
  source_rate: the file's own sample rate, Hz.
  channels: the file's channel count before mixing to mono.
  """
  audio: np.ndarray
  source_rate: int
  channels: int


def is_audio_path(path: str) -> bool:
  return path.lower().endswith(AUDIO_EXTENSIONS)


# Decoding this many frames fewer than the header declares is tolerated.
_SHORTFALL_FRAMES = 4096

# libsndfile's log says "data : 132300 (should be 66128)" for a WAV/AIFF
# whose data chunk runs past the end of the file.
_SHORT_DATA = re.compile(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)")


def _truncation_note(extra_info: str) -> Optional[str]:
  """A reason if libsndfile's header log shows a cut-off file, else None."""
  match = _SHORT_DATA.search(extra_info or "")
  if match and int(match.group(2)) < int(match.group(1)):
    return (f"data chunk declares {match.group(1)} bytes, file holds "
            f"{match.group(2)}")
  if "lacks an end-of-stream bit" in (extra_info or ""):
    return "ogg stream ends without its end-of-stream page"
  return None


def _read_soundfile(path: str):
  """(samples [n, channels] float32, rate) via libsndfile; raises SkipFile."""
  try:
    info = sf.info(path)
  except Exception as e:  # libsndfile cannot even parse the header
    raise SkipFile("unreadable", f"not a readable audio file ({_one_line(e)})")
  note = _truncation_note(info.extra_info)
  if note:
    raise SkipFile("truncated", note)
  try:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
  except Exception as e:
    raise SkipFile("corrupt", f"decoding failed ({_one_line(e)})")
  # Vorbis streams may legitimately decode a few frames (granule rounding)
  # short of the header's count; a cut-off file is short by far more.
  if info.frames - len(data) > max(_SHORTFALL_FRAMES, info.frames // 1000):
    raise SkipFile("truncated", f"header declares {info.frames} frames, "
                   f"decoded {len(data)}")
  return data, int(rate)


def _read_audioread(path: str):
  """Fallback for `.mp3` when libsndfile lacks MP3: audioread via librosa."""
  import librosa  # seconds to import: only this rare fallback needs it
  try:
    data, rate = librosa.load(path, sr=None, mono=False, dtype=np.float32)
  except Exception as e:
    raise SkipFile("unreadable", f"audioread failed ({_one_line(e)})")
  data = np.atleast_2d(data).T          # librosa: [channels, n]
  return np.ascontiguousarray(data), int(rate)


def _one_line(error: BaseException) -> str:
  return " ".join(str(error).split()) or type(error).__name__


def _libsndfile_has_mp3() -> bool:
  return "MP3" in sf.available_formats()


def to_mono(data: np.ndarray) -> np.ndarray:
  """`[n, channels]` -> `[n]` float32, the mean of the channels."""
  return data.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(audio: np.ndarray, source_rate: int,
             target_rate: int) -> np.ndarray:
  """soxr "HQ" resampling (librosa's default `soxr_hq`), float32 `[n']`."""
  if source_rate == target_rate:
    return audio.astype(np.float32, copy=False)
  return soxr.resample(audio, source_rate, target_rate,
                       quality="HQ").astype(np.float32, copy=False)


def decode(path: str, config: VocoderConfig) -> DecodedAudio:
  """Decode a file to mono float32 at `config.sample_rate`.

  Raises SkipFile for empty, unreadable, corrupt, truncated or non-finite
  files. Audio whose peak exceeds 1 (float files) is scaled down to a peak
  of 1 rather than clipped.
  """
  if os.path.getsize(path) == 0:
    raise SkipFile("empty", "0 bytes")
  if path.lower().endswith(".mp3") and not _libsndfile_has_mp3():
    data, rate = _read_audioread(path)
  else:
    data, rate = _read_soundfile(path)
  if data.size == 0:
    raise SkipFile("empty", "no audio samples")
  if not np.all(np.isfinite(data)):
    bad = int(np.count_nonzero(~np.isfinite(data)))
    raise SkipFile("non_finite", f"{bad} NaN/inf samples")
  channels = int(data.shape[1])
  audio = resample(to_mono(data), rate, config.sample_rate)
  peak = float(np.max(np.abs(audio))) if audio.size else 0.0
  if peak > 1.0:
    audio = audio / peak
  return DecodedAudio(audio=audio, source_rate=rate, channels=channels)


def validate(audio: np.ndarray, config: VocoderConfig) -> None:
  """Raise SkipFile unless `audio` can give at least one training window.

  Args:
    audio: `[samples]` float32 at `config.sample_rate`.
  Checks: at least `config.window` samples, and at least one
  window-length block whose RMS reaches `config.silence_rms` (the
  pipeline drops quieter windows, so such a file would yield nothing).
  """
  rate = config.sample_rate
  if len(audio) < config.window:
    raise SkipFile("too_short", f"{len(audio) / rate:.3f} s < one training "
                   f"window ({config.window / rate:.3f} s)")
  blocks = len(audio) // config.window
  framed = audio[:blocks * config.window].reshape(blocks, config.window)
  rms = np.sqrt(np.mean(np.square(framed, dtype=np.float64), axis=1))
  if not np.any(rms >= config.silence_rms):
    raise SkipFile("silent", f"every window has RMS < {config.silence_rms:g} "
                   f"(loudest {float(rms.max()):.2e})")


def to_pcm16(audio: np.ndarray) -> np.ndarray:
  """float32 in [-1, 1] -> int16 (little-endian) PCM, `round(x * 32767)`."""
  scaled = np.clip(np.round(audio * PCM_SCALE), -PCM_SCALE, PCM_SCALE)
  return scaled.astype("<i2")

