"""`python -m tfvocoder.vocode`: the model's load and warm-up, then one line
per input (stdout / stderr) with the x real time of its vocoding, exit
status 1 when any input or the model failed, 2 without inputs; --live
streams and prints the latency."""

import os
import re
import subprocess
import sys

import numpy as np
import soundfile as sf

from tfvocoder.data.audio_io import to_pcm16
from tfvocoder.inference import StreamingVocoder, Vocoder
from vocoder_models import exported, music_mel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# `loaded PATH in 0.01 s (warm-up 0.20 s)`, `IN -> OUT: 2.00 s of audio in
# 0.10 s (20.0x real time)`.
LOADED = r"loaded {} in \d+\.\d\d s \(warm-up \d+\.\d\d s\)"
RESULT = (r"{} -> {}: (\d+\.\d\d) s of audio in (\d+\.\d\d) s "
          r"\((\d+\.\d)x real time\)")


def _vocode(*args, timeout=120):
  return subprocess.run([sys.executable, "-m", "tfvocoder.vocode", *args],
                        cwd=REPO, capture_output=True, text=True,
                        timeout=timeout,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_cli_missing_model_and_exit_status(tmp_path):
  mel = str(tmp_path / "x.npy")
  np.save(mel, np.zeros((10, 32), np.float32))
  missing = str(tmp_path / "nowhere.tflite")
  run = subprocess.run(
      [sys.executable, "-m", "tfvocoder.vocode", mel, f"--model={missing}",
       f"--output_dir={tmp_path / 'out'}"], cwd=REPO, capture_output=True,
      text=True, timeout=120)
  assert run.returncode == 1
  lines = [l for l in run.stderr.splitlines() if l.startswith("vocode:")]
  assert len(lines) == 1 and f"{missing}: no such model" in lines[0]
  assert not os.path.exists(tmp_path / "out" / "x.wav")


def test_cli_prints_a_line_per_input(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  good, bad = str(tmp_path / "good.npy"), str(tmp_path / "bad.npy")
  np.save(good, music_mel(config, 60, seed=1))
  np.save(bad, np.zeros((5, config.n_mels + 1), np.float32))
  model = f"--model={os.path.join(out_dir, 'vocoder_fp32.tflite')}"
  run = _vocode(bad, good, model, f"--output_dir={tmp_path / 'wavs'}")
  assert run.returncode == 1, run.stderr[-2000:]
  errors = [l for l in run.stderr.splitlines() if l.startswith("vocode:")]
  assert len(errors) == 1 and errors[0].startswith(
      f"vocode: error: {bad}: mel width {config.n_mels + 1}")
  loaded, line = run.stdout.splitlines()
  tflite = os.path.join(out_dir, "vocoder_fp32.tflite")
  assert re.fullmatch(LOADED.format(re.escape(tflite)), loaded), loaded
  found = re.fullmatch(RESULT.format(
      re.escape(good), re.escape(str(tmp_path / "wavs" / "good.wav"))), line)
  assert found, line
  audio, elapsed, speed = map(float, found.groups())
  assert audio == round(60 / config.frame_rate, 2)
  if elapsed >= 0.05:     # the ratio of the (rounded) times printed
    assert abs(speed - audio / elapsed) <= 0.1 + audio / elapsed * 0.2
  assert os.listdir(tmp_path / "wavs") == ["good.wav"]
  # Only good inputs: exit status 0; no input at all: 2.
  assert _vocode(good, model, f"--output_dir={tmp_path / 'w2'}").returncode == 0
  run = _vocode(model, f"--output_dir={tmp_path / 'w3'}")
  assert run.returncode == 2 and "no INPUT given" in run.stderr


def test_cli_refuses_before_any_work(tmp_path_factory, tmp_path):
  # The output dir is the input's own dir: the recording is never replaced
  # (not even with --overwrite), and an existing output is named; nothing
  # is vocoded (not even the harmless input), exit status 1, no traceback.
  out_dir, _, _, config = exported(tmp_path_factory, "melgan")
  model = f"--model={os.path.join(out_dir, 'vocoder_fp32.tflite')}"
  rec = tmp_path / "rec"
  os.makedirs(rec)
  song, mel, old = rec / "song.wav", rec / "mel.npy", rec / "old.npy"
  song.write_bytes(b"the only copy")
  for path in (mel, old):
    np.save(path, music_mel(config, 20, seed=2))
  (rec / "old.wav").write_bytes(b"an earlier output")
  for flag in ([], ["--overwrite"]):
    run = _vocode(str(song), str(old), str(mel), model, f"--output_dir={rec}",
                  *flag)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    lines = [l for l in run.stderr.splitlines() if l.startswith("vocode:")]
    assert lines[0] == (f"vocode: error: {song}: its output {song} is the "
                        "input itself; choose another --output_dir (no flag "
                        "replaces an input)")
    if not flag:
      assert lines[1:] == [f"vocode: error: {old}: output {rec / 'old.wav'} "
                           "exists; pass --overwrite to replace it"]
    assert sorted(os.listdir(rec)) == ["mel.npy", "old.npy", "old.wav",
                                       "song.wav"]
  assert song.read_bytes() == b"the only copy"
  # --overwrite replaces an earlier output (and only that).
  run = _vocode(str(old), model, f"--output_dir={rec}", "--overwrite")
  assert run.returncode == 0, run.stderr[-2000:]
  loaded, line = run.stdout.splitlines()
  assert loaded.startswith("loaded ")
  assert line.startswith(f"{old} -> {rec / 'old.wav'}: ")
  assert (rec / "old.wav").read_bytes()[:4] == b"RIFF"


def test_cli_output_dir_that_is_a_file(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  mel = str(tmp_path / "x.npy")
  np.save(mel, np.zeros((10, 32), np.float32))
  for output_dir, expected in [
      (blocker, "exists and is not a directory"),
      (blocker / "out", f"cannot be created, {blocker} is not a directory")]:
    run = _vocode(mel, f"--model={tmp_path / 'nowhere.tflite'}",
                  f"--output_dir={output_dir}")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    lines = [l for l in run.stderr.splitlines() if l.startswith("vocode:")]
    assert lines == [f"vocode: error: output dir {output_dir}: {expected}"]


def test_cli_live_streams_and_prints_the_latency(tmp_path_factory, tmp_path):
  # --live: the mel pushed into a StreamingVocoder, 16 frames at a time;
  # the wav is Vocoder(live=True)'s audio, sample for sample.
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  model = os.path.join(out_dir, "vocoder_fp32.tflite")
  mel_path = str(tmp_path / "song.npy")
  mel = music_mel(config, 150, seed=4)    # 9 pushes and a partial one
  np.save(mel_path, mel)
  run = _vocode(mel_path, f"--model={model}",
                f"--output_dir={tmp_path / 'o'}", "--live")
  assert run.returncode == 0, run.stderr[-2000:]
  loaded, latency, line = run.stdout.splitlines()
  assert re.fullmatch(LOADED.format(re.escape(model)), loaded), loaded
  streamer = StreamingVocoder(model)
  assert latency == (f"latency: {streamer.latency_frames} frames = "
                     f"{streamer.latency_ms:.0f} ms (live, pushes of 16 "
                     "frames)")
  target = str(tmp_path / "o" / "song.wav")
  assert re.fullmatch(RESULT.format(re.escape(mel_path), re.escape(target)),
                      line), line
  written, rate = sf.read(target, dtype="int16")
  assert rate == config.sample_rate
  np.testing.assert_array_equal(
      written, to_pcm16(Vocoder(model, live=True).vocode(mel)))
  assert os.listdir(tmp_path / "o") == ["song.wav"]    # no temp file left
