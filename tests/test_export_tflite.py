"""`tfvocoder.export.tflite`: the converted files run under LiteRT, builtin ops."""

import os

from ai_edge_litert.interpreter import Interpreter

from tfvocoder.evaluation.metrics import snr_db
from vocoder_models import CHUNK_FRAMES, exported, music_mel


def test_tflite_files_run_under_litert(tmp_path_factory):
  out_dir, _, generator, config = exported(tmp_path_factory, "multiscale")
  mel = music_mel(config, CHUNK_FRAMES, seed=5)
  expected = generator.generate_audio(mel[None]).numpy()[0]
  interpreter = Interpreter(os.path.join(out_dir, "vocoder_fp32.tflite"),
                            num_threads=1)
  assert set(interpreter.get_signature_list()) == {
      "serving_default", "bands", "merge"}
  audio = interpreter.get_signature_runner("serving_default")(
      mel=mel[None])["audio"][0]
  assert snr_db(expected, audio) >= 40
  bands = interpreter.get_signature_runner("bands")(mel=mel[None])
  assert [bands[f"band_{k}"].shape[1] for k in range(config.n_bands)] == [
      CHUNK_FRAMES * hop for hop in config.band_hops]
