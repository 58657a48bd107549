"""tfvocoder.evaluation.examples: seeded held-out windows and audio-file
examples, with their log-mels."""

import numpy as np
import pytest
import soundfile as sf

import eval_fixtures
from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.evaluation import EvaluateError, examples


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return eval_fixtures.shared_shards(tmp_path_factory)


def test_seeded_windows_are_reproducible(data_dir):
  config = tiny_config()
  pick = lambda seed: [e.name for e in examples.dataset_examples(
      data_dir, "test", config, 3, 0.25, seed)]
  assert pick(0) == pick(0)
  chosen = examples.dataset_examples(data_dir, "test", config, 2, 0.25, 0)
  for e in chosen:
    assert len(e.audio) == examples.example_samples(config, 0.25)
    assert len(e.audio) % (2 ** config.n_bands) == 0
    np.testing.assert_allclose(np.max(np.abs(e.audio)),
                               config.peak_normalize, rtol=1e-5)
  with pytest.raises(EvaluateError, match="no 'nope' shards"):
    examples.dataset_examples(data_dir, "nope", config, 1, 0.25, 0)


def test_audio_file_examples(tmp_path):
  config = tiny_config()
  path = str(tmp_path / "clip.wav")
  music, _ = load_music(44100, seconds=1.5)
  sf.write(path, 0.3 * music, 44100)
  (example,) = examples.file_examples([path], config, max_seconds=1.0)
  assert len(example.audio) == examples.example_samples(config, 1.0)
  np.testing.assert_allclose(np.max(np.abs(example.audio)),
                             config.peak_normalize, rtol=1e-5)
  with pytest.raises(EvaluateError, match="missing.wav"):
    examples.file_examples([str(tmp_path / "missing.wav")], config, 1.0)


def test_examples_carry_their_log_mel(data_dir, tmp_path):
  config = tiny_config()
  path = str(tmp_path / "clip.wav")
  music, _ = load_music(config.sample_rate, seconds=1.0, seed=2)
  sf.write(path, 0.5 * music, config.sample_rate)
  chosen = examples.choose_examples(config, data_dir, "test", 2, 0.25, 1,
                                    [path], max_audio_seconds=0.5)
  assert [e.name for e in chosen][-1] == "clip.wav" and len(chosen) == 3
  assert chosen[-1].source == path
  for e in chosen:
    expected = dsp.log_mel(e.audio[None], config).numpy()[0]
    assert e.mel.shape == (len(e.audio) // config.hop_length, config.n_mels)
    assert np.abs(e.mel - expected).max() < 1e-4
  # Too short for the STFTs: an error naming the file.
  sf.write(path, music[:config.n_fft], config.sample_rate)
  with pytest.raises(EvaluateError, match="clip.wav: too short"):
    examples.file_examples([path], config, 1.0)


def test_reservoir_sample_is_seeded_and_uniform():
  picks = [examples._reservoir(iter(range(10)), 3, seed)[0]
           for seed in range(400)]
  assert all(sorted(p) == p and len(p) == 3 for p in picks)
  assert examples._reservoir(iter(range(10)), 3, 7) == (picks[7], 10)
  counts = np.bincount([i for p in picks for i, _ in p], minlength=10)
  assert counts.min() > 0.6 * counts.mean()          # every window can win
  assert examples._reservoir(iter(range(2)), 5, 0) == ([(0, 0), (1, 1)], 2)
