"""Live vocoding: mel frames in, a few at a time; audio blocks out.

`LiveChunks` lays `plan_chunks`' chunks over the frames seen so far;
`LiveEngine` merges (multiscale, `streaming_merge.LiveMerge`) or hands out
(MelGAN) their outputs as blocks with a fixed latency. Both
`Vocoder(live=True)` and `streaming.StreamingVocoder` run it, on a
`tfvocoder.inference.vocoder.Vocoder` passed in.
"""

from typing import List, Optional

import numpy as np

from tfvocoder.inference.chunks import plan_chunks
from tfvocoder.inference.streaming_merge import LiveMerge


class LiveChunks:
  """Exact generator outputs of a mel that arrives a few frames at a time.

  `take(need)` gives the outputs of frames `[done, need)` once the mel up to
  frame `need + R` is in (`ready`; R the receptive field), from the chunks
  `plan_chunks` lays over them as if the input ended there (after `finish`:
  at its true end, as the exact mode does), so every output sees the input
  frames it sees in one-shot generation. Which chunks run depends only on
  the `need`s and the total, never on how the frames were fed. Mel frames
  no later chunk starts at are dropped: memory is a chunk of mel plus what
  was fed beyond the last `need`.
  """

  def __init__(self, vocoder):
    self.vocoder = vocoder
    self.context = vocoder.receptive_field_frames
    self.mel = np.zeros((0, vocoder.config.n_mels), np.float32)
    self.pieces: List[np.ndarray] = []      # fed after `mel`
    self.start = 0           # frame of mel[0]
    self.frames = 0          # frames fed
    self.done = 0            # outputs of the frames before this are out
    self.total: Optional[int] = None        # set by `finish`

  def feed(self, frames: np.ndarray) -> None:
    """Appends checked float32 mel frames `[n, n_mels]`."""
    if len(frames):
      self.pieces.append(frames)
      self.frames += len(frames)

  def finish(self) -> None:
    """No more frames: the input has `frames` frames."""
    self.total = self.frames

  def ready(self, need: int) -> bool:
    if self.total is not None:
      return need <= self.total
    return need + self.context <= self.frames

  def take(self, need: int) -> List[np.ndarray]:
    """Outputs (bands, or [audio]) of frames `[done, need)`, 1-D float32."""
    vocoder, end = self.vocoder, self.total
    if end is None:
      end, size = need + self.context, vocoder.chunk_frames
      chunks = plan_chunks(max(end, size), size, self.context, self.done,
                           need)
    else:
      size = vocoder.chunk_frames if vocoder.fixed else min(
          vocoder.chunk_frames, end)
      chunks = plan_chunks(end, size, self.context, self.done, need)
    self.mel = np.concatenate([self.mel] + self.pieces)
    self.pieces = []
    mel, first = self.mel, self.start
    outputs = [vocoder.chunk_outputs(c, mel[c.start - first:
                                            min(c.stop, end) - first])
               for c in chunks]
    self.done = need
    drop = max(0, need - vocoder.chunk_frames - self.start)
    self.mel, self.start = self.mel[drop:], self.start + drop
    return [np.concatenate(parts) for parts in zip(*outputs)]


class LiveEngine:
  """Live vocoding: mel frames in, a few at a time; audio blocks out.

  Block j of the multiscale model is the `LiveMerge` block of frames
  `[j C, (j + 1) C)` (C the merge core), complete once the mel reaches its
  merge window's end plus the receptive field R. MelGAN's blocks are what
  the exact mode's chunks keep (`chunk_frames - R` frames, then
  `chunk_frames - 2 R`), complete once a chunk's frames are in. So a
  block's audio has come out once the mel `latency_frames` frames past
  its first frame is in; `finish` gives the rest.
  """

  def __init__(self, vocoder):
    self.vocoder = vocoder
    self.chunks = LiveChunks(vocoder)
    self.merge = None
    if vocoder.runtime.has_bands:
      self.merge = LiveMerge(vocoder.runtime.merge, vocoder.config,
                             vocoder.merge_frames, vocoder.merge_core_frames)

  @property
  def latency_frames(self) -> int:
    """Most frames fed after a frame before its audio is out: frame f's
    audio is complete once frames `[0, f + latency_frames]` are in."""
    if self.merge is None:                 # the first block: a whole chunk
      return self.vocoder.chunk_frames - 1
    return (self.merge.core + self.merge.lookahead + self.chunks.context
            - 1)

  def feed(self, frames: np.ndarray) -> List[np.ndarray]:
    """Appends checked float32 mel frames `[n, n_mels]`; returns the float32
    audio blocks now complete."""
    self.chunks.feed(frames)
    return self._advance()

  def finish(self) -> List[np.ndarray]:
    """The remaining audio blocks, the input having ended."""
    self.chunks.finish()
    blocks = self._advance()
    if self.merge is not None:
      blocks += self.merge.finish(self.chunks.total)
    return blocks

  def _need(self) -> int:
    """Frames whose generator outputs the next block needs."""
    chunks = self.chunks
    if chunks.total is not None:
      return chunks.total
    if self.merge is not None:
      return self.merge.needed
    return chunks.done + self.vocoder.block_frames + (
        0 if chunks.done else chunks.context)

  def _advance(self) -> List[np.ndarray]:
    blocks = []
    need = self._need()
    while need > self.chunks.done and self.chunks.ready(need):
      outputs = self.chunks.take(need)
      blocks += self.merge.feed(outputs) if self.merge else outputs
      need = self._need()
    return blocks
