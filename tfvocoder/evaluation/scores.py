"""Every metric of one example pair, and their means over examples.

`METRICS` maps a name to `fn(real, fake, config) -> dict` with an "overall"
float: the `DISTANCES` of `metrics` and `phase` (lower is better, 0 for
identical audio, also per band or edge) and `VISQOL` (`visqol.visqol`, a MOS: higher is
better, no bands; seconds per example, so `all_metrics` can leave it out).
"""

from typing import Dict, Sequence

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import metrics
from tfvocoder.evaluation.phase import phase_coherence
from tfvocoder.evaluation.visqol import visqol as visqol_score

VISQOL = "visqol"
DISTANCES = {"log_mel_l1": metrics.log_mel_l1, "mr_stft": metrics.mr_stft,
             "lsd_db": metrics.lsd_db, "phase_coherence": phase_coherence}
METRICS = dict(DISTANCES, **{VISQOL: visqol_score})
HIGHER_IS_BETTER = frozenset({VISQOL})

Scores = Dict[str, metrics.Distance]


def all_metrics(real: np.ndarray, fake: np.ndarray, config: VocoderConfig,
                visqol: bool = True) -> Scores:
  """{name: dict} of every metric in `METRICS` (without `VISQOL` when
  `visqol` is False).

  Args:
    real, fake: `[samples]` float audio at `config.sample_rate`, the same
      length (with ViSQOL at least `visqol.min_samples(config)`).
    config: the signal settings.
    visqol: also score ViSQOL.
  """
  return {name: fn(real, fake, config) for name, fn in METRICS.items()
          if visqol or name != VISQOL}


def mean_metrics(per_example: Sequence[Scores]) -> Scores:
  """Element-wise mean over examples of `all_metrics` dicts (None where any
  example has None; lists averaged per entry; `edges_hz` kept)."""
  def combine(values):
    first = values[0]
    if isinstance(first, dict):
      return {k: combine([v[k] for v in values]) for k in first}
    if isinstance(first, list):
      return [combine([v[i] for v in values]) for i in range(len(first))]
    if any(v is None for v in values):
      return None
    return float(np.mean(values))
  if not per_example:
    raise ValueError("no examples to average")
  return combine(list(per_example))
