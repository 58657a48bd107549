"""Streaming vocoder: a mel of any length -> audio, in fixed-size chunks.

`Vocoder(path)` loads an export (SavedModel dir or `.tflite` file, see
`tfvocoder.inference.runtime`) and vocodes `[frames, n_mels]` log-mels so that the
stitched output equals one-shot generation of the whole mel:

1. Generator, in chunks of `chunk_frames` mel frames overlapping by the
   receptive field R on each side. A chunk's outputs are kept only for
   frames at least R frames from its edges (or at a true edge of the input,
   where the chunk edge coincides with it), so every kept sample sees
   exactly the input frames it sees in one-shot generation. For MelGAN this
   is the audio; for the multiscale model, the exact bands.
2. Band merge (multiscale only): the one-shot merge is a brick-wall FFT over
   the whole input, so it is streamed as a smooth merge on overlapping
   windows plus an exact correction near the band edges accumulated in a
   first pass (`tfvocoder.inference.streaming_merge`); `live=True` skips the
   correction and emits blocks with a fixed latency instead.

Memory is flat in the input length: a chunk of mel, a few merge windows of
bands, one output block and a few numbers per frame are held (pass a
`np.load(..., mmap_mode="r")` array for long inputs); the exact multiscale
mode spills its first-pass audio to a temporary file. A fixed-size TFLite
chunk longer than the input is padded with silence (`log10(log_floor)`),
which only changes the last R frames of such short inputs.
"""

import dataclasses
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from tfvocoder.inference.runtime import open_runtime
from tfvocoder.inference.streaming_merge import merged_blocks

# Default chunk sizes, mel frames (the one definition): a SavedModel's
# generator calls and smooth-merge windows here, and the fixed chunk sizes of
# the TFLite files `python -m export` writes (`tfvocoder.export`).
DEFAULT_CHUNK_FRAMES = 2 ** 8     # frames per generator call
DEFAULT_MERGE_FRAMES = 2 ** 8     # frames per smooth-merge window
Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class Chunk:
  """Mel frames `[start, stop)` go in (stop may pass the input end: padded);
  outputs of frames `[keep_start, keep_stop)` are kept."""
  start: int
  stop: int
  keep_start: int
  keep_stop: int


def plan_chunks(total: int, size: int, context: int, first: int = 0,
                last: Optional[int] = None) -> List[Chunk]:
  """Chunks of `size` frames whose kept frames tile `[first, last)`.

  Every kept frame has `context` frames of input on each side inside its
  chunk, or lies within `context` of a true edge of the `total`-frame input
  that is also the chunk's edge. `total <= size` gives one chunk `[0, size)`.
  """
  last = total if last is None else last
  if not 0 <= first <= last <= total:
    raise ValueError(f"bad frame range [{first}, {last}) of {total}")
  if total <= size:
    return [Chunk(0, size, first, last)] if last > first else []
  if size <= 2 * context:
    raise ValueError(f"chunk of {size} frames leaves nothing between two "
                     f"contexts of {context} frames")
  chunks, pos = [], first
  while pos < last:
    start = min(max(pos - context, 0), total - size)
    stop = start + size
    keep_stop = min(total if stop == total else stop - context, last)
    chunks.append(Chunk(start, stop, pos, keep_stop))
    pos = keep_stop
  return chunks


class Vocoder:
  """Vocodes `[frames, n_mels]` float32 log-mels with an exported model.

  Args:
    model_path: SavedModel dir or `.tflite` file with its export_config.json.
    num_threads: TFLite interpreter threads.
    chunk_frames, merge_frames: chunk sizes for a SavedModel (a TFLite file
      fixes its own; asking for others is an error).
    merge_core_frames: frames of each merge window kept (default half).
    live: multiscale only: emit blocks with a fixed latency
      (`latency_frames`), leaving out the exact band-edge correction that
      needs the whole input (see `tfvocoder.inference.streaming_merge`).
  """

  def __init__(self, model_path: str, num_threads: int = 2,
               chunk_frames: Optional[int] = None,
               merge_frames: Optional[int] = None,
               merge_core_frames: Optional[int] = None, live: bool = False):
    self.runtime = open_runtime(model_path, num_threads=num_threads)
    self.config = self.runtime.config
    self.receptive_field_frames = int(
        self.runtime.export_config["receptive_field_frames"])
    self.fixed = self.runtime.chunk_frames is not None
    self.chunk_frames = self._size("chunk_frames", self.runtime.chunk_frames,
                                   chunk_frames, DEFAULT_CHUNK_FRAMES)
    self.merge_frames = self._size("merge_frames", self.runtime.merge_frames,
                                   merge_frames, DEFAULT_MERGE_FRAMES)
    self.merge_core_frames = int(merge_core_frames or self.merge_frames // 2)
    self.live = bool(live)
    if not 0 < self.merge_core_frames <= self.merge_frames - 2:
      raise ValueError(f"merge_core_frames={self.merge_core_frames} must be in "
                       f"[1, merge_frames - 2 = {self.merge_frames - 2}]")
    if self.chunk_frames <= 2 * self.receptive_field_frames:
      raise ValueError(f"chunk_frames={self.chunk_frames} must exceed twice "
                       f"the receptive field ({self.receptive_field_frames})")

  def _size(self, name, fixed, asked, default):
    if fixed and asked and asked != fixed:
      raise ValueError(f"{self.runtime.path} has a fixed {name}={fixed}; "
                       f"cannot use {asked}")
    return int(fixed or asked or default)

  # --- properties ----------------------------------------------------------
  @property
  def sample_rate(self) -> int:
    return self.config.sample_rate

  @property
  def merge_context_frames(self) -> int:
    return (self.merge_frames - self.merge_core_frames) // 2

  @property
  def latency_frames(self) -> Optional[int]:
    """Mel frames needed beyond the end of an emitted block (None: the
    whole input, for the exact multiscale mode)."""
    if not self.runtime.has_bands:
      return self.receptive_field_frames
    if not self.live:
      return None
    return self.receptive_field_frames + self.merge_context_frames

  def block_boundaries(self, total: int) -> List[int]:
    """Frames where outputs of different model calls meet when streaming
    `total` frames (chunk edges, and merge-window cores for multiscale)."""
    size = self.chunk_frames if self.fixed else min(self.chunk_frames, total)
    edges = {c.keep_start for c in plan_chunks(
        total, size, self.receptive_field_frames)}
    if self.runtime.has_bands and (self.fixed or total > self.merge_frames):
      edges |= set(range(0, total, self.merge_core_frames))
    return sorted(e for e in edges if 0 < e < total)

  # --- vocoding --------------------------------------------------------------
  def vocode(self, mel, progress: Optional[Progress] = None) -> np.ndarray:
    """mel `[frames, n_mels]` -> float32 audio `[frames * hop_length]`."""
    blocks = list(self.stream(mel, progress))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

  def one_shot(self, mel) -> np.ndarray:
    """The whole mel in one call (a TFLite file: exactly `chunk_frames`)."""
    return np.asarray(self.runtime.audio(self._checked(mel)), np.float32)

  def stream(self, mel, progress: Optional[Progress] = None
             ) -> Iterator[np.ndarray]:
    """Yields consecutive float32 audio blocks of mel `[frames, n_mels]`
    (any array-like with random access, e.g. a memory-mapped `.npy`).
    `progress(frames_done, total)` follows the generator."""
    mel = self._checked(mel)
    total = len(mel)
    if total == 0:
      return
    if self.runtime.has_bands:
      if not self.fixed and total <= self.merge_frames:
        audio = self.runtime.audio(self._all_finite(mel))   # one shot
        if progress is not None:
          progress(total, total)
        yield np.asarray(audio, np.float32)
        return
      yield from merged_blocks(
          lambda first, last: self._exact(mel, first, last),
          self.runtime.merge, total, self.config, self.merge_frames,
          self.merge_core_frames,
          tail_frames=self.chunk_frames - self.receptive_field_frames,
          live=self.live, progress=progress)
      return
    for _, stop, out in self._exact(mel, 0, total):
      if progress is not None:
        progress(stop, total)
      yield np.asarray(out[0], np.float32)

  def _checked(self, mel):
    shape = getattr(mel, "shape", None)
    if shape is None or len(shape) != 2 or shape[1] != self.config.n_mels:
      raise ValueError(f"mel must be [frames, {self.config.n_mels}]; got "
                       f"shape {shape}")
    return mel

  def _silence(self, frames: int) -> np.ndarray:
    value = np.log10(self.config.log_floor)
    return np.full((frames, self.config.n_mels), value, np.float32)

  def _exact(self, mel, first: int, last: int
             ) -> Iterator[Tuple[int, int, List[np.ndarray]]]:
    """(start, stop, outputs) for frames [first, last): the bands (or the
    audio) of those frames, equal to one-shot generation."""
    total = len(mel)
    size = self.chunk_frames if self.fixed else min(self.chunk_frames, total)
    bands = self.runtime.has_bands
    hops = self.config.band_hops if bands else (self.config.hop_length,)
    for chunk in plan_chunks(total, size, self.receptive_field_frames,
                             first, last):
      x = np.asarray(mel[chunk.start:min(chunk.stop, total)], np.float32)
      if not np.all(np.isfinite(x)):
        raise ValueError(f"mel has NaN/inf values in frames "
                         f"[{chunk.start}, {min(chunk.stop, total)})")
      if len(x) < size:
        x = np.concatenate([x, self._silence(size - len(x))])
      out = self.runtime.bands(x) if bands else [self.runtime.audio(x)]
      a, b = chunk.keep_start - chunk.start, chunk.keep_stop - chunk.start
      yield chunk.keep_start, chunk.keep_stop, [
          np.array(o[a * hop:b * hop]) for o, hop in zip(out, hops)]

  def _all_finite(self, mel):
    x = np.asarray(mel, np.float32)
    if not np.all(np.isfinite(x)):
      raise ValueError("mel has NaN/inf values")
    return x
