"""`EdgeCorrection`: smooth merge + edge part = the one-shot FFT merge."""

import numpy as np
import pytest

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.dsp import builtin_merge
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference.edge_correction import EdgeCorrection
from vocoder_models import random_bands


def _global_smooth_plus_edges(bands, config):
  frames = bands[0].shape[-1] // config.hop_length
  smooth = builtin_merge.merge_bands_smooth(bands, config).numpy()[0]
  edges = EdgeCorrection(config, frames)
  edges.feed_periodic([np.asarray(b)[0] for b in bands])
  return smooth, edges.correction(0, frames)


@pytest.mark.parametrize("frames", [37, 333])
def test_smooth_merge_plus_edge_correction_is_the_fft_merge(frames):
  config = VocoderConfig()
  n = frames * config.hop_length
  audio, _ = load_music(config.sample_rate, seconds=n / config.sample_rate + 1,
                        seed=4)
  for bands in (random_bands(config, n, batch=1, seed=frames),
                dsp.split_bands(audio[None, :n], config)):
    expected = dsp.merge_bands(bands, config).numpy()[0]
    smooth, correction = _global_smooth_plus_edges(bands, config)
    assert snr_db(expected, smooth + correction) >= 80


def test_edge_correction_streams_in_any_blocks():
  config = VocoderConfig()
  frames = 300
  bands = [b[0] for b in random_bands(config, frames * config.hop_length,
                                      batch=1, seed=5)]
  whole = EdgeCorrection(config, frames)
  whole.feed_periodic(bands)
  streamed = EdgeCorrection(config, frames)
  context = streamed.context_frames
  hops = config.band_hops
  streamed.prime([b[(frames - context) * h:] for b, h in zip(bands, hops)])
  cuts = [0, 1, 2, 50, 51, 177, frames]
  for a, b in zip(cuts, cuts[1:]):
    streamed.feed([x[a * h:b * h] for x, h in zip(bands, hops)])
  streamed.finish([b[:context * h] for b, h in zip(bands, hops)])
  expected = whole.correction(0, frames)
  got = np.concatenate([streamed.correction(a, b)
                        for a, b in zip(cuts, cuts[1:])])
  assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()
