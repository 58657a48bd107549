"""`plan_chunks`: fixed-size chunks tiling an input with context."""

import pytest

from tfvocoder.inference import plan_chunks


@pytest.mark.parametrize("total,size,context,first,last", [
    (1000, 64, 5, 0, None), (1000, 64, 5, 300, 700), (130, 64, 8, 0, None),
    (64, 64, 8, 0, None), (20, 64, 8, 0, None), (1000, 17, 8, 0, 3),
    (977, 100, 30, 970, 977)])
def test_plan_chunks_tiles_with_context(total, size, context, first, last):
  last = total if last is None else last
  chunks = plan_chunks(total, size, context, first, last)
  assert chunks[0].keep_start == first and chunks[-1].keep_stop == last
  for a, b in zip(chunks, chunks[1:]):
    assert a.keep_stop == b.keep_start            # contiguous, no overlap
  for c in chunks:
    assert c.stop - c.start == size and c.start >= 0
    assert c.start <= c.keep_start < c.keep_stop <= min(c.stop, total)
    # Enough context on each side, or the chunk edge is the input's edge.
    assert c.keep_start - c.start >= context or c.start == 0
    assert c.stop - c.keep_stop >= context or c.stop >= total


def test_plan_chunks_rejects_chunks_without_room():
  with pytest.raises(ValueError, match="leaves nothing"):
    plan_chunks(1000, 16, 8)


def test_chunk_count_of_a_minute():
  # 60 s = 5168 frames; 256-frame chunks keep 248 at each end of the input
  # and 240 between: 2 + ceil((5168 - 496) / 240) = 22 chunks.
  chunks = plan_chunks(5168, 256, 8)
  assert len(chunks) == 22
  assert sum(c.keep_stop - c.keep_start for c in chunks) == 5168
