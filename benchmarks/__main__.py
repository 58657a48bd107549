"""Every benchmark in one run: one JSON, one table of ratios.

  python -m benchmarks [--quick] [--json=PATH] [--model_dir=DIR ...]
                       [--data_dir=SHARDS] [--threads=2]

Runs, each as its own process (fresh TensorFlow state, and each script's
own flags) writing JSON that is collected here:

  pipeline     benchmarks/pipeline.py: input pipeline windows/s on real
               music, and the multiscale training step it has to feed
  train_speed  benchmarks/train_speed.py: GAN steps/s of both families
  generation   benchmarks/generation.py: Keras x real time, GFLOP/s
  inference    benchmarks/inference.py (when present): SavedModel and
               TFLite fp32/fp16/int8 x real time
  streaming    benchmarks/streaming.py: live push cost and latency, and the
               exact mode against fixed chunks
  quality      `python -m tfvocoder.evaluate` of the `--model_dir`s (none:
               Griffin-Lim alone) on held-out real music

and measures two baselines in this process: TensorFlow's float32 GEMM rate
(the roofline) and Griffin-Lim's x real time. Machines are noisy, so the
table reports every speed figure as a ratio against a baseline measured in
the same run: multiscale against MelGAN, vocoders against Griffin-Lim,
achieved GFLOP/s against the GEMM peak, the pipeline against the model it
feeds; quality figures against Griffin-Lim's. `--quick` shrinks every
benchmark to a smoke run of a few minutes.

Data: `--data_dir` (prepared shards), else Debian's hyperrogue-music
prepared into a temporary dir, else 1.5 minutes of the built-in synthetic
music. A benchmark that fails is recorded with its error (exit status 1).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags, logging
import tensorflow as tf

from benchmarks import debian_music_dir
from tfvocoder.config import VocoderConfig
from tfvocoder.data import sources
from tfvocoder.evaluation import cost
from tfvocoder.evaluation.griffin_lim import griffin_lim
from tfvocoder.io_utils import atomic_write_text

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _args(quick: bool, threads: int) -> dict:
  """Command-line arguments of each benchmark script."""
  t = f"--threads={threads}"
  if quick:
    return {"pipeline": ["--batches=20", "--warmup=5", "--batch_size=4",
                         "--model_steps=1", f"--cores={threads}"],
            "train_speed": ["--batch_size=2", "--steps=1", t],
            "generation": ["--seconds=1", "--repeats=1", t],
            "inference": ["--seconds=4", "--repeats=1", t],
            "streaming": ["--quick", t],
            "quality": ["--examples=2", "--seconds=1", "--speed_seconds=1",
                        "--speed_repeats=1", "--notflite", t]}
  return {"pipeline": [f"--cores={threads}"], "train_speed": [t],
          "generation": [t], "inference": [t], "streaming": [t],
          "quality": ["--examples=8", "--seconds=3", t]}


def _run(name: str, module: str, args, json_path: str, timeout: float):
  """Runs `python -m module args`; its JSON or {"error": ...}."""
  logging.info("benchmark %s: python -m %s %s", name, module, " ".join(args))
  start = time.perf_counter()
  try:
    done = subprocess.run([sys.executable, "-m", module, *args],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=dict(os.environ,
                                             TF_CPP_MIN_LOG_LEVEL="2"))
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {timeout:.0f} s"}
  seconds = time.perf_counter() - start
  if done.returncode != 0 or not os.path.isfile(json_path):
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    logging.error("benchmark %s failed: %s", name, " | ".join(tail))
    return {"error": " | ".join(tail), "returncode": done.returncode}
  with open(json_path) as f:
    out = json.load(f)
  logging.info("benchmark %s: %.0f s", name, seconds)
  return {"result": out, "seconds": seconds}


def _data_dir(temp: str) -> str:
  """--data_dir, else hyperrogue-music prepared, else synthetic music."""
  if FLAGS.data_dir:
    return FLAGS.data_dir
  out = os.path.join(temp, "shards")
  music_dir = debian_music_dir()
  if music_dir:
    logging.info("preparing %s", music_dir)
    sources.prepare_dir(music_dir, out, VocoderConfig(), shard_bytes=10 ** 7)
    return out
  logging.warning("hyperrogue-music not installed (apt-get install "
                  "hyperrogue-music): benchmarking on synthetic music")
  return sources.ensure_synthetic_dataset(out, VocoderConfig(), minutes=1.5)


def baselines(seconds: float, repeats: int) -> dict:
  """TF GEMM GFLOP/s and Griffin-Lim x real time, measured here."""
  config = VocoderConfig()
  mel = cost.speed_mel(config, seconds)
  gl = cost.best_seconds(lambda: griffin_lim(mel, config), repeats)
  return {"tf_gemm_gflops": cost.tf_gemm_gflops(repeats),
          "griffin_lim_x_real_time":
              len(mel) / config.frame_rate / gl}


def _row(name, value, base_name, base) -> list:
  """[(name, value, base_name, base)], or [] without a value or a base."""
  return [(name, value, base_name, base)] if value is not None and base else []


def _pipeline_ratios(p: dict, peak: float, gl: float) -> list:
  return _row("pipeline batches/s", p.get("batches_per_sec"),
              "multiscale train steps/s", p.get("model_steps_per_sec"))


def _train_speed_ratios(result: dict, peak: float, gl: float) -> list:
  by = {r["model"]: r for r in result["results"]}
  return _row("train steps/s multiscale", by["multiscale"]["steps_per_sec"],
              "MelGAN", by["melgan"]["steps_per_sec"])


def _generation_ratios(result: list, peak: float, gl: float) -> list:
  by = {r["model"]: r for r in result}
  ms, mg = by["multiscale"], by["melgan"]
  rows = _row("Keras x RT multiscale", ms["x_real_time"], "MelGAN",
              mg["x_real_time"])
  for r in (ms, mg):
    rows += _row(f"Keras x RT {r['model']}", r["x_real_time"], "Griffin-Lim",
                 gl)
    rows += _row(f"Keras GFLOP/s {r['model']}", r["achieved_gflops"],
                 "TF GEMM peak", peak)
  return rows


def _inference_ratios(result: dict, peak: float, gl: float) -> list:
  by = {r["model"]: r for r in result["results"]}
  rows = []
  for variant in ("tflite_fp32", "tflite_fp16", "tflite_int8"):
    if all(variant in r["x_real_time"] for r in by.values()):
      rows += _row(f"{variant} x RT multiscale",
                   by["multiscale"]["x_real_time"][variant], "MelGAN",
                   by["melgan"]["x_real_time"][variant])
  for r in by.values():
    lite = r["x_real_time"].get("tflite_fp32")
    rows += _row(f"tflite_fp32 x RT {r['model']}", lite, "Griffin-Lim", gl)
    rows += _row(f"tflite_fp32 GFLOP/s {r['model']}",
                 lite and lite * r["gflop_per_audio_second"],
                 "LiteRT GEMM peak", result["peak"]["litert_gemm_gflops"])
  return rows


def _streaming_ratios(result: dict, peak: float, gl: float) -> list:
  rows = []
  for r in result["results"]:
    name = f"exact x RT {r['model']} {r['variant']}"
    rows += _row(name, r["exact_x_real_time"], "chunked pass",
                 r["chunked_x_real_time"])
    rows += _row(name, r["exact_x_real_time"], "one fixed chunk",
                 r["chunk_x_real_time"])
  return rows


def _quality_ratios(result: dict, peak: float, gl: float) -> list:
  systems = result["systems"]
  base = [s for s in systems if s["kind"] == "griffin_lim"][0]
  # ViSQOL when scored (a MOS: higher is better, a ratio above 1 beats
  # Griffin-Lim; the distances: below 1).
  keys = ("log_mel_l1", "mr_stft", "lsd_db") + (
      ("visqol",) if "visqol" in base["metrics"] else ())
  rows = []
  for s in systems:
    if s is base:
      continue
    for key in keys:
      rows += _row(f"{key} {s['name']}", s["metrics"][key]["overall"],
                   "Griffin-Lim", base["metrics"][key]["overall"])
  return rows


# Each benchmark's ratios, in table order: fn(its result, TF GEMM GFLOP/s,
# Griffin-Lim x real time) -> rows.
RATIOS = (("pipeline", _pipeline_ratios),
          ("train_speed", _train_speed_ratios),
          ("generation", _generation_ratios),
          ("inference", _inference_ratios),
          ("streaming", _streaming_ratios),
          ("quality", _quality_ratios))


def ratios(report: dict) -> list:
  """[(figure, value, baseline name, baseline value)] of every ratio, from
  the benchmarks that produced a result."""
  peak = report["baselines"]["tf_gemm_gflops"]
  gl = report["baselines"]["griffin_lim_x_real_time"]
  rows = []
  for key, fn in RATIOS:
    result = report.get(key, {}).get("result")
    if result:
      rows += fn(result, peak, gl)
  return rows


def table(rows) -> str:
  lines = [("figure", "value", "baseline", "value", "ratio")] + [
      (name, f"{v:.3g}", base, f"{b:.3g}", f"{v / b:.2f}")
      for name, v, base, b in rows]
  widths = [max(len(line[i]) for line in lines) for i in range(5)]
  return "\n".join("  ".join(c.ljust(w) if i in (0, 2) else c.rjust(w)
                             for i, (c, w) in enumerate(zip(line, widths)))
                   for line in lines)


def main(argv):
  del argv
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  args = _args(FLAGS.quick, FLAGS.threads)
  timeout = 900 if FLAGS.quick else 3600
  report = {"quick": FLAGS.quick, "threads": FLAGS.threads,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
  with tempfile.TemporaryDirectory() as temp:
    data_dir = _data_dir(temp)
    report["data_dir"] = data_dir if FLAGS.data_dir else "(temporary)"
    report["baselines"] = baselines(1.0 if FLAGS.quick else 10.0,
                                    1 if FLAGS.quick else 3)
    jobs = [("pipeline", "benchmarks.pipeline",
             [f"--data_dir={data_dir}"] + args["pipeline"]),
            ("train_speed", "benchmarks.train_speed", args["train_speed"]),
            ("generation", "benchmarks.generation", args["generation"])]
    if os.path.isfile(os.path.join(REPO, "benchmarks", "inference.py")):
      jobs.append(("inference", "benchmarks.inference", args["inference"]))
    else:
      report["inference"] = {"error": "benchmarks/inference.py not present"}
    jobs.append(("streaming", "benchmarks.streaming", args["streaming"]))
    for name, module, job_args in jobs:
      path = os.path.join(temp, f"{name}.json")
      report[name] = _run(name, module, job_args + [f"--json={path}"], path,
                          timeout)
    out = os.path.join(temp, "quality")
    report["quality"] = _run(
        "quality", "tfvocoder.evaluate",
        [f"--model_dir={d}" for d in FLAGS.model_dir] +
        [f"--data_dir={data_dir}", f"--output_dir={out}"] + args["quality"],
        os.path.join(out, "metrics.json"), timeout)
  report["ratios"] = [dict(figure=n, value=v, baseline=b, baseline_value=bv,
                           ratio=v / bv) for n, v, b, bv in ratios(report)]
  path = FLAGS.json
  atomic_write_text(path, json.dumps(report, indent=2))
  print(table(ratios(report)))
  failed = [k for k, v in report.items()
            if isinstance(v, dict) and "error" in v]
  for name in failed:
    print(f"{name}: FAILED: {report[name]['error']}")
  print(f"all figures: {path}")
  return 1 if failed else 0


def define_flags() -> None:
  """Flags of `python -m benchmarks` (defined only when run as a program)."""
  flags.DEFINE_bool("quick", False, "Tiny sizes: a smoke run of every "
                    "benchmark.")
  flags.DEFINE_string("json", os.path.join("runs", "benchmarks.json"),
                      "Write all figures here.")
  flags.DEFINE_multi_string("model_dir", [], "Trained model dirs for the "
                            "quality benchmark.")
  flags.DEFINE_string("data_dir", None, "Prepared shards of real music.")
  flags.DEFINE_integer("threads", 2, "Threads for every benchmark.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
