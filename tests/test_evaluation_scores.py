"""tfvocoder.evaluation.scores: every metric of a pair (ViSQOL optional) and
the mean over examples, metrics without bands included."""

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import metrics, scores, visqol

CONFIG = VocoderConfig()


def test_registry():
  assert set(scores.METRICS) == set(scores.DISTANCES) | {scores.VISQOL}
  assert scores.METRICS[scores.VISQOL] is visqol.visqol
  assert scores.HIGHER_IS_BETTER == {scores.VISQOL}


def test_all_metrics_with_and_without_visqol():
  rng = np.random.default_rng(0)
  real = 0.1 * rng.standard_normal(visqol.min_samples(CONFIG))
  fake = real + 0.01 * rng.standard_normal(len(real))
  without = scores.all_metrics(real, fake, CONFIG, visqol=False)
  assert set(without) == set(scores.DISTANCES)
  assert without["lsd_db"] == metrics.lsd_db(real, fake, CONFIG)
  both = scores.all_metrics(real, fake, CONFIG)              # ViSQOL on
  assert set(both) == set(scores.METRICS)
  assert set(both[scores.VISQOL]) == {"overall"}
  assert 1.0 <= both[scores.VISQOL]["overall"] <= 4.8
  assert both["lsd_db"] == without["lsd_db"]


def test_mean_metrics():
  a = {"m": {"overall": 1.0, "bands": [1.0, None], "edges_hz": [5.0]},
       scores.VISQOL: {"overall": 4.0}}
  b = {"m": {"overall": 3.0, "bands": [2.0, 4.0], "edges_hz": [5.0]},
       scores.VISQOL: {"overall": 3.0}}
  assert scores.mean_metrics([a, b]) == {
      "m": {"overall": 2.0, "bands": [1.5, None], "edges_hz": [5.0]},
      scores.VISQOL: {"overall": 3.5}}
  # A silent reference has no ViSQOL: no mean either.
  c = dict(b, **{scores.VISQOL: {"overall": None}})
  assert scores.mean_metrics([a, c])[scores.VISQOL] == {"overall": None}
