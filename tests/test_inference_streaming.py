"""`StreamingVocoder`: pushes of any size give `Vocoder(live=True)` audio,
with the stated latency, bounded memory and one-line errors."""

import os

import numpy as np
import pytest

from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference import StreamingVocoder, Vocoder, stream_mel
from vocoder_models import exported, music_mel

TFLITE = "vocoder_fp32.tflite"


def _model(tmp_path_factory, model, fmt=TFLITE):
  out_dir, _, _, config = exported(tmp_path_factory, model)
  return os.path.join(out_dir, fmt), config


def _sizes(pattern: str, total: int, seed: int = 0):
  """Push sizes summing to `total`: all 1, all 7, all 300, or mixed
  (0-frame pushes included)."""
  if pattern != "mixed":
    return [int(pattern)] * (total // int(pattern)) + (
        [total % int(pattern)] if total % int(pattern) else [])
  rng, sizes = np.random.default_rng(seed), []
  while sum(sizes) < total:
    sizes.append(min(int(rng.choice([0, 0, 1, 7, 300, rng.integers(1, 60)])),
                     total - sum(sizes)))
  return sizes


def _stream(streamer, mel, sizes):
  """Pushes `mel` in pieces of `sizes`, checking the latency rule after
  each push and the flush; the concatenated audio."""
  hop, k, pieces = streamer.hop_length, 0, []
  for n in sizes:
    audio = streamer.push(mel[k:k + n])
    k += n
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert streamer.samples_returned == max(
        0, k - streamer.latency_frames) * hop
    pieces.append(audio)
  returned = streamer.samples_returned
  pieces.append(streamer.flush())
  assert len(pieces[-1]) == k * hop - returned
  return np.concatenate(pieces)


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
@pytest.mark.parametrize("pattern", ["1", "7", "300", "mixed"])
def test_pushes_of_any_size_give_the_live_vocoder_audio(tmp_path_factory,
                                                         model, pattern):
  path, config = _model(tmp_path_factory, model)
  mel = music_mel(config, 700, seed=5)
  expected = Vocoder(path, live=True).vocode(mel)
  got = _stream(StreamingVocoder(path), mel, _sizes(pattern, len(mel)))
  assert got.shape == (700 * config.hop_length,)
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
@pytest.mark.parametrize("frames", [1, 30, 64, 65, 131])   # around a chunk
def test_short_streams_and_savedmodels(tmp_path_factory, model, frames):
  # A SavedModel's reflection padding needs a few frames (as for `Vocoder`).
  for fmt in (TFLITE, "saved_model") if frames > 8 else (TFLITE,):
    path, config = _model(tmp_path_factory, model, fmt)
    mel = music_mel(config, 200, seed=frames)[:frames]
    expected = Vocoder(path, live=True).vocode(mel)
    streamer = StreamingVocoder(path)
    got = _stream(streamer, mel, _sizes("mixed", frames, seed=frames))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    streamer.reset()                        # the same model, a new stream
    got = _stream(streamer, mel, _sizes("7", frames))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("frames", [40, 700])
def test_melgan_live_is_the_one_shot_output(tmp_path_factory, frames):
  path, config = _model(tmp_path_factory, "melgan")
  mel = music_mel(config, frames, seed=6)
  got = _stream(StreamingVocoder(path), mel, _sizes("mixed", frames))
  assert snr_db(Vocoder(path).vocode(mel), got) >= 100    # bit-exact here
  saved = _model(tmp_path_factory, "melgan", "saved_model")[0]
  got = _stream(StreamingVocoder(saved), mel, _sizes("mixed", frames))
  assert snr_db(Vocoder(saved).one_shot(mel), got) >= 100  # ~130 dB


def test_multiscale_live_differs_from_exact_only_at_the_band_edges(
    tmp_path_factory):
  """Measured on real music (tiny untrained model, whose adjacent bands
  disagree near the edges): 11.7-12.5 dB overall, all of the difference
  within 20 Hz of the band edges; about 50 dB elsewhere."""
  path, config = _model(tmp_path_factory, "multiscale")
  mel = music_mel(config, 2000, seed=1)
  exact = Vocoder(path).vocode(mel)
  live = _stream(StreamingVocoder(path), mel, _sizes("mixed", 2000))
  assert snr_db(exact, live) >= 10
  freqs = np.fft.rfftfreq(len(live), 1 / config.sample_rate)
  edges = sorted({f for band in config.band_edges_hz for f in band}
                 - {0.0, config.sample_rate / 2})
  away = np.all([np.abs(freqs - f) >= 20 for f in edges], axis=0)
  reference, error = np.fft.rfft(exact), np.fft.rfft(exact - live)
  assert snr_db(reference[away], reference[away] - error[away]) >= 45


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_latency_is_stated_and_tight(tmp_path_factory, model):
  path, config = _model(tmp_path_factory, model)
  streamer = StreamingVocoder(path)
  vocoder = streamer.vocoder
  r = vocoder.receptive_field_frames
  if model == "multiscale":      # a merge core + the window's right part + R
    assert streamer.latency_frames == vocoder.merge_frames * 3 // 4 + r - 1
  else:                          # a chunk
    assert streamer.latency_frames == vocoder.chunk_frames - 1
  assert streamer.latency_ms == pytest.approx(
      1000 * streamer.latency_frames * config.hop_length / config.sample_rate)
  mel = music_mel(config, 600, seed=7)
  hop, slack = config.hop_length, []
  for k in range(1, len(mel) + 1):
    streamer.push(mel[k - 1:k])
    held = sum(map(len, streamer._ready))  # pylint: disable=protected-access
    computed = (streamer.samples_returned + held) // hop
    slack.append(computed - max(0, k - streamer.latency_frames))
  assert min(slack) == 0          # stated exactly: no frame could come sooner
  if model == "multiscale":       # ... also in steady state (MelGAN's first
    assert min(slack[streamer.latency_frames:]) == 0   # block is R longer)


def test_memory_is_bounded(tmp_path_factory):
  path, config = _model(tmp_path_factory, "multiscale")
  streamer = StreamingVocoder(path)
  mel = np.resize(music_mel(config, 300, seed=8), (3000, config.n_mels))
  held = []
  for k in range(0, len(mel), 3):
    streamer.push(mel[k:k + 3])
    held.append(streamer.buffer_bytes)
  assert max(held[len(held) // 2:]) <= max(held[:len(held) // 2])
  vocoder = streamer.vocoder
  bound = 4 * (2 * vocoder.chunk_frames * config.n_mels
               + 2 * vocoder.merge_frames * config.hop_length * 2
               + 2 * streamer.latency_frames * config.hop_length)
  assert max(held) <= bound


def test_stream_mel_and_batched_pushes(tmp_path_factory):
  path, config = _model(tmp_path_factory, "multiscale")
  mel = music_mel(config, 300, seed=9)
  expected = Vocoder(path, live=True).vocode(mel)
  got = np.concatenate(list(stream_mel(StreamingVocoder(path), mel, 5)))
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
  streamer = StreamingVocoder(path)
  got = np.concatenate([streamer.push(mel[None, :100]),
                        streamer.push(mel[None, 100:].astype(np.float64)),
                        streamer.flush()])
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
  with pytest.raises(ValueError, match="push_frames must be >= 1"):
    next(stream_mel(StreamingVocoder(path), mel, 0))


def test_bad_pushes_are_one_line_errors(tmp_path_factory):
  path, config = _model(tmp_path_factory, "multiscale")
  n = config.n_mels
  streamer = StreamingVocoder(path)
  streamer.push(np.zeros((3, n), np.float32))
  bad = {"shape (3, 31)": np.zeros((3, 31)),
         "shape ()": np.float32(1.0),
         "shape (32,)": np.zeros(n),
         "shape (1, 1, 3, 32)": np.zeros((1, 1, 3, n)),
         "shape (2, 3, 32)": np.zeros((2, 3, n)),
         "dtype complex128": np.zeros((3, n), complex),
         "dtype <U1": np.full((3, n), "a"),
         "NaN/inf in frame 4 of the stream": np.pad(
             np.full((1, n), np.nan), [[1, 0], [0, 0]]),
         "NaN/inf in frame 3": np.full((2, n), np.inf)}
  for message, frames in bad.items():
    with pytest.raises(ValueError, match=r"\[n, 32\] or \[1, n, 32\]") as e:
      streamer.push(frames)
    assert message in str(e.value) and "\n" not in str(e.value)
  assert streamer.frames_pushed == 3            # nothing was taken
  streamer.flush()
  with pytest.raises(ValueError, match="push after flush.*reset"):
    streamer.push(np.zeros((1, n), np.float32))
  with pytest.raises(ValueError, match="flush after flush"):
    streamer.flush()
  streamer.reset()
  assert len(streamer.push(np.zeros((200, n), np.float32))) == (
      200 - streamer.latency_frames) * config.hop_length
