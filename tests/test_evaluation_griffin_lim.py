"""tfvocoder.evaluation.griffin_lim: seeded, aligned with the real audio."""

import numpy as np

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import metrics
from tfvocoder.evaluation.griffin_lim import griffin_lim


def test_griffin_lim_is_aligned_with_the_real_audio():
  config = VocoderConfig()
  music, _ = load_music(config.sample_rate, seconds=1.0)
  n = len(music) // config.hop_length * config.hop_length
  real = music[:n]
  mel = dsp.log_mel(real[None], config).numpy()[0]
  out = griffin_lim(mel, config, n_iter=16, seed=0)
  assert out.shape == (n,) and out.dtype == np.float32
  np.testing.assert_array_equal(out, griffin_lim(mel, config, 16, seed=0))
  # Best alignment at zero shift: shifting by half a hop scores worse.
  score = lambda x: metrics.log_mel_l1(real, x, config)["overall"]
  aligned = score(out)
  assert aligned < 0.15
  half = config.hop_length // 2
  assert aligned < score(np.roll(out, half))
  assert aligned < score(np.roll(out, -half))
