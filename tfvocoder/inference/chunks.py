"""Chunk planning: generator calls over a mel so that every kept output sees
the input frames it sees in one-shot generation (`plan_chunks`)."""

import dataclasses
from typing import List, Optional

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
