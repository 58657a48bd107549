"""The held-out examples an evaluation vocodes.

Seeded windows of the held-out shards (`dataset_examples`: a reservoir
sample, so the same seed and data give the same windows, of the fixed,
consecutive windows `tfvocoder.data.pipeline.make_dataset(...,
training=False)` reads, peak-normalised like training windows), and one
example per audio file (`file_examples`: its first seconds, peak-normalised
the same way). Every example carries its log-mel, the conditioning all
systems vocode.
"""

import dataclasses
import math
import os
from typing import List, Optional, Sequence

from absl import logging
import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.data import audio_io, pipeline
from tfvocoder.dsp.mel import log_mel_blocks
from tfvocoder.evaluation import EvaluateError

READ_BATCH = 16                    # windows per batch read from the shards


@dataclasses.dataclass(frozen=True)
class Example:
  """One held-out example.

  Attributes:
    name: short label ("window 3", a file's base name).
    source: where it comes from (split and window index, or the file path).
    audio: `[samples]` float32 real audio at `config.sample_rate`, whole
      mel frames.
    mel: `[samples / hop_length, n_mels]` float32, its log-mel.
  """
  name: str
  source: str
  audio: np.ndarray
  mel: np.ndarray


def example_samples(config: VocoderConfig, seconds: float) -> int:
  """Samples of an example of about `seconds`: whole mel frames, divisible
  by 2**n_bands (the band split); at least one such unit."""
  unit = math.lcm(config.hop_length, 2 ** config.n_bands)
  return max(1, round(seconds * config.sample_rate / unit)) * unit


def _example(name: str, source: str, audio: np.ndarray,
             config: VocoderConfig) -> Example:
  audio = np.asarray(audio, np.float32)
  return Example(name, source, audio, log_mel_blocks(audio, config))


def _reservoir(windows, count: int, seed: int):
  """(chosen [(index, window)] in stream order, windows seen): a seeded
  uniform sample of `count` windows (algorithm R)."""
  rng = np.random.default_rng(seed)
  chosen, seen = [], 0
  for window in windows:
    if len(chosen) < count:
      chosen.append((seen, window))
    else:
      j = int(rng.integers(0, seen + 1))
      if j < count:
        chosen[j] = (seen, window)
    seen += 1
  return sorted(chosen, key=lambda x: x[0]), seen


def dataset_examples(data_dir: str, split: str, config: VocoderConfig,
                     count: int, seconds: float, seed: int) -> List[Example]:
  """`count` seeded windows of about `seconds` of the `split` shards.

  Args:
    data_dir: prepared shards (`prepare` output, the synthetic dataset).
    split: shard split ("test", "validation", ...).
    config: the signal settings (window length replaced by `seconds`).
    count: windows to pick.
    seconds: window length, rounded by `example_samples`.
    seed: seeds the choice.
  Returns:
    the windows in stream order, named "window <index>".
  Raises:
    EvaluateError: no shards of `split`, or no window in them.
  """
  n = example_samples(config, seconds)
  try:
    files = pipeline.list_shards(pipeline.shard_pattern(data_dir, split))
  except ValueError as e:
    raise EvaluateError(f"{data_dir}: no '{split}' shards ({e})") from e
  dataset = pipeline.make_dataset(files, config.replace(window=n), READ_BATCH,
                                  training=False)
  windows = (audio for batch in dataset.map(lambda b: b["audio"])
             for audio in batch.numpy())
  chosen, seen = _reservoir(windows, count, seed)
  if not chosen:
    raise EvaluateError(f"{data_dir}: the '{split}' split has no window of "
                        f"{n / config.sample_rate:.2f} s above the silence "
                        "threshold; try a smaller --seconds")
  logging.info("picked %d of %d held-out windows of %.2f s (seed %d)",
               len(chosen), seen, n / config.sample_rate, seed)
  return [_example(f"window {i}", f"{split} window {i}", audio, config)
          for i, audio in chosen]


def file_examples(paths: Sequence[str], config: VocoderConfig,
                  max_seconds: float) -> List[Example]:
  """One example per audio file: its first `max_seconds` (whole units of
  `example_samples`), peak-normalised to `config.peak_normalize`.

  Raises:
    EvaluateError: a file cannot be read, or is shorter than 2 n_fft.
  """
  unit = example_samples(config, 0)
  out = []
  for path in paths:
    try:
      audio = audio_io.decode(path, config).audio
    except (OSError, audio_io.SkipFile, RuntimeError) as e:
      raise EvaluateError(f"{path}: cannot read audio ({e})") from e
    n = min(len(audio), example_samples(config, max_seconds)) // unit * unit
    if n < config.n_fft * 2:
      raise EvaluateError(f"{path}: too short ({len(audio)} samples)")
    audio = audio[:n]
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
      audio = audio * (config.peak_normalize / peak)
    out.append(_example(os.path.basename(path), path, audio, config))
  return out


def choose_examples(config: VocoderConfig, data_dir: Optional[str],
                    split: str, count: int, seconds: float, seed: int,
                    audio_files: Sequence[str], max_audio_seconds: float
                    ) -> List[Example]:
  """The windows of `data_dir` (when given), then one example per file."""
  chosen = []
  if data_dir:
    chosen += dataset_examples(data_dir, split, config, count, seconds, seed)
  return chosen + file_examples(audio_files, config, max_audio_seconds)
