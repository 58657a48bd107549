"""The multiscale band merge, streamed so that it equals the one-shot merge.

The one-shot merge (`dsp.merge_bands`) is a brick-wall FFT over the whole
input. It is computed as two parts (see `tfvocoder.inference.edge_correction`):

1. the smooth merge (`dsp.builtin_merge.merge_bands_smooth`, the exported
   `merge` signature), whose kernel is short: run on windows of `window`
   frames of the periodic band sequence, keeping the central `core` frames
   of each; windows past either end of the input wrap around, as the
   one-shot FFT does (the first `window` and last `context` frames of bands
   are computed first and kept);
2. the edge part (`EdgeCorrection`), accumulated while the bands stream by
   and added block by block once the last frame has been seen.

So exact output needs two passes: the smooth audio is spilled to a temporary
file past `SPILL_IN_MEMORY_BYTES` (memory stays flat) and corrected on the way out. The live mode
(`LiveMerge`, `live=True`) skips the second part and the wrap-around
(frames outside the input are silence): each block comes out as soon as the
bands up to its window's end are in (the on-device mode, fed a frame at a
time by `tfvocoder.inference.streaming`), differing from one-shot output
only within `EDGE_TRANSITION_HZ` of the band edges and near the input's two
ends.
"""

import math
import tempfile
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp.bands import EDGE_TRANSITION_HZ
from tfvocoder.inference.edge_correction import (EdgeCorrection,
                                                  edge_context_frames)

# Seconds of bands each side of a kept core, times 1 / transition_hz: the
# smooth crossovers' kernel decays like 1/t^3 on a 1 / transition_hz scale
# and is ~120 dB down at 4 of them (BUILD_NOTES.md, streaming merge).
_SMOOTH_CONTEXT_SCALES = 4.0
# First-pass audio kept in memory before it spills to disk (3 minutes).
SPILL_IN_MEMORY_BYTES = 16 * 2 ** 20

# exact(first, last) -> iterator of (start, stop, bands of frames [start, stop))
ExactBands = Callable[[int, int], Iterator[Tuple[int, int, List[np.ndarray]]]]


def default_merge_core(config: VocoderConfig, window: int,
                       live: bool) -> int:
  """Frames kept of each `window`-frame merge window by default.

  Live: half the window (the latency is the window's right part). Exact:
  all but the context the smooth kernel and the edge filters need on each
  side (fewer merge calls; half the window if that leaves less).
  """
  context = max(edge_context_frames(config), math.ceil(
      _SMOOTH_CONTEXT_SCALES * config.frame_rate / EDGE_TRANSITION_HZ))
  if live:
    return window // 2
  return max(window - 2 * context, window // 2)


class BandStore:
  """Exact bands of any frame range, frames taken modulo the input length.

  Short inputs keep all their bands. Long ones compute their last
  `tail_frames` (>= context) first, then every other frame once, in order,
  into a sliding buffer, keeping a copy of the first `window` frames: what
  windows past either end wrap onto. Every band block is also passed, in
  order, to `edges` (if any), primed with the tail, finished with the head.
  """

  def __init__(self, exact: ExactBands, total: int, hops: Sequence[int],
               window: int, context: int, tail_frames: int,
               edges: Optional[EdgeCorrection] = None):
    self.hops, self.total, self.edges = tuple(hops), total, edges
    self.window = window
    self.all = total <= 2 * context + window
    if self.all:
      self.head = _collect(exact(0, total))
      if edges is not None:
        edges.feed_periodic(self.head)
      return
    tail_frames = min(max(tail_frames, context), total - window)
    self.tail = _collect(exact(total - tail_frames, total))
    self.head, self._head_parts = None, []
    if edges is not None:
      edges.prime(self.tail)
    self.source = exact(0, total - tail_frames)
    self.source_end = total - tail_frames
    self.start = self.stop = 0
    self.buffer = [np.zeros(0, np.float32) for _ in self.hops]

  def _frames(self, bands, first, stop):
    return [b[first * h:stop * h] for b, h in zip(bands, self.hops)]

  def _pull(self) -> None:
    if self.stop < self.source_end:
      _, end, out = next(self.source)
    else:
      end, out = self.total, self.tail
    self.buffer = [np.concatenate([x, y]) for x, y in zip(self.buffer, out)]
    if self.head is None:
      self._head_parts.append(out)
      if end >= self.window:
        self.head = self._frames(_join(self._head_parts), 0, self.window)
        self._head_parts = None
    self.stop = end
    if self.edges is not None:
      self.edges.feed(out)

  def get(self, first: int, stop: int) -> List[np.ndarray]:
    """Bands of frames [first, stop) of the periodic band sequence."""
    total = self.total
    if self.all:
      index = np.arange(first, stop) % total
      return [b.reshape(total, h)[index].reshape(-1)
              for b, h in zip(self.head, self.hops)]
    pieces = []
    if first < 0:
      tail_frames = len(self.tail[0]) // self.hops[0]
      pieces.append(self._frames(self.tail, tail_frames + first, tail_frames))
    a, b = max(first, 0), min(stop, total)
    while self.stop < b:
      self._pull()
    pieces.append(self._frames(self.buffer, a - self.start, b - self.start))
    if stop > total:
      pieces.append(self._frames(self.head, 0, stop - total))
    return [np.concatenate(p) for p in zip(*pieces)]

  def release(self, first: int) -> None:
    """Frames before `first` will not be asked for again."""
    if self.all or first <= self.start:
      return
    drop = min(first, self.stop) - self.start
    self.buffer = self._frames(self.buffer, drop, self.stop - self.start)
    self.start += drop

  def finish(self) -> None:
    """Feeds what is left and closes the edge accumulator."""
    if self.all or self.edges is None:
      return
    while self.stop < self.total:
      self._pull()
    self.edges.finish(self.head)


def _join(blocks) -> List[np.ndarray]:
  return [np.concatenate(p) for p in zip(*blocks)]


def _collect(blocks) -> List[np.ndarray]:
  return _join([out for _, _, out in blocks])


class LiveMerge:
  """The live merge of exact bands fed in order, a few frames at a time.

  Block j is audio frames `[j * core, j * core + core)`: the central `core`
  frames of the smooth merge of the `window` frames of bands starting
  `context` frames before it, bands outside the input being silence. It is
  merged as soon as the bands of frames `< needed` are in (its window's
  end), and the rest at `finish`. Bands before the next window are dropped:
  memory is one window of bands.

  Args:
    merge: smooth merge of `window` frames of bands -> audio.
    config: gives the hop and band hops.
    window, core: merge window and kept core, frames.
  """

  def __init__(self, merge: Callable, config: VocoderConfig, window: int,
               core: int):
    self.merge, self.hops = merge, tuple(config.band_hops)
    self.hop, self.window, self.core = config.hop_length, window, core
    self.context = (window - core) // 2
    self.position = 0              # first frame of the next block
    self.lookahead = window - self.context - core
    # Bands from frame `position - context` on; silence before frame 0.
    self.buffer = [np.zeros(self.context * h, np.float32) for h in self.hops]

  @property
  def stop(self) -> int:
    """Frame after the last band frame fed."""
    return self.position - self.context + len(self.buffer[0]) // self.hops[0]

  @property
  def needed(self) -> int:
    """Bands of frames before this are needed to merge the next block."""
    return self.position + self.core + self.lookahead

  def feed(self, bands: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Appends the next frames of bands (1-D, largest band first); returns
    the float32 audio blocks now complete (`core` frames each)."""
    self.buffer = [np.concatenate([x, np.asarray(y, np.float32)])
                   for x, y in zip(self.buffer, bands)]
    blocks = []
    while self.stop >= self.needed:
      blocks.append(self._block(self.core))
    return blocks

  def finish(self, total: int) -> List[np.ndarray]:
    """The remaining blocks of a `total`-frame input whose bands have all
    been fed (silence past its end); the last block may be shorter."""
    if self.stop != total:
      raise ValueError(f"fed bands of {self.stop} frames, not {total}")
    self.buffer = [np.concatenate([b, np.zeros(self.window * h, np.float32)])
                   for b, h in zip(self.buffer, self.hops)]
    blocks = []
    while self.position < total:
      blocks.append(self._block(min(self.core, total - self.position)))
    return blocks

  def _block(self, keep: int) -> np.ndarray:
    audio = self.merge([b[:self.window * h]
                        for b, h in zip(self.buffer, self.hops)])
    c = self.context * self.hop
    block = np.array(audio[c:c + keep * self.hop], np.float32)  # a copy
    self.position += keep
    self.buffer = [b[keep * h:] for b, h in zip(self.buffer, self.hops)]
    return block


def merged_blocks(exact: ExactBands, merge: Callable, total: int,
                  config: VocoderConfig, window: int, core: int,
                  tail_frames: int = 0, live: bool = False,
                  progress: Optional[Callable[[int, int], None]] = None
                  ) -> Iterator[np.ndarray]:
  """Yields consecutive float32 audio blocks (`core` frames each, the last
  shorter) of the one-shot merge of the exact bands of `total` frames
  (`live=True`: of the live merge, `LiveMerge`).

  Args:
    exact: the exact band source (see `ExactBands`).
    merge: smooth merge of `window` frames of bands -> audio.
    tail_frames: how many of the last frames to compute first (e.g. what
      one generator chunk gives anyway); at least the merge context.
    progress: called with (frames merged, total) during the first pass.
  """
  if live:
    yield from _live_blocks(exact, LiveMerge(merge, config, window, core),
                            total, progress)
    return
  hop = config.hop_length
  context = (window - core) // 2
  edges = EdgeCorrection(config, total)
  if context < edges.context_frames:
    raise ValueError(f"merge context {context} frames < the "
                     f"{edges.context_frames} the edge filters need")
  store = BandStore(exact, total, config.band_hops, window, context,
                    tail_frames, edges)

  def smooth():
    for p in range(0, total, core):
      keep = min(core, total - p)
      audio = merge(store.get(p - context, p - context + window))
      store.release(p + core - context)
      if progress is not None:
        progress(p + keep, total)
      yield np.array(audio[context * hop:(context + keep) * hop],
                     np.float32)                      # a copy, never a view

  with tempfile.SpooledTemporaryFile(max_size=SPILL_IN_MEMORY_BYTES) as spill:
    for block in smooth():
      spill.write(block.tobytes())
    store.finish()
    spill.seek(0)
    for p in range(0, total, core):
      keep = min(core, total - p)
      size = keep * hop * np.dtype(np.float32).itemsize
      block = np.frombuffer(spill.read(size), np.float32)
      yield block + edges.correction(p, p + keep)


def _live_blocks(exact: ExactBands, live: LiveMerge, total: int,
                 progress: Optional[Callable[[int, int], None]]
                 ) -> Iterator[np.ndarray]:
  """`merged_blocks(live=True)`: the exact bands through `live`."""
  def blocks():
    for _, _, out in exact(0, total):
      yield from live.feed(out)
    yield from live.finish(total)
  merged = 0
  for block in blocks():
    merged += len(block) // live.hop
    if progress is not None:
      progress(merged, total)
    yield block
