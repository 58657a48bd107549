"""Evaluation: vocode held-out music with every system, measure, report.

  metrics      distances (log-mel L1, MR-STFT, LSD, phase excess), per band
  griffin_lim  the Griffin-Lim baseline
  report       the static HTML report
  cost         FLOPs per audio second and timing
"""
