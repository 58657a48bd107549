"""tfvocoder.inference.files: audio / mel in, 16-bit wav, clear errors
(the library of `python -m tfvocoder.vocode`)."""

import errno
import os
import types

import numpy as np
import pytest
import soundfile as sf

from conftest import load_music
from tfvocoder.config import tiny_config
from tfvocoder.data.audio_io import to_pcm16
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference import StreamingVocoder, Vocoder
from tfvocoder.inference import files as files_lib
from tfvocoder.inference.files import (Loaded, ModelError, Outcome,
                                       OutputError, output_path, plan_outputs,
                                       vocode_files)
from vocoder_models import exported, music_mel


def _write_inputs(tmp_path, config):
  """Good and bad inputs; returns {name: path}."""
  paths = {}
  audio, _ = load_music(config.sample_rate, seconds=2.0, seed=6)
  paths["song"] = str(tmp_path / "song.wav")
  sf.write(paths["song"], audio, config.sample_rate, subtype="PCM_16")
  paths["mel"] = str(tmp_path / "upstream.npy")
  np.save(paths["mel"], music_mel(config, 150, seed=7))
  bad = {
      "wide": np.zeros((50, config.n_mels + 1), np.float32),
      "rank": np.zeros((2, 50, config.n_mels), np.float32),
      "nan": np.full((50, config.n_mels), np.nan, np.float32),
  }
  for name, value in bad.items():
    paths[name] = str(tmp_path / f"{name}.npy")
    np.save(paths[name], value)
  paths["empty"] = str(tmp_path / "empty.wav")
  open(paths["empty"], "wb").close()
  paths["garbage"] = str(tmp_path / "garbage.flac")
  with open(paths["garbage"], "wb") as f:
    f.write(b"definitely not flac" * 50)
  paths["missing"] = str(tmp_path / "missing.npy")
  return paths


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_vocodes_good_inputs_and_reports_bad_ones(tmp_path_factory, tmp_path,
                                                  model):
  out_dir, _, generator, config = exported(tmp_path_factory, model)
  paths = _write_inputs(tmp_path, config)
  target_dir = tmp_path / "wavs"
  order = ["wide", "song", "rank", "nan", "empty", "mel", "garbage", "missing"]
  outcomes = list(vocode_files([paths[n] for n in order],
                               os.path.join(out_dir, "vocoder_fp32.tflite"),
                               str(target_dir)))
  assert [o.path for o in outcomes] == [paths[n] for n in order]
  failed = sum(o.error is not None for o in outcomes)
  assert failed == 6
  out = "\n".join(o.message for o in outcomes if o.error is None)
  err = "\n".join(o.message for o in outcomes if o.error is not None)
  errors = err.strip().splitlines()
  assert len(errors) == 6, err
  for name, expected in [("wide", "mel width 33"), ("rank", "rank 3"),
                         ("nan", "NaN/inf"), ("empty", "empty"),
                         ("garbage", "expected a readable audio file"),
                         ("missing", "no such file")]:
    line = [e for e in errors if paths[name] in e]
    assert len(line) == 1 and expected in line[0], (name, errors)
    assert "expected" in line[0]
  assert "x real time" in out
  assert sorted(os.listdir(target_dir)) == ["song.wav", "upstream.wav"]

  # The mel input: 16-bit wav at the model rate equal to one-shot Keras.
  data, rate = sf.read(str(target_dir / "upstream.wav"), dtype="float32")
  assert rate == config.sample_rate
  assert sf.info(str(target_dir / "upstream.wav")).subtype == "PCM_16"
  mel = np.load(paths["mel"])
  reference = np.clip(generator.generate_audio(mel[None]).numpy()[0], -1, 1)
  assert data.shape == reference.shape
  assert np.abs(data - reference).max() <= 2 / 32767 + 1e-3 * np.abs(
      reference).max()
  # The audio input: resynthesised from its own log-mel, full length.
  song, _ = sf.read(str(target_dir / "song.wav"), dtype="float32")
  assert len(song) == -(-2 * config.sample_rate // config.hop_length) * (
      config.hop_length)


def test_matches_streaming_vocoder_output(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  model = os.path.join(out_dir, "saved_model")
  mel_path = str(tmp_path / "long.npy")
  mel = music_mel(config, 400, seed=8)
  np.save(mel_path, mel)
  (outcome,) = vocode_files([mel_path], model, str(tmp_path / "o"))
  assert outcome.error is None
  assert outcome.target == str(tmp_path / "o" / "long.wav")
  data, _ = sf.read(str(tmp_path / "o" / "long.wav"), dtype="float32")
  expected = np.clip(Vocoder(model).vocode(mel), -1, 1)
  assert snr_db(np.round(expected * 32767) / 32767, data) > 80


def test_missing_model_is_a_model_error(tmp_path):
  missing = str(tmp_path / "nowhere.tflite")
  with pytest.raises(ModelError, match="no such model"):
    list(vocode_files([str(tmp_path / "x.npy")], missing, str(tmp_path / "o")))
  assert not os.path.exists(tmp_path / "o")


def test_output_names_and_messages(tmp_path):
  used = set()
  assert output_path("/a/song.wav", "out", used) == os.path.join(
      "out", "song.wav")
  assert output_path("/b/song.flac", "out", used) == os.path.join(
      "out", "song.flac.wav")                  # the extension kept on a clash
  # The same base name three times: numbered, never the same output twice.
  names = [os.path.basename(output_path(f"/{d}/x.npy", "out", used))
           for d in "abcd"]
  assert names == ["x.wav", "x.npy.wav", "x-2.wav", "x-3.wav"]
  ok = Outcome("in.npy", "out/in.wav", seconds=3.0, elapsed=0.5)
  assert ok.message == ("in.npy -> out/in.wav: 3.00 s of audio in 0.50 s "
                        "(6.0x real time)")
  assert Outcome("x", error="why").message == "vocode: error: x: why"
  assert Loaded("m.tflite", 1.234, 0.5).lines == [
      "loaded m.tflite in 1.23 s (warm-up 0.50 s)"]
  assert Loaded("m.tflite", 0.01, 0.02, 95, 1103.0).lines[1] == (
      "latency: 95 frames = 1103 ms (live, pushes of 16 frames)")


class _Clock:
  """A fake `time.perf_counter` that only moves when told."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_times_the_vocoding_alone(tmp_path, monkeypatch):
  # Opening takes 5 s, a model's first call 2 s more, each later call
  # 0.5 s, each wav write 1 s: the load and warm-up are reported apart,
  # the input's x real time counts its one call only.
  config = tiny_config()
  clock = _Clock()

  class SlowStart:
    def __init__(self, model, num_threads=2):
      clock.now += 5.0
      self.config, self.warm = config, False
      self.runtime = types.SimpleNamespace(path=model)
      self.block_frames = self.chunk_frames = self.merge_frames = 8

    def stream(self, mel, progress=None):
      clock.now += 0.5 if self.warm else 2.5
      self.warm = True
      yield np.zeros(len(mel) * config.hop_length, np.float32)

  def slow_pcm16(audio):
    clock.now += 1.0
    return to_pcm16(audio)

  monkeypatch.setattr(files_lib.time, "perf_counter", clock)
  monkeypatch.setattr(files_lib, "Vocoder", SlowStart)
  monkeypatch.setattr(files_lib.audio_io, "to_pcm16", slow_pcm16)
  mel = str(tmp_path / "x.npy")
  np.save(mel, music_mel(config, int(2 * config.frame_rate)))   # ~2 s
  loaded = []
  (outcome,) = vocode_files([mel], "model.tflite", str(tmp_path / "o"),
                            on_load=loaded.append)
  assert loaded == [Loaded("model.tflite", 5.0, 3.0)]
  assert outcome.error is None and outcome.elapsed == 0.5
  assert outcome.message.endswith(
      f"{outcome.seconds:.2f} s of audio in 0.50 s "
      f"({outcome.seconds / 0.5:.1f}x real time)")


@pytest.mark.parametrize("model", ["multiscale", "melgan"])
def test_live_writes_the_live_streams_audio(tmp_path_factory, tmp_path,
                                            model):
  out_dir, _, _, config = exported(tmp_path_factory, model)
  path = os.path.join(out_dir, "vocoder_fp32.tflite")
  mel_path = str(tmp_path / "m.npy")
  mel = music_mel(config, 150, seed=9)    # 16-frame pushes, a partial last
  np.save(mel_path, mel)
  loaded = []
  (outcome,) = vocode_files([mel_path], path, str(tmp_path / "o"), live=True,
                            on_load=loaded.append)
  assert outcome.error is None and outcome.seconds == 150 / config.frame_rate
  written, _ = sf.read(outcome.target, dtype="int16")
  np.testing.assert_array_equal(
      written, to_pcm16(Vocoder(path, live=True).vocode(mel)))
  streamer = StreamingVocoder(path)
  assert loaded[0].model == path and loaded[0].latency_frames == (
      streamer.latency_frames)
  assert loaded[0].latency_ms == streamer.latency_ms


def test_same_names_get_distinct_outputs(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  inputs = []
  for i, d in enumerate("abc"):
    os.makedirs(tmp_path / d)
    inputs.append(str(tmp_path / d / "x.npy"))
    np.save(inputs[-1], music_mel(config, 20 + 10 * i, seed=i))
  outcomes = list(vocode_files(inputs, os.path.join(
      out_dir, "vocoder_fp32.tflite"), str(tmp_path / "o")))
  targets = [os.path.basename(o.target) for o in outcomes]
  assert targets == ["x.wav", "x.npy.wav", "x-2.wav"]
  # Each output is its own input's (its length says which).
  for i, name in enumerate(targets):
    assert sf.info(str(tmp_path / "o" / name)).frames == (
        (20 + 10 * i) * config.hop_length)


def _refused(inputs, output_dir, overwrite=False):
  """The problem lines of the OutputError that `plan_outputs` raises."""
  with pytest.raises(OutputError) as raised:
    plan_outputs(inputs, output_dir, overwrite)
  return raised.value.problems


def test_never_replaces_an_input(tmp_path):
  song = tmp_path / "rec" / "song.wav"
  os.makedirs(song.parent)
  song.write_bytes(b"the only copy")
  # Output dir = the input's dir, as given, through a symlink, or with
  # --overwrite: always refused, one line naming the input.
  os.symlink(song.parent, tmp_path / "link")
  for output_dir, overwrite in [(song.parent, False), (song.parent, True),
                                (tmp_path / "link", True)]:
    (line,) = _refused([str(song)], str(output_dir), overwrite)
    assert line.startswith(f"{song}: its output ") and "is the input" in line
  # Another input's output lands on this one (it would be read later).
  other = tmp_path / "a" / "song.npy"
  os.makedirs(other.parent)
  np.save(other, np.zeros((4, 32), np.float32))
  (line,) = _refused([str(other), str(song)], str(song.parent), True)
  assert line.startswith(f"{other}: ") and f"replace the input {song}" in line
  # A hard link to the input where an output goes: the same file.
  os.makedirs(tmp_path / "o")
  os.link(song, tmp_path / "o" / "song.wav")
  (line,) = _refused([str(song)], str(tmp_path / "o"), True)
  assert "is the input itself" in line
  assert song.read_bytes() == b"the only copy"


def test_existing_outputs_need_overwrite(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  model = os.path.join(out_dir, "vocoder_fp32.tflite")
  inputs = [str(tmp_path / f"{n}.npy") for n in ("a", "b", "c")]
  for i, path in enumerate(inputs):
    np.save(path, music_mel(config, 20, seed=i))
  target = tmp_path / "o"
  os.makedirs(target)
  for n in ("a", "c"):
    (target / f"{n}.wav").write_bytes(b"keep")
  # Every clash is named before any work: nothing is written, not even b.
  problems = _refused(inputs, str(target))
  assert problems == [f"{inputs[i]}: output {target / n}.wav exists; pass "
                      "--overwrite to replace it" for i, n in [(0, "a"),
                                                               (2, "c")]]
  with pytest.raises(OutputError):
    list(vocode_files(inputs, model, str(target)))
  assert sorted(os.listdir(target)) == ["a.wav", "c.wav"]
  assert (target / "a.wav").read_bytes() == b"keep"
  outcomes = list(vocode_files(inputs, model, str(target), overwrite=True))
  assert all(o.error is None for o in outcomes)
  assert sf.info(str(target / "a.wav")).frames == 20 * config.hop_length
  # A directory where an output goes: named, even with --overwrite.
  os.remove(target / "b.wav")
  os.makedirs(target / "b.wav")
  assert _refused(inputs, str(target), overwrite=True) == [
      f"{inputs[1]}: output {target / 'b.wav'} is a directory"]


def test_output_dir_that_cannot_hold_files(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  missing_model = str(tmp_path / "nowhere.tflite")
  for output_dir, expected in [
      (blocker, f"output dir {blocker}: exists and is not a directory"),
      (blocker / "out", f"output dir {blocker / 'out'}: cannot be created, "
                        f"{blocker} is not a directory")]:
    # Refused before the model is opened (the missing model is not the
    # error) and before anything is read.
    with pytest.raises(OutputError) as raised:
      list(vocode_files([str(tmp_path / "x.npy")], missing_model,
                        str(output_dir)))
    assert raised.value.problems == [expected]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_dir_without_write_permission(tmp_path):
  locked = tmp_path / "locked"
  os.makedirs(locked)
  os.chmod(locked, 0o500)
  try:
    assert _refused(["x.npy"], str(locked / "out")) == [
        f"output dir {locked / 'out'}: not writable ({locked})"]
  finally:
    os.chmod(locked, 0o700)


def test_failed_write_is_an_outcome(tmp_path, monkeypatch):
  # A full disk while writing: that input's one-line error, no traceback.
  def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(files_lib, "write_wav", full_disk)
  config = tiny_config()
  mel = str(tmp_path / "x.npy")
  np.save(mel, music_mel(config, 10))
  stub = types.SimpleNamespace(config=config)
  outcome = files_lib._vocode_one(stub, mel, str(tmp_path / "x.wav"), 30.0)  # pylint: disable=protected-access
  assert outcome.error == (f"cannot write {tmp_path / 'x.wav'} "
                           f"({os.strerror(errno.ENOSPC)})")
