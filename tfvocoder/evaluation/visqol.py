"""ViSQOL v3 (audio mode) of vocoded audio against the real audio.

`visqol(real, fake, config)` resamples both `[samples]` signals from
`config.sample_rate` to 48 kHz, ViSQOL's audio-mode rate, with the project's
resampler (`audio_io.resample`, soxr HQ), and scores them with the
visqol-python package (a Python port of Google's ViSQOL v3): its MOS-LQO,
higher is better, from 1 (worst) to about 4.73 (identical audio: the
ceiling of its SVR quality model). It matches the level of `fake` to
`real` first, so a gain changes nothing. There are no per-band figures.

Cost: one `VisqolApi` per process (`_api`, on first use: importing the
package and its numba kernels takes about 2 s; the first run after
installing it compiles and caches them, about 17 s), then 0.3-1 s per
2 s example on 2 busy cores (the distances together: 0.1 s).

Length: ViSQOL compares patches of 30 frames of 80 ms windows (hop 20 ms)
and needs 45 frames, 46 080 samples at 48 kHz (0.96 s); `min_samples` is
that at `config.sample_rate`, and shorter audio is a ValueError naming both.

Alignment: visqol-python aligns the signals globally (envelope
cross-correlation) and then per patch, so a delay barely moves its score.
Measured on 2 s of music at 22 050 Hz (score unshifted / delayed by 384
samples / 1024 / 11 025): the real audio 4.732 / 4.732 / 4.731 / 4.683,
its Griffin-Lim 4.609 / 4.605 / 4.599 / 4.520. (Issue 11 saw the C++ tool
drop Griffin-Lim from 4.6 to 1.0 for a 384-sample delay; this package does
not.) No figure here relies on that search: every system's output is
sample-aligned with its reference (tests/test_evaluation_systems.py).

Silence: a silent reference (`metrics.silent_reference`) has nothing to
compare with ("overall" None; the evaluation skips such examples); an
all-zero output scores `MOS_MIN` (ViSQOL's level matching would divide by
its zero level; any near-silent output scores 1.0 too).
"""

import functools
import math

import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.data.audio_io import resample
from tfvocoder.evaluation import metrics

VISQOL_RATE = 48000        # Hz: ViSQOL's audio mode
MOS_MIN = 1.0              # ViSQOL's lowest MOS-LQO


@functools.lru_cache(maxsize=1)
def _api():
  """The process's one `VisqolApi`, audio mode."""
  # Imported on first use: numba and the package's kernels take seconds,
  # which `--novisqol` runs (and every other importer) never pay.
  from visqol import VisqolApi
  api = VisqolApi()
  api.create(mode="audio")
  return api


@functools.lru_cache(maxsize=1)
def min_samples_48k() -> int:
  """Fewest 48 kHz samples ViSQOL's audio mode scores (46 080).

  Its patch creator needs `patch + patch // 2` spectrogram frames (patch =
  30), of windows of `AnalysisWindow(48000).size` samples every `hop_size`.
  """
  # The package's own constants (and its seconds-long import: on first use).
  from visqol.analysis_window import AnalysisWindow
  from visqol.visqol_manager import OVERLAP, PATCH_SIZE_AUDIO
  window = AnalysisWindow(VISQOL_RATE, OVERLAP)
  frames = PATCH_SIZE_AUDIO + PATCH_SIZE_AUDIO // 2
  return window.size + (frames - 1) * window.hop_size


def min_samples(config: VocoderConfig) -> int:
  """Fewest samples at `config.sample_rate` that ViSQOL scores (21 168 at
  22 050 Hz): `min_samples_48k` scaled, rounded up."""
  return math.ceil(min_samples_48k() * config.sample_rate / VISQOL_RATE)


def check_length(samples: int, config: VocoderConfig) -> None:
  """ValueError naming `samples` and the minimum when ViSQOL cannot score
  audio of `samples` samples at `config.sample_rate`."""
  need, rate = min_samples(config), config.sample_rate
  if samples < need:
    raise ValueError(f"audio of {samples} samples at {rate} Hz is too short "
                     f"for ViSQOL: it needs at least {need} ({need / rate:.2f}"
                     " s)")


def visqol(real: np.ndarray, fake: np.ndarray,
           config: VocoderConfig) -> metrics.Distance:
  """ViSQOL MOS-LQO of `fake` against `real` (see the module docstring).

  Args:
    real, fake: `[samples]` float audio at `config.sample_rate`, the same
      length, at least `min_samples(config)`.
    config: gives the sample rate.
  Returns:
    {"overall": MOS-LQO}: higher is better, 1 to about 4.73 (identical);
    None for a silent `real`, `MOS_MIN` for an all-zero `fake`.
  Raises:
    ValueError: the lengths differ, or are below `min_samples(config)`.
  """
  real, fake = metrics.audio_pair(real, fake)
  check_length(len(real), config)
  if metrics.silent_reference(real) is not None:
    return {"overall": None}
  if not np.any(fake):
    return {"overall": MOS_MIN}
  up = [resample(x.astype(np.float32), config.sample_rate,
                 VISQOL_RATE).astype(np.float64) for x in (real, fake)]
  return {"overall": float(_api().measure_from_arrays(
      up[0], up[1], sample_rate=VISQOL_RATE).moslqo)}
