"""Evaluation: vocode held-out music with every system, measure, report.

  examples     the held-out examples: seeded windows of shards, audio files
  systems      every system (trained models, Griffin-Lim) behind `vocode(mel)`
  run          `evaluate()`: examples x systems -> metrics.json, report.html
  metrics      distances (log-mel L1, MR-STFT, LSD, phase excess), per band
  visqol       ViSQOL v3 MOS-LQO (audio mode, 48 kHz; higher is better)
  scores       every metric of one example pair (`all_metrics`), their means
  griffin_lim  the Griffin-Lim baseline
  report       the static HTML report
  cost         FLOPs per audio second and timing (never exports)
  learning_curve  `run_curves()`: recipes trained for equal training time,
               scored at marks -> curves.json (`curve_setup`: recipes,
               marks, the saved state; `curve_report`: table and chart)

This file imports nothing (every module above may import it for
`EvaluateError` without a circle).
"""


class EvaluateError(RuntimeError):
  """Bad input (model dir, data, audio file); the message names the path."""
