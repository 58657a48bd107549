"""Streaming vocoder: a mel of any length -> audio, in fixed-size chunks.

`Vocoder(path)` loads an export (SavedModel dir or `.tflite` file, see
`tfvocoder.inference.runtime`) and vocodes `[frames, n_mels]` log-mels so
that the stitched output equals one-shot generation of the whole mel:

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

Live mode (`live=True`, and `tfvocoder.inference.streaming.StreamingVocoder`,
which shares its engine, `live.LiveEngine`) takes the mel a few frames at a
time: `live.LiveChunks` lays the same chunks (`chunks.plan_chunks`) over the
frames seen so far and `streaming_merge.LiveMerge` merges each block once
its window's bands are in. Its output does not depend on how the mel was cut into pieces; for
MelGAN it is the exact mode's output.

Memory is flat in the input length: a chunk of mel, a few merge windows of
bands, one output block and a few numbers per frame are held (pass a
`np.load(..., mmap_mode="r")` array for long inputs); the exact multiscale
mode spills its first-pass audio past 3 minutes to a temporary file. A
fixed-size TFLite chunk longer than the input is padded with silence
(`log10(log_floor)`), which only changes the last R frames of such short
inputs.
"""

from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from tfvocoder.inference.chunks import Chunk, plan_chunks
from tfvocoder.inference.live import LiveEngine
from tfvocoder.inference.runtime import open_runtime
from tfvocoder.inference.streaming_merge import (default_merge_core,
                                                 merged_blocks)

# Default chunk sizes, mel frames (the one definition): a SavedModel's
# generator calls and smooth-merge windows here, and the fixed chunk sizes of
# the TFLite files `python -m export` writes (`tfvocoder.export`).
DEFAULT_CHUNK_FRAMES = 2 ** 8     # frames per generator call
DEFAULT_MERGE_FRAMES = 2 ** 8     # frames per smooth-merge window
Progress = Callable[[int, int], None]


class Vocoder:
  """Vocodes `[frames, n_mels]` (or `[1, frames, n_mels]`, as the SavedModel
  signature takes them) float32 log-mels with an exported model.

  Args:
    model_path: SavedModel dir or `.tflite` file with its export_config.json.
    num_threads: TFLite interpreter threads.
    chunk_frames, merge_frames: chunk sizes for a SavedModel (a TFLite file
      fixes its own; asking for others is an error).
    merge_core_frames: frames of each merge window kept (default: half in
      live mode, all but the merge's context in the exact mode:
      `streaming_merge.default_merge_core`).
    live: the live stream's output (`LiveEngine`, as
      `tfvocoder.inference.streaming.StreamingVocoder` gives it): blocks
      with a fixed latency. Multiscale: leaves out the exact band-edge
      correction that needs the whole input (see
      `tfvocoder.inference.streaming_merge`); MelGAN: the same audio.
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
    self.live = bool(live)
    self.merge_core_frames = int(merge_core_frames or default_merge_core(
        self.config, self.merge_frames, self.live))
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
  def block_frames(self) -> int:
    """Frames per live block: the merge core (multiscale) or what one
    chunk keeps between two receptive fields (MelGAN)."""
    if self.runtime.has_bands:
      return self.merge_core_frames
    return self.chunk_frames - 2 * self.receptive_field_frames

  @property
  def latency_frames(self) -> Optional[int]:
    """Mel frames needed beyond the end of an emitted block (None: the
    whole input, for the exact multiscale mode)."""
    if not self.runtime.has_bands:
      return self.receptive_field_frames
    if not self.live:
      return None
    lookahead = (self.merge_frames - self.merge_context_frames
                 - self.merge_core_frames)   # the merge window's right part
    return self.receptive_field_frames + lookahead

  def block_boundaries(self, total: int) -> List[int]:
    """Frames where outputs of different model calls meet when the exact
    mode streams `total` frames (chunk edges, and merge-window cores for
    multiscale)."""
    size = self.chunk_frames if self.fixed else min(self.chunk_frames, total)
    edges = {c.keep_start for c in plan_chunks(
        total, size, self.receptive_field_frames)}
    if self.runtime.has_bands and (self.fixed or total > self.merge_frames):
      edges |= set(range(0, total, self.merge_core_frames))
    return sorted(e for e in edges if 0 < e < total)

  # --- vocoding --------------------------------------------------------------
  def vocode(self, mel, progress: Optional[Progress] = None) -> np.ndarray:
    """mel `[frames, n_mels]` (or `[1, frames, n_mels]`) -> float32 audio
    `[frames * hop_length]`."""
    blocks = list(self.stream(mel, progress))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

  def one_shot(self, mel) -> np.ndarray:
    """The whole mel in one call (a TFLite file: exactly `chunk_frames`)."""
    return np.asarray(self.runtime.audio(self._checked(mel)), np.float32)

  def stream(self, mel, progress: Optional[Progress] = None
             ) -> Iterator[np.ndarray]:
    """Yields consecutive float32 audio blocks of mel `[frames, n_mels]` or
    `[1, frames, n_mels]` (any array-like with random access, e.g. a
    memory-mapped `.npy`). `progress(frames_done, total)` follows the
    generator."""
    mel = self._checked(mel)
    total = len(mel)
    if total == 0:
      return
    if self.live:
      yield from self._live(mel, progress)
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
    """`mel` as `[frames, n_mels]` (a `[1, frames, n_mels]` one unbatched,
    as the SavedModel signature takes it); ValueError if neither."""
    given = getattr(mel, "shape", None)
    shape, n = given, self.config.n_mels
    if shape is not None and len(shape) == 3 and shape[0] == 1:
      mel, shape = mel[0], shape[1:]
    if shape is None or len(shape) != 2 or shape[1] != n:
      raise ValueError(f"mel must be [frames, {n}] or [1, frames, {n}]; got "
                       f"shape {given}")
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
    for chunk in plan_chunks(total, size, self.receptive_field_frames,
                             first, last):
      x = np.asarray(mel[chunk.start:min(chunk.stop, total)], np.float32)
      if not np.all(np.isfinite(x)):
        raise ValueError(f"mel has NaN/inf values in frames "
                         f"[{chunk.start}, {min(chunk.stop, total)})")
      yield chunk.keep_start, chunk.keep_stop, self.chunk_outputs(chunk, x)

  def chunk_outputs(self, chunk: Chunk, x: np.ndarray) -> List[np.ndarray]:
    """Outputs (bands, or [audio]) of the kept frames of `chunk`, given its
    mel frames `x` `[frames, n_mels]` from `chunk.start` on (a fixed-size
    chunk reaching past them is padded with silence)."""
    if self.fixed and len(x) < self.chunk_frames:
      x = np.concatenate([x, self._silence(self.chunk_frames - len(x))])
    bands = self.runtime.has_bands
    hops = self.config.band_hops if bands else (self.config.hop_length,)
    out = self.runtime.bands(x) if bands else [self.runtime.audio(x)]
    a, b = chunk.keep_start - chunk.start, chunk.keep_stop - chunk.start
    return [np.array(o[a * hop:b * hop]) for o, hop in zip(out, hops)]

  def _live(self, mel, progress: Optional[Progress]) -> Iterator[np.ndarray]:
    """`stream` in live mode: the mel fed to a `LiveEngine` a block at a
    time."""
    engine, total = LiveEngine(self), len(mel)
    for start in range(0, total, self.block_frames):
      stop = min(start + self.block_frames, total)
      x = np.asarray(mel[start:stop], np.float32)
      if not np.all(np.isfinite(x)):
        raise ValueError(f"mel has NaN/inf values in frames [{start}, {stop})")
      yield from engine.feed(x)
      if progress is not None:
        progress(stop, total)
    yield from engine.finish()

  def _all_finite(self, mel):
    x = np.asarray(mel, np.float32)
    if not np.all(np.isfinite(x)):
      raise ValueError("mel has NaN/inf values")
    return x
