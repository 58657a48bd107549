"""`python -m benchmarks`: ratios and table from collected results (the
benchmarks themselves are too slow for the test suite)."""

import importlib

bench = importlib.import_module("benchmarks.__main__")


def _report():
  return {
      "baselines": {"tf_gemm_gflops": 200.0, "griffin_lim_x_real_time": 5.0},
      "pipeline": {"result": {"batches_per_sec": 10.0,
                              "model_steps_per_sec": 0.5}},
      "train_speed": {"result": {"results": [
          {"model": "melgan", "steps_per_sec": 1.0},
          {"model": "multiscale", "steps_per_sec": 2.0}]}},
      "generation": {"result": [
          {"model": "multiscale", "x_real_time": 20.0,
           "achieved_gflops": 100.0},
          {"model": "melgan", "x_real_time": 10.0, "achieved_gflops": 50.0}]},
      "inference": {"error": "benchmarks/inference.py not present"},
      "quality": {"result": {"systems": [
          {"name": "ms", "kind": "model", "metrics": {
              k: {"overall": 2.0} for k in ("log_mel_l1", "mr_stft",
                                            "lsd_db")}},
          {"name": "Griffin-Lim", "kind": "griffin_lim", "metrics": {
              k: {"overall": 4.0} for k in ("log_mel_l1", "mr_stft",
                                            "lsd_db")}}]}},
  }


def test_every_speed_figure_is_a_ratio_to_a_same_run_baseline():
  rows = {(name, base): value / b
          for name, value, base, b in bench.ratios(_report())}
  assert rows[("pipeline batches/s", "multiscale train steps/s")] == 20.0
  assert rows[("train steps/s multiscale", "MelGAN")] == 2.0
  assert rows[("Keras x RT multiscale", "MelGAN")] == 2.0
  assert rows[("Keras x RT multiscale", "Griffin-Lim")] == 4.0
  assert rows[("Keras GFLOP/s melgan", "TF GEMM peak")] == 0.25
  assert rows[("lsd_db ms", "Griffin-Lim")] == 0.5
  assert not any("tflite" in name for name, _ in rows)   # inference failed
  table = bench.table(bench.ratios(_report())).splitlines()
  assert table[0].split() == ["figure", "value", "baseline", "value", "ratio"]
  assert len(table) == 1 + len(rows)


def test_quick_arguments_cover_every_benchmark():
  quick, full = bench._args(True, 2), bench._args(False, 2)
  assert set(quick) == set(full) == {"pipeline", "train_speed", "generation",
                                     "inference", "streaming", "quality"}


def test_inference_ratios_against_melgan_griffin_lim_and_the_litert_peak():
  report = _report()
  report["inference"] = {"result": {
      "peak": {"litert_gemm_gflops": 40.0},
      "results": [
          {"model": "multiscale", "gflop_per_audio_second": 2.0,
           "x_real_time": {"tflite_fp32": 30.0, "tflite_fp16": 20.0}},
          {"model": "melgan", "gflop_per_audio_second": 1.0,
           "x_real_time": {"tflite_fp32": 10.0}}]}}
  rows = [(name, base, value / b)
          for name, value, base, b in bench.ratios(report)]
  lite = [r for r in rows if r[0].startswith("tflite")]
  assert lite == [("tflite_fp32 x RT multiscale", "MelGAN", 3.0),
                  ("tflite_fp32 x RT multiscale", "Griffin-Lim", 6.0),
                  ("tflite_fp32 GFLOP/s multiscale", "LiteRT GEMM peak", 1.5),
                  ("tflite_fp32 x RT melgan", "Griffin-Lim", 2.0),
                  ("tflite_fp32 GFLOP/s melgan", "LiteRT GEMM peak", 0.25)]
  # Table order: pipeline, train_speed, generation, inference, quality.
  names = [r[0] for r in rows]
  assert names.index("Keras x RT multiscale") < names.index(lite[0][0])
  assert names.index(lite[-1][0]) < names.index("log_mel_l1 ms")


def test_streaming_ratios_against_the_chunked_pass_and_one_chunk():
  report = _report()
  report["streaming"] = {"result": {"results": [
      {"model": "multiscale", "variant": "fp32", "exact_x_real_time": 45.0,
       "chunked_x_real_time": 50.0, "chunk_x_real_time": 60.0}]}}
  rows = [(name, base, value / b) for name, value, base, b
          in bench.ratios(report) if name.startswith("exact")]
  assert rows == [("exact x RT multiscale fp32", "chunked pass", 0.9),
                  ("exact x RT multiscale fp32", "one fixed chunk", 0.75)]
