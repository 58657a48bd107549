"""Streaming `Vocoder`: chunked output equals one-shot Keras generation."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfvocoder.dsp import builtin_merge
from tfvocoder.inference import Vocoder
from tfvocoder.evaluation.metrics import snr_db
from vocoder_models import exported, music_mel


def check_no_clicks(reference, streamed, vocoder, frames):
  """Max abs error within one frame of every block boundary is no larger
  than anywhere else."""
  hop = vocoder.config.hop_length
  error = np.abs(reference - streamed)
  near = np.zeros(len(error), bool)
  boundaries = vocoder.block_boundaries(frames)
  assert boundaries, "expected several blocks"
  for frame in boundaries:
    near[(frame - 1) * hop:(frame + 1) * hop] = True
  assert error[near].max() <= error[~near].max()


@pytest.mark.parametrize("fmt", ["vocoder_fp32.tflite", "saved_model"])
def test_melgan_stream_equals_one_shot(tmp_path_factory, fmt):
  out_dir, _, generator, config = exported(tmp_path_factory, "melgan")
  vocoder = Vocoder(os.path.join(out_dir, fmt), chunk_frames=None if "tflite"
                    in fmt else 48)
  frames = 300
  mel = music_mel(config, frames, seed=1)
  reference = generator.generate_audio(mel[None]).numpy()[0]
  streamed = vocoder.vocode(mel)
  assert streamed.shape == reference.shape
  assert snr_db(reference, streamed) >= 40
  check_no_clicks(reference, streamed, vocoder, frames)


@pytest.mark.parametrize("fmt,frames", [
    ("vocoder_fp32.tflite", 700),    # head / tail wrap + sliding buffer
    ("vocoder_fp32.tflite", 100),    # shorter than a merge window
    ("saved_model", 700)])
def test_multiscale_stream_equals_one_shot(tmp_path_factory, fmt, frames):
  out_dir, _, generator, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, fmt))
  mel = music_mel(config, frames, seed=2)
  reference = generator.generate_audio(mel[None]).numpy()[0]
  progress = []
  streamed = vocoder.vocode(mel, progress=lambda d, t: progress.append((d, t)))
  assert streamed.shape == reference.shape
  assert snr_db(reference, streamed) >= 40
  check_no_clicks(reference, streamed, vocoder, frames)
  assert progress[-1] == (frames, frames)
  assert [d for d, _ in progress] == sorted(d for d, _ in progress)


def test_short_savedmodel_input_is_exact_one_shot(tmp_path_factory):
  out_dir, _, generator, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, "saved_model"))
  mel = music_mel(config, 40, seed=3)
  reference = generator.generate_audio(mel[None]).numpy()[0]
  assert np.abs(vocoder.vocode(mel) - reference).max() <= 1e-5


def test_bad_inputs_and_chunk_sizes(tmp_path_factory):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, "vocoder_fp32.tflite"))
  with pytest.raises(ValueError, match=r"\[frames, 32\]"):
    vocoder.vocode(np.zeros((100, 31), np.float32))
  with pytest.raises(ValueError, match=r"\[frames, 32\]"):
    vocoder.vocode(np.zeros((100,), np.float32))
  mel = np.zeros((100, config.n_mels), np.float32)
  mel[50, 3] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    vocoder.vocode(mel)
  with pytest.raises(ValueError, match="exactly 64 frames"):
    vocoder.one_shot(np.zeros((63, config.n_mels), np.float32))
  with pytest.raises(ValueError, match="fixed chunk_frames"):
    Vocoder(os.path.join(out_dir, "vocoder_fp32.tflite"), chunk_frames=32)


_RSS_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from tfvocoder.inference import Vocoder
    model, mel_path = sys.argv[1], sys.argv[2]
    mel = np.load(mel_path, mmap_mode="r")
    vocoder = Vocoder(model)
    samples = 0
    for block in vocoder.stream(mel):
      samples += len(block)
    print(json.dumps({"samples": samples, "peak_rss_kb":
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def test_memory_is_flat_in_length(tmp_path_factory, tmp_path):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  model = os.path.join(out_dir, "vocoder_fp32.tflite")
  base = music_mel(config, 400, seed=4)
  frames_per_minute = int(60 * config.frame_rate)
  peaks = {}
  for minutes in (1, 10):
    frames = minutes * frames_per_minute
    path = str(tmp_path / f"mel_{minutes}.npy")
    np.save(path, np.resize(base, (frames, config.n_mels)))
    run = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, model, path],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["samples"] == frames * config.hop_length
    peaks[minutes] = result["peak_rss_kb"]
  assert peaks[10] <= 1.5 * peaks[1], peaks


def test_live_mode_is_the_smooth_merge_with_bounded_latency(tmp_path_factory):
  out_dir, _, generator, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, "vocoder_fp32.tflite"), live=True)
  assert vocoder.latency_frames == (vocoder.receptive_field_frames
                                    + vocoder.merge_context_frames)
  frames, pad = 700, vocoder.merge_frames
  mel = music_mel(config, frames, seed=10)
  bands = [b.numpy() for b in generator(mel[None])]
  # Oracle: the smooth merge of the bands with silence around them.
  padded = [np.pad(b, [[0, 0], [pad * h, pad * h]])
            for b, h in zip(bands, config.band_hops)]
  hop = config.hop_length
  expected = builtin_merge.merge_bands_smooth(padded, config).numpy()[0][
      pad * hop:(pad + frames) * hop]
  assert snr_db(expected, vocoder.vocode(mel)) >= 60
  assert Vocoder(os.path.join(out_dir, "saved_model")).latency_frames is None


@pytest.mark.parametrize("fmt", ["vocoder_fp32.tflite", "saved_model"])
def test_batched_mel_as_the_signature_takes_it(tmp_path_factory, fmt):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, fmt))
  mel = music_mel(config, 150, seed=11)
  np.testing.assert_array_equal(vocoder.vocode(mel[None]), vocoder.vocode(mel))
  chunk = mel[:64]
  np.testing.assert_array_equal(vocoder.one_shot(chunk[None]),
                                vocoder.one_shot(chunk))
  with pytest.raises(ValueError, match=r"\[frames, 32\] or \[1, frames, 32\]; "
                     r"got shape \(2, 150, 32\)"):
    vocoder.vocode(np.stack([mel, mel]))


def test_live_vocoder_progress_and_bad_values(tmp_path_factory):
  out_dir, _, _, config = exported(tmp_path_factory, "multiscale")
  vocoder = Vocoder(os.path.join(out_dir, "vocoder_fp32.tflite"), live=True)
  frames = 300
  mel = music_mel(config, frames, seed=12)
  progress = []
  audio = vocoder.vocode(mel, progress=lambda d, t: progress.append((d, t)))
  assert audio.shape == (frames * config.hop_length,)
  assert progress[-1] == (frames, frames)
  assert [d for d, _ in progress] == sorted(d for d, _ in progress)
  mel[200, 3] = np.inf
  with pytest.raises(ValueError, match=r"NaN/inf values in frames \[192, "):
    vocoder.vocode(mel)
