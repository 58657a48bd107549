"""`merged_blocks`: the band merge streamed on windows equals the one-shot one.

The exact bands come from memory here (no model): blocks of frames cut out of
white-noise bands, merged by the TensorFlow smooth merge.
"""

import numpy as np
import pytest

from tfvocoder import dsp
from tfvocoder.config import VocoderConfig
from tfvocoder.dsp import builtin_merge
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference.streaming_merge import (default_merge_core,
                                                 merged_blocks)
from vocoder_models import random_bands

WINDOW, CORE = 128, 64          # merge window and kept core, frames


def _exact_source(bands, config, step):
  """An `ExactBands` over 1-D bands in memory, `step` frames per block."""
  def exact(first, last):
    for a in range(first, last, step):
      b = min(a + step, last)
      yield a, b, [x[a * h:b * h] for x, h in zip(bands, config.band_hops)]
  return exact


def _smooth_merge(config):
  return lambda window: builtin_merge.merge_bands_smooth(
      [w[None] for w in window], config).numpy()[0]


@pytest.mark.parametrize("frames", [700, 150])   # sliding buffer / in memory
def test_exact_stream_is_the_one_shot_merge(frames):
  config = VocoderConfig()
  bands = [b[0] for b in random_bands(config, frames * config.hop_length,
                                      batch=1, seed=frames)]
  expected = dsp.merge_bands([b[None] for b in bands], config).numpy()[0]
  progress = []
  blocks = list(merged_blocks(
      _exact_source(bands, config, 48), _smooth_merge(config), frames, config,
      WINDOW, CORE, tail_frames=48,
      progress=lambda done, total: progress.append((done, total))))
  assert [len(b) for b in blocks] == [
      min(CORE, frames - p) * config.hop_length for p in range(0, frames, CORE)]
  assert snr_db(expected, np.concatenate(blocks)) >= 80     # 94 dB measured
  assert progress[-1] == (frames, frames)
  assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_default_cores():
  config = VocoderConfig()           # 86.1 frames/s, 20 Hz crossovers
  # Exact: 4 / 20 Hz = 0.2 s = 17.2 -> 18 frames of context on each side.
  assert default_merge_core(config, 256, live=False) == 256 - 2 * 18
  assert default_merge_core(config, 256, live=True) == 128
  assert default_merge_core(config, 64, live=False) == 32   # never below half


def test_exact_stream_with_the_default_core_is_the_one_shot_merge():
  config, frames, window = VocoderConfig(), 900, 256
  core = default_merge_core(config, window, live=False)
  bands = [b[0] for b in random_bands(config, frames * config.hop_length,
                                      batch=1, seed=5)]
  expected = dsp.merge_bands([b[None] for b in bands], config).numpy()[0]
  got = np.concatenate(list(merged_blocks(
      _exact_source(bands, config, 240), _smooth_merge(config), frames,
      config, window, core, tail_frames=248)))
  assert snr_db(expected, got) >= 80   # 94.6 dB measured (core 128: 94.8)


def test_live_stream_is_the_smooth_merge_of_silence_padded_bands():
  config = VocoderConfig()
  frames, hop = 400, config.hop_length
  bands = [b[0] for b in random_bands(config, frames * hop, batch=1, seed=3)]
  padded = [np.pad(b, WINDOW * h)[None]
            for b, h in zip(bands, config.band_hops)]
  expected = builtin_merge.merge_bands_smooth(padded, config).numpy()[0][
      WINDOW * hop:(WINDOW + frames) * hop]
  got = np.concatenate(list(merged_blocks(
      _exact_source(bands, config, 100), _smooth_merge(config), frames,
      config, WINDOW, CORE, live=True)))
  assert snr_db(expected, got) >= 80             # 112 dB measured


def test_too_little_context_for_the_edge_filters_is_an_error():
  config = VocoderConfig()
  bands = [b[0] for b in random_bands(config, 300 * config.hop_length,
                                      batch=1)]
  with pytest.raises(ValueError, match="merge context 2 frames"):
    next(merged_blocks(_exact_source(bands, config, 50),
                       _smooth_merge(config), 300, config, 68, 64))
