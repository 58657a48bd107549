"""The decode worker pool: a spawn process pool that never imports TensorFlow.

An executor here is None (work in this process) or `(ProcessPoolExecutor,
workers)`; `ordered_map` keeps results in input order with a bounded number
in flight, so the decoded audio held stays small.
"""

import collections
import concurrent.futures
import multiprocessing
import os
from typing import Iterable, Iterator


def default_workers() -> int:
  """CPU cores this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


def ordered_map(executor, fn, items: Iterable, *args) -> Iterator:
  """`fn(item, *args)` for each item, in order.

  `executor` is None (run here) or `(ProcessPoolExecutor, workers)`; at most
  2 * workers items are in flight, which bounds the decoded audio held.
  """
  if executor is None:
    for item in items:
      yield fn(item, *args)
    return
  executor, workers = executor
  ahead = 2 * workers
  pending = collections.deque()
  iterator = iter(items)
  for item in iterator:
    pending.append(executor.submit(fn, item, *args))
    if len(pending) >= ahead:
      yield pending.popleft().result()
  while pending:
    yield pending.popleft().result()


def make_executor(workers: int):
  """None (decode in this process) or (spawn process pool, workers)."""
  if workers <= 1:
    return None
  return concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=multiprocessing.get_context("spawn")), workers


def shutdown(executor):
  if executor is not None:
    executor[0].shutdown(wait=True, cancel_futures=True)
