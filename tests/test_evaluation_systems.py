"""tfvocoder.evaluation.systems: model dirs and Griffin-Lim behind one
`vocode(mel)`, lined up with unique names and slugs."""

import os

import numpy as np
import pytest

import eval_fixtures
from tfvocoder.config import tiny_config
from tfvocoder.evaluation import EvaluateError, systems
from tfvocoder.evaluation.griffin_lim import griffin_lim
from vocoder_models import music_mel


def test_bad_model_dirs_name_the_path(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(EvaluateError, match=str(empty / "config.json")):
    systems.load_model(str(empty))
  (empty / "config.json").write_text(tiny_config().to_json())
  with pytest.raises(EvaluateError,
                     match=f"{empty}: no checkpoint"):
    systems.load_model(str(empty))
  with pytest.raises(EvaluateError, match="does not exist"):
    systems.load_model(str(tmp_path / "nowhere"))
  a, b = tiny_config(), tiny_config(n_mels=16)
  with pytest.raises(EvaluateError, match="n_mels"):
    systems.check_compatible(["a", "b"], [a, b])


def test_lineup_names_slugs_and_order(tmp_path_factory, tmp_path):
  ms, mg = eval_fixtures.shared_model_dirs(tmp_path_factory)
  twin = str(tmp_path / "tiny_ms")                 # same base name as ms
  os.symlink(ms, twin)
  lineup = systems.load_systems([ms, twin, mg], gl_iters=4, seed=5)
  assert [s.name for s in lineup.systems] == [
      "tiny_ms (multiscale)", "tiny_ms (multiscale) #2", "tiny_mg (melgan)",
      "Griffin-Lim"]
  assert [s.slug for s in lineup.systems] == [
      "tiny_ms_multiscale", "tiny_ms_multiscale_2", "tiny_mg_melgan",
      "griffin_lim"]
  assert lineup.real == "real"
  assert lineup.config == tiny_config(model="multiscale", seed=0)
  gl = lineup.systems[-1]
  assert (gl.kind, gl.n_iter, gl.seed) == ("griffin_lim", 4, 5)
  described = lineup.systems[0].describe()
  assert described["kind"] == "model" and described["model"] == "multiscale"
  assert described["model_dir"] == os.path.abspath(ms)
  assert described["parameters"]["total"] > 0
  assert described["gflops_per_audio_second"] > 0
  assert gl.describe()["parameters"] is None
  assert systems.slug("real", {"real"}) == "real_2"
  assert systems.slug("  ", set()) == "system"


def test_every_system_vocodes_a_mel(tmp_path_factory):
  ms, _ = eval_fixtures.shared_model_dirs(tmp_path_factory)
  lineup = systems.load_systems([ms], gl_iters=4, seed=1, batch_size=2)
  config = lineup.config
  mels = [music_mel(config, n, seed=n) for n in (20, 12, 20, 20)]
  model, gl = lineup.systems
  outputs = model.vocode_all(mels)           # batches of equal lengths
  for mel, out in zip(mels, outputs):
    assert out.shape == (len(mel) * config.hop_length,)
    assert np.abs(out).max() <= 1.0
    np.testing.assert_allclose(out, model.vocode(mel), atol=1e-5)
  # Griffin-Lim: example i seeded seed + i, vocode() seeded seed.
  gl_out = gl.vocode_all(mels[:2])
  np.testing.assert_array_equal(gl_out[1], griffin_lim(mels[1], config, 4, 2))
  np.testing.assert_array_equal(gl.vocode(mels[0]), gl_out[0])
  speed = gl.timings(mels[1], repeats=1)["librosa"]
  assert speed["x_real_time"] > 0 and speed["seconds"] > 0
