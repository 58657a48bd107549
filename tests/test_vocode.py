"""`python -m tfvocoder.vocode`: one line per input (stdout / stderr), exit
status 1 when any input or the model failed, 2 without inputs."""

import os
import subprocess
import sys

import numpy as np

from vocoder_models import exported, music_mel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
  (line,) = run.stdout.splitlines()
  assert line.startswith(f"{good} -> {tmp_path / 'wavs' / 'good.wav'}: ")
  assert line.endswith("x real time)")
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
  assert run.stdout.startswith(f"{old} -> {rec / 'old.wav'}: ")
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
