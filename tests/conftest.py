"""Shared test fixtures: tiny configs, real music (or a generated stand-in)."""

import glob
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One numba cache per pytest-xdist worker, set before librosa/visqol load
# numba: two workers compiling the same cached kernel into one cache dir (a
# fresh venv) can read a half-written entry and crash with a segfault.
if os.environ.get("PYTEST_XDIST_WORKER"):
  os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
      tempfile.gettempdir(),
      f"tfvocoder-numba-{os.getuid()}-{os.environ['PYTEST_XDIST_WORKER']}"))

import numpy as np
import pytest
import tensorflow as tf

# Two logical CPU devices, so MirroredStrategy tests run 2 replicas on any
# machine. This must happen before TensorFlow initialises its devices.
_CPUS = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _CPUS[0], [tf.config.LogicalDeviceConfiguration()] * 2)

from tfvocoder.config import VocoderConfig, tiny_config

# Debian's hyperrogue-music (installed by .ci/run where apt is available).
REAL_MUSIC_GLOB = "/usr/share/hyperrogue/music/*.ogg"


def _generated_music(sample_rate: int, seconds: float, seed: int) -> np.ndarray:
  """Deterministic polyphonic stand-in: harmonic notes with envelopes."""
  rng = np.random.default_rng(seed)
  n = int(sample_rate * seconds)
  t = np.arange(n) / sample_rate
  out = np.zeros(n)
  for _ in range(int(seconds * 6)):
    start = rng.integers(0, n - sample_rate // 4)
    length = rng.integers(sample_rate // 8, sample_rate)
    f0 = 55.0 * 2 ** (rng.integers(0, 60) / 12)
    seg = t[: min(length, n - start)]
    env = np.exp(-seg * rng.uniform(1, 8)) * (1 - np.exp(-seg * 200))
    note = sum(np.sin(2 * np.pi * f0 * h * seg) / h ** 1.2
               for h in range(1, 12) if f0 * h < sample_rate / 2)
    out[start:start + len(seg)] += env * note
  out += 0.01 * rng.standard_normal(n)
  return (0.9 * out / np.max(np.abs(out))).astype(np.float32)


def load_music(sample_rate: int, seconds: float = 20.0, seed: int = 0):
  """Mono float32 music at `sample_rate`: real if installed, else generated.

  Returns (audio, source) where source names what was used.
  """
  files = sorted(glob.glob(REAL_MUSIC_GLOB))
  if files:
    import librosa
    import soundfile as sf
    path = files[seed % len(files)]
    info = sf.info(path)
    start = int(info.samplerate * 10)   # skip intros
    frames = int(info.samplerate * seconds)
    audio, rate = sf.read(path, start=start, frames=frames, dtype="float32",
                          always_2d=True)
    audio = librosa.resample(audio.mean(axis=1), orig_sr=rate,
                             target_sr=sample_rate)
    return audio.astype(np.float32), os.path.basename(path)
  return _generated_music(sample_rate, seconds, seed), "generated"


def music_windows(config: VocoderConfig, count: int, seed: int = 0):
  """`[count, config.window]` peak-normalised windows of music."""
  audio, _ = load_music(config.sample_rate,
                        seconds=count * config.window / config.sample_rate * 2
                        + 1, seed=seed)
  step = (len(audio) - config.window) // count
  windows = np.stack([audio[i * step:i * step + config.window]
                      for i in range(count)])
  peak = np.max(np.abs(windows), axis=1, keepdims=True)
  return (config.peak_normalize * windows / np.maximum(peak, 1e-6)).astype(
      np.float32)


@pytest.fixture
def config():
  return VocoderConfig()


@pytest.fixture
def small_config():
  return tiny_config()
