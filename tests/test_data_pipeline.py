"""tf.data pipeline: shapes, alignment, bands, windows, seeds, sharding."""

import os
import re
import shutil

import librosa
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from conftest import load_music
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.data import pipeline
from tfvocoder.data.sources import prepare_dir

CONFIG = tiny_config()
BATCH = 4


def _on_pcm_grid(audio):
  """Values exactly representable in the shards (int16 / 32767)."""
  return (np.round(audio * 32767) / 32767).astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """Three 4 s files (one with a silent second) prepared into ~6 shards.

  Returns (shard dir, {relative path: the float32 audio the shards hold}).
  """
  root = tmp_path_factory.mktemp("music")
  sources = {}
  for seed in range(3):
    audio = 0.7 * load_music(CONFIG.sample_rate, 4.0, seed=seed)[0]
    if seed == 1:
      audio[CONFIG.sample_rate:2 * CONFIG.sample_rate] = 0.0
    audio = _on_pcm_grid(audio)
    name = f"song{seed}.wav"
    sf.write(root / name, audio, CONFIG.sample_rate, subtype="FLOAT")
    sources[name] = audio
  out = tmp_path_factory.mktemp("shards")
  prepare_dir(str(root), str(out), CONFIG, workers=1, holdout_fraction=0.0,
              shard_bytes=100_000, record_seconds=0.5)
  return out, sources


def _records(out):
  """[(source, offset, length)] of every record, read with tf.train.Example."""
  spans = []
  for path in sorted(tf.io.gfile.glob(pipeline.shard_pattern(str(out)))):
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
      feature = tf.train.Example.FromString(raw).features.feature
      spans.append((feature["source"].bytes_list.value[0].decode(),
                    feature["offset"].int64_list.value[0],
                    len(feature["audio"].bytes_list.value[0]) // 2))
  return spans


def _normalised(windows):
  peak = np.max(np.abs(windows), axis=-1, keepdims=True)
  return CONFIG.peak_normalize * windows / peak


def _rms(windows):
  return np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=-1))


def _candidates(sources):
  """Every hop-aligned window of every file: (labels, raw windows)."""
  labels, windows = [], []
  for name, audio in sources.items():
    for start in range(0, len(audio) - CONFIG.window + 1, CONFIG.hop_length):
      labels.append((name, start))
      windows.append(audio[start:start + CONFIG.window])
  return labels, np.stack(windows)


def _locate(windows, sources):
  """(file, offset) of each returned window among the hop-aligned ones."""
  labels, raw = _candidates(sources)
  loud = _rms(raw) > 0
  norm = np.zeros_like(raw)
  norm[loud] = _normalised(raw[loud])
  found = []
  for window in windows:
    error = np.max(np.abs(norm - window[None]), axis=1)
    best = int(np.argmin(error))
    assert error[best] < 1e-5, "window is not a hop-aligned source window"
    assert _rms(raw[best]) >= CONFIG.silence_rms
    found.append(labels[best])
  return found


def _librosa_log_mel(audio):
  pad = (CONFIG.n_fft - CONFIG.hop_length) // 2
  padded = np.pad(audio, pad, mode="reflect")
  magnitude = np.abs(librosa.stft(
      padded, n_fft=CONFIG.n_fft, hop_length=CONFIG.hop_length,
      win_length=CONFIG.win_length, window="hann", center=False))
  basis = librosa.filters.mel(sr=CONFIG.sample_rate, n_fft=CONFIG.n_fft,
                              n_mels=CONFIG.n_mels, fmin=CONFIG.fmin,
                              fmax=CONFIG.mel_fmax)
  return np.log10(np.maximum(basis @ magnitude, CONFIG.log_floor)).T


def _nearest(a, b):
  """For each window of `a`: (index of the nearest in `b`, max abs error)."""
  error = np.stack([np.max(np.abs(b - w[None]), axis=1) for w in a])
  return np.argmin(error, axis=1), np.min(error, axis=1)


def _assert_same_windows(a, b):
  """`a` and `b` hold the same windows, in any order."""
  assert len(a) == len(b)
  index, error = _nearest(a, b)
  assert np.all(error < 1e-5)
  assert sorted(index) == list(range(len(b)))


def _take(dataset, batches):
  return [tf.nest.map_structure(lambda t: t.numpy(), b)
          for b in dataset.take(batches)]


def test_shapes_and_dtypes(data):
  out, _ = data
  dataset = pipeline.make_dataset(pipeline.shard_pattern(str(out)), CONFIG,
                                  BATCH, seed=1)
  frames = CONFIG.window // CONFIG.hop_length
  spec = dataset.element_spec
  assert spec["mel"].shape == (BATCH, frames, CONFIG.n_mels)
  assert spec["audio"].shape == (BATCH, CONFIG.window)
  assert [b.shape for b in spec["bands"]] == [
      (BATCH, CONFIG.window // 2 ** k) for k in range(CONFIG.n_bands)]
  assert all(s.dtype == tf.float32
             for s in tf.nest.flatten(dataset.element_spec))
  batch = _take(dataset, 1)[0]
  np.testing.assert_allclose(np.max(np.abs(batch["audio"]), axis=1),
                             CONFIG.peak_normalize, rtol=1e-6)


def test_training_windows_are_loud_hop_aligned_source_windows(data):
  out, sources = data
  dataset = pipeline.make_dataset(pipeline.shard_pattern(str(out)), CONFIG,
                                  BATCH, seed=2)
  windows = np.concatenate([b["audio"] for b in _take(dataset, 12)])
  found = _locate(windows, sources)
  assert len({name for name, _ in found}) == len(sources)   # mixes files
  assert len(set(found)) > len(found) // 2                    # random starts


def test_mel_is_the_mel_of_the_audio_and_bands_merge_to_it(data):
  out, _ = data
  dataset = pipeline.make_dataset(pipeline.shard_pattern(str(out)), CONFIG,
                                  BATCH, seed=3)
  batch = _take(dataset, 1)[0]
  for audio, mel in zip(batch["audio"], batch["mel"]):
    np.testing.assert_allclose(mel, _librosa_log_mel(audio), atol=2e-3)
  merged = dsp.merge_bands(batch["bands"], CONFIG).numpy()
  np.testing.assert_allclose(merged, batch["audio"], atol=2e-5)
  # The lowest band holds the audio's lowest rFFT bins (numpy oracle).
  n = CONFIG.window
  low = np.fft.rfft(batch["bands"][-1]) * 2 ** (CONFIG.n_bands - 1)
  top = n // 2 ** CONFIG.n_bands
  np.testing.assert_allclose(low[:, :top], np.fft.rfft(batch["audio"])[:, :top],
                             atol=2e-3)


def test_evaluation_windows_are_fixed_and_complete(data):
  out, sources = data
  dataset = pipeline.make_dataset(pipeline.shard_pattern(str(out)), CONFIG,
                                  BATCH, training=False)
  batches = _take(dataset, 1000)
  assert all(len(b["audio"]) == BATCH for b in batches[:-1])
  got = np.concatenate([b["audio"] for b in batches])
  # Oracle: consecutive windows from each record's start, loud ones only.
  expected = []
  for source, offset, length in _records(out):
    for k in range(length // CONFIG.window):
      start = offset + k * CONFIG.window
      window = sources[source][start:start + CONFIG.window]
      if _rms(window) >= CONFIG.silence_rms:
        expected.append(_normalised(window))
  assert len(got) == len(expected)
  assert len(expected) < sum(length // CONFIG.window
                             for _, _, length in _records(out))  # gap dropped
  _assert_same_windows(got, np.stack(expected))
  again = np.concatenate([b["audio"] for b in _take(dataset, 1000)])
  np.testing.assert_array_equal(again, got)


def test_deterministic_given_seed(data):
  out, _ = data
  pattern = pipeline.shard_pattern(str(out))
  first = _take(pipeline.make_dataset(pattern, CONFIG, BATCH, seed=7), 3)
  second = _take(pipeline.make_dataset(pattern, CONFIG, BATCH, seed=7), 3)
  other = _take(pipeline.make_dataset(pattern, CONFIG, BATCH, seed=8), 3)
  for a, b in zip(first, second):
    for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
      np.testing.assert_array_equal(x, y)
  assert not np.array_equal(first[0]["audio"], other[0]["audio"])


@pytest.mark.parametrize("single_shard", [False, True])
def test_input_contexts_get_disjoint_data(data, single_shard):
  out, sources = data
  files = sorted(tf.io.gfile.glob(pipeline.shard_pattern(str(out))))
  assert len(files) >= 4
  pattern = files[0] if single_shard else pipeline.shard_pattern(str(out))
  contexts = [tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=i,
                                         num_replicas_in_sync=2)
              for i in range(2)]
  # Evaluation: the two pipelines split the windows of one pipeline.
  every = np.concatenate([b["audio"] for b in _take(
      pipeline.make_dataset(pattern, CONFIG, BATCH, training=False), 1000)])
  parts = [np.concatenate([b["audio"] for b in _take(pipeline.make_dataset(
      pattern, CONFIG, BATCH, training=False, input_context=c), 1000)])
           for c in contexts]
  assert len(parts[0]) and len(parts[1])
  assert np.all(_nearest(parts[0], parts[1])[1] > 1e-3)   # nothing shared
  _assert_same_windows(np.concatenate(parts), every)
  # Training: windows from disjoint records.
  records = _records(out)
  owners = []
  for context in contexts:
    dataset = pipeline.make_dataset(pattern, CONFIG, BATCH, seed=5,
                                    input_context=context)
    windows = np.concatenate([b["audio"] for b in _take(dataset, 4)])
    owners.append({next(i for i, (s, o, n) in enumerate(records)
                        if s == name and o <= start < o + n)
                   for name, start in _locate(windows, sources)})
  assert not owners[0] & owners[1]


def test_rate_mismatch_is_an_error(data):
  out, _ = data
  with pytest.raises(ValueError, match=f"{CONFIG.sample_rate} Hz"):
    pipeline.make_dataset(pipeline.shard_pattern(str(out)),
                          tiny_config(sample_rate=CONFIG.sample_rate // 2), BATCH)
  with pytest.raises(ValueError, match="no shards"):
    pipeline.make_dataset(str(out / "nothing-*.tfrecord"), CONFIG, BATCH)


@pytest.fixture
def shard_copy(data, tmp_path):
  """A writable copy of the module's shard dir and its sorted shard paths."""
  out = tmp_path / "shards"
  shutil.copytree(data[0], out)
  return out, sorted(tf.io.gfile.glob(pipeline.shard_pattern(str(out))))


def test_check_shards_names_truncated_cut_missing_and_stray_shards(
    shard_copy):
  out, files = shard_copy
  pattern = pipeline.shard_pattern(str(out))
  pipeline.check_shards(pattern)                 # intact: passes
  offsets = pipeline.record_offsets(files[1])
  os.truncate(files[1], offsets[-1] + 100)       # inside the last record
  with pytest.raises(pipeline.ShardError, match=re.escape(
      f"{files[1]}: truncated or corrupt shard: record {len(offsets) - 1} ")):
    pipeline.check_shards(pattern)
  os.truncate(files[1], offsets[-1])             # at a record boundary
  with pytest.raises(pipeline.ShardError, match=(
      f"the {len(files)} train shards in .*: {_total_records(files) } "
      "records / .* but .*manifest.json lists")):
    pipeline.check_shards(pattern)
  os.remove(files[1])
  with pytest.raises(pipeline.ShardError,
                     match=re.escape(f"{files[1]}: missing (")):
    pipeline.check_shards(pattern)
  stray = out / "train-00000-of-00099.tfrecord"
  stray.write_bytes(b"")
  with pytest.raises(pipeline.ShardError,
                     match=re.escape(f"{stray}: not a shard that")):
    pipeline.check_shards(str(stray))


def _total_records(files):
  return sum(len(pipeline.record_offsets(f)) for f in files
             if os.path.exists(f))


def test_data_error_names_the_shard_tf_could_not_read(shard_copy):
  _, files = shard_copy
  last = pipeline.record_offsets(files[-1])[-1]   # the smallest shard's end
  unique = [f for f in files if last in pipeline.record_offsets(f)]
  error = tf.errors.DataLossError(
      None, None, f"Graph execution error:\n\ncorrupted record at {last + 12}"
      "\n\t [[{{node IteratorGetNext}}]]")
  message = str(pipeline.data_error(files[-1:], error, "; saved"))
  assert message == (f"{files[-1]}: corrupt shard (TensorFlow: corrupted "
                     f"record at {last + 12}); re-run "
                     "tfvocoder.data.prepare; saved")
  assert str(pipeline.data_error(files, error)).startswith(
      f"one of {', '.join(unique[:3])}")
  os.truncate(files[3], 20)
  message = str(pipeline.data_error(files, error))
  assert message.startswith(f"{files[3]}: truncated or corrupt shard")
