"""Evaluate trained vocoders against real audio and a Griffin-Lim baseline.

  python -m tfvocoder.evaluate --model_dir=DIR [--model_dir=DIR2 ...]
      --data_dir=SHARDS --output_dir=OUT [--audio=FILE ...] [--examples=6]
      [--seconds=2] [--seed=0] [--export_dir=EXPORT ...] [--notflite]

Examples: `--examples` windows of `--seconds` drawn (seeded reservoir
sample, so the same seed and data give the same windows) from the fixed,
consecutive held-out windows of the `--split` shards of `--data_dir`
(`tfvocoder.data.pipeline.make_dataset(..., training=False)`, peak-normalised
like training windows), and/or one example per `--audio` file (its first
`--max_audio_seconds`). Each example's log-mel is vocoded by every model and
by Griffin-Lim (`tfvocoder.evaluation.griffin_lim`), and compared with the real audio
by every `tfvocoder.evaluation.metrics` distance.

Cost and speed (per system): parameter counts, analytic FLOPs per audio
second (`tfvocoder.evaluation.cost`), x real time of Keras `generate_audio` on
`--speed_seconds` of synthetic music, of the TFLite fp32 file through
`tfvocoder.inference.Vocoder` (from `--export_dir`, else exported to a
temporary dir; left out with the reason when export fails or --notflite),
and of Griffin-Lim.

Output: OUT/metrics.json (everything, per example and averaged), and
OUT/report.html with OUT/assets/ (`tfvocoder.evaluation.report`).
"""

import math
import os
import time
from typing import Dict, List, Optional, Sequence

from absl import app, flags, logging
import numpy as np

from tfvocoder.evaluation import cost
from tfvocoder.evaluation import metrics
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation.griffin_lim import N_ITER, griffin_lim
from tfvocoder.io_utils import atomic_write_text

GRIFFIN_LIM = "griffin_lim"
# Fields that must agree between the evaluated models (same conditioning).
SIGNAL_FIELDS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels",
                 "fmin", "fmax", "log_floor", "n_bands", "peak_normalize")


class EvaluateError(RuntimeError):
  """Bad input (model dir, data, audio file); the message names the path."""


# ---------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------
def load_model(model_dir: str):
  """(generator, config, checkpoint path) of a training model dir."""
  from tfvocoder.training import model_dir as model_dir_lib
  try:
    return model_dir_lib.load_generator(model_dir)
  except model_dir_lib.ModelDirError as e:
    raise EvaluateError(str(e)) from e


def _unique_names(model_dirs: Sequence[str], configs) -> List[str]:
  names = []
  for d, c in zip(model_dirs, configs):
    base = os.path.basename(os.path.normpath(d)) or "model"
    name, i = f"{base} ({c.model})", 2
    while name in names or name == GRIFFIN_LIM:
      name, i = f"{base} ({c.model}) #{i}", i + 1
    names.append(name)
  return names


def _slug(name: str, taken: set) -> str:
  slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
  slug = "_".join(filter(None, slug.split("_"))) or "system"
  out, i = slug, 2
  while out in taken:
    out, i = f"{slug}_{i}", i + 1
  taken.add(out)
  return out


def check_compatible(model_dirs, configs) -> None:
  """All models must share the conditioning (mel) and band settings."""
  first = configs[0]
  for d, c in zip(model_dirs[1:], configs[1:]):
    diff = {f: (getattr(first, f), getattr(c, f)) for f in SIGNAL_FIELDS
            if getattr(first, f) != getattr(c, f)}
    if diff:
      raise EvaluateError(f"{d}: its config differs from {model_dirs[0]} in "
                          f"{diff}; models compared must share the log-mel")


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------
def example_samples(config: VocoderConfig, seconds: float) -> int:
  """Samples of an example of about `seconds`: whole mel frames, divisible
  by 2**n_bands (the band split)."""
  unit = math.lcm(config.hop_length, 2 ** config.n_bands)
  return max(1, round(seconds * config.sample_rate / unit)) * unit


def dataset_examples(data_dir: str, split: str, config: VocoderConfig,
                     count: int, seconds: float, seed: int) -> List[Dict]:
  """`count` seeded windows of the split: [{"name", "source", "audio"}]."""
  from tfvocoder.data import pipeline
  n = example_samples(config, seconds)
  try:
    files = pipeline.list_shards(pipeline.shard_pattern(data_dir, split))
  except ValueError as e:
    raise EvaluateError(f"{data_dir}: no '{split}' shards ({e})") from e
  dataset = pipeline.make_dataset(files, config.replace(window=n), 16,
                                  training=False)
  rng = np.random.default_rng(seed)
  chosen, seen = [], 0                        # reservoir sample (algorithm R)
  for batch in dataset.map(lambda b: b["audio"]):
    for audio in batch.numpy():
      if len(chosen) < count:
        chosen.append((seen, audio))
      else:
        j = int(rng.integers(0, seen + 1))
        if j < count:
          chosen[j] = (seen, audio)
      seen += 1
  if not chosen:
    raise EvaluateError(f"{data_dir}: the '{split}' split has no window of "
                        f"{n / config.sample_rate:.2f} s above the silence "
                        "threshold; try a smaller --seconds")
  logging.info("picked %d of %d held-out windows of %.2f s (seed %d)",
               len(chosen), seen, n / config.sample_rate, seed)
  return [{"name": f"window {i}", "source": f"{split} window {i}",
           "audio": audio} for i, audio in sorted(chosen, key=lambda x: x[0])]


def file_examples(paths: Sequence[str], config: VocoderConfig,
                  max_seconds: float) -> List[Dict]:
  """One example per audio file: its first `max_seconds`, whole frames,
  peak-normalised to `config.peak_normalize`."""
  from tfvocoder.data import audio_io
  unit = example_samples(config, 0)
  out = []
  for path in paths:
    try:
      audio = audio_io.decode(path, config).audio
    except (OSError, audio_io.SkipFile, RuntimeError) as e:
      raise EvaluateError(f"{path}: cannot read audio ({e})") from e
    n = min(len(audio), example_samples(config, max_seconds)) // unit * unit
    if n < config.n_fft * 2:
      raise EvaluateError(f"{path}: too short ({len(audio)} samples)")
    audio = audio[:n]
    peak = float(np.max(np.abs(audio)))
    if peak > 0:
      audio = audio * (config.peak_normalize / peak)
    out.append({"name": os.path.basename(path), "source": path,
                "audio": audio.astype(np.float32)})
  return out


def _vocode(systems, items, config, gl_iters, seed, batch_size) -> None:
  """Fills item["outputs"][slug] with every system's audio `[samples]`."""
  for s in systems:
    logging.info("vocoding %d examples with %s", len(items), s["name"])
    if s["kind"] == GRIFFIN_LIM:
      for i, item in enumerate(items):
        item["outputs"][s["slug"]] = griffin_lim(item["mel"], config,
                                                 gl_iters, seed + i)
      continue
    by_length = {}
    for item in items:
      by_length.setdefault(len(item["mel"]), []).append(item)
    for group in by_length.values():
      for b in range(0, len(group), batch_size):
        chunk = group[b:b + batch_size]
        audio = s["generator"].generate_audio(
            np.stack([it["mel"] for it in chunk])).numpy()
        for it, out in zip(chunk, audio):
          it["outputs"][s["slug"]] = np.clip(out, -1.0, 1.0)


def _speed(system, mel, config, repeats, tflite, export_dir, threads) -> Dict:
  """{runtime: {"seconds", "x_real_time"} or {"error"}} of one system."""
  logging.info("timing %s on %.1f s of audio (best of %d)", system["name"],
               len(mel) / config.frame_rate, repeats)
  if system["kind"] == GRIFFIN_LIM:
    elapsed = cost.best_seconds(
        lambda: griffin_lim(mel, config, system["n_iter"]), repeats)
    seconds = len(mel) / config.frame_rate
    return {"librosa": {"seconds": elapsed, "x_real_time": seconds / elapsed}}
  speed = {"keras": cost.keras_speed(system["generator"], mel, repeats)}
  speed["tflite_fp32"] = (
      cost.tflite_speed(system["model_dir"], export_dir, mel, repeats,
                        threads)
      if tflite else {"error": "not measured (--notflite)"})
  logging.info("%s: %s", system["name"], {
      k: v.get("x_real_time", v.get("error")) for k, v in speed.items()})
  return speed


# ---------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------
def evaluate(model_dirs: Sequence[str], output_dir: str,
             data_dir: Optional[str] = None, audio_files: Sequence[str] = (),
             examples: int = 6, seconds: float = 2.0, seed: int = 0,
             split: str = "test", max_audio_seconds: float = 10.0,
             gl_iters: int = N_ITER, speed_seconds: float = 4.0,
             speed_repeats: int = 2, tflite: bool = True,
             export_dirs: Sequence[str] = (), threads: int = 2,
             batch_size: int = 4) -> Dict:
  """Runs the evaluation (module docstring); returns what metrics.json holds."""
  from tfvocoder import dsp, models
  from tfvocoder.evaluation import report
  if not data_dir and not audio_files:
    raise EvaluateError("give --data_dir (held-out shards) and/or --audio")
  if export_dirs and len(export_dirs) != len(model_dirs):
    raise EvaluateError(f"{len(export_dirs)} --export_dir for "
                        f"{len(model_dirs)} --model_dir; give one per model")
  start = time.perf_counter()
  loaded = []
  for d in model_dirs:
    logging.info("loading %s", d)
    loaded.append(load_model(d))
  configs = [c for _, c, _ in loaded]
  if configs:
    check_compatible(model_dirs, configs)
  config = configs[0] if configs else VocoderConfig()   # Griffin-Lim only

  items = []
  if data_dir:
    items += dataset_examples(data_dir, split, config, examples, seconds, seed)
  items += file_examples(audio_files, config, max_audio_seconds)
  for item in items:
    item["mel"] = dsp.log_mel(item["audio"][None], config).numpy()[0]
    item["outputs"], item["metrics"] = {}, {}

  taken = set()
  systems = []
  for (generator, c, ckpt), d, name in zip(loaded, model_dirs,
                                            _unique_names(model_dirs, configs)):
    systems.append({"name": name, "slug": _slug(name, taken), "kind": "model",
                    "model": c.model, "model_dir": os.path.abspath(d),
                    "checkpoint": os.path.basename(ckpt),
                    "parameters": models.parameter_counts(generator),
                    "gflops_per_audio_second":
                        cost.flops_per_audio_second(generator) / 1e9,
                    "generator": generator})
  systems.append({"name": "Griffin-Lim", "slug": _slug(GRIFFIN_LIM, taken),
                  "kind": GRIFFIN_LIM, "model": GRIFFIN_LIM,
                  "n_iter": gl_iters, "parameters": None,
                  "gflops_per_audio_second": None})
  real_slug = _slug("real", taken)

  _vocode(systems, items, config, gl_iters, seed, batch_size)
  for i, item in enumerate(items):
    logging.info("metrics of example %d/%d (%s)", i + 1, len(items),
                 item["name"])
    for s in systems:
      item["metrics"][s["slug"]] = metrics.all_metrics(
          item["audio"], item["outputs"][s["slug"]], config)
  for s in systems:
    s["metrics"] = metrics.mean_metrics([it["metrics"][s["slug"]]
                                         for it in items])
  speed_mel = cost.speed_mel(config, speed_seconds, seed)
  audio_seconds = len(speed_mel) / config.frame_rate
  for i, s in enumerate(systems):
    export_dir = export_dirs[i] if export_dirs and i < len(model_dirs) else None
    s["speed"] = _speed(s, speed_mel, config, speed_repeats, tflite,
                        export_dir, threads)

  result = {
      "config": {f: getattr(config, f) for f in SIGNAL_FIELDS},
      "band_edges_hz": [list(e) for e in config.band_edges_hz],
      "data": {"data_dir": data_dir and os.path.abspath(data_dir),
               "split": split, "audio_files": list(audio_files),
               "seconds": seconds, "seed": seed, "examples": len(items)},
      "speed_audio_seconds": audio_seconds, "threads": threads,
      "real": real_slug,
      "systems": [{k: v for k, v in s.items() if k != "generator"}
                  for s in systems],
      "examples": [{"name": it["name"], "source": it["source"],
                    "samples": int(len(it["audio"])),
                    "metrics": it["metrics"]} for it in items],
  }
  assets = report.write_report(output_dir, result, items, config)
  for entry, files in zip(result["examples"], assets):
    entry["assets"] = files
  atomic_write_text(os.path.join(output_dir, "metrics.json"),
                    json_dumps(result))
  logging.info("evaluation done in %.0f s: %s", time.perf_counter() - start,
               os.path.join(output_dir, "report.html"))
  return result


def json_dumps(value) -> str:
  """JSON with numpy scalars as plain numbers and NaN as null."""
  import json

  def clean(x):
    if isinstance(x, dict):
      return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
      return [clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
      return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
      return int(x)
    return x
  return json.dumps(clean(value), indent=2)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so
  importing this module never clashes with other modules' flags)."""
  flags.DEFINE_multi_string("model_dir", [], "Training model dir (config.json "
                            "+ checkpoints); repeat to compare models; none: "
                            "Griffin-Lim only.")
  flags.DEFINE_string("data_dir", None, "Prepared shards (`prepare` output or "
                      "the synthetic dataset dir).")
  flags.DEFINE_multi_string("audio", [], "Audio files to evaluate on (also or "
                            "instead of --data_dir).")
  flags.DEFINE_string("output_dir", None, "Where metrics.json, report.html and "
                      "assets/ go.")
  flags.DEFINE_string("split", "test", "Shard split of --data_dir.")
  flags.DEFINE_integer("examples", 6, "Held-out windows to evaluate.")
  flags.DEFINE_float("seconds", 2.0, "Length of each held-out window.")
  flags.DEFINE_integer("seed", 0, "Seeds the window choice and Griffin-Lim.")
  flags.DEFINE_float("max_audio_seconds", 10.0, "Seconds used of each --audio.")
  flags.DEFINE_integer("gl_iters", N_ITER, "Griffin-Lim iterations.")
  flags.DEFINE_float("speed_seconds", 4.0, "Audio seconds per timed call.")
  flags.DEFINE_integer("speed_repeats", 2, "Timed calls (best kept).")
  flags.DEFINE_bool("tflite", True, "Also time the TFLite fp32 vocoder.")
  flags.DEFINE_multi_string("export_dir", [], "`python -m export` output of "
                            "each --model_dir, in order (default: export to a "
                            "temporary dir for the TFLite timing).")
  flags.DEFINE_integer("threads", 2, "TF intra/inter-op and TFLite threads.")


def main(argv):
  del argv
  import sys
  import tensorflow as tf
  FLAGS = flags.FLAGS
  if not FLAGS.output_dir:
    raise app.UsageError("--output_dir is required")
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  try:
    result = evaluate(
        FLAGS.model_dir, FLAGS.output_dir, data_dir=FLAGS.data_dir,
        audio_files=FLAGS.audio, examples=FLAGS.examples,
        seconds=FLAGS.seconds, seed=FLAGS.seed, split=FLAGS.split,
        max_audio_seconds=FLAGS.max_audio_seconds, gl_iters=FLAGS.gl_iters,
        speed_seconds=FLAGS.speed_seconds, speed_repeats=FLAGS.speed_repeats,
        tflite=FLAGS.tflite, export_dirs=FLAGS.export_dir,
        threads=FLAGS.threads)
  except EvaluateError as e:
    print(f"evaluate: error: {e}", file=sys.stderr)
    return 1
  from tfvocoder.evaluation.report import summary_table
  print(summary_table(result))
  print(f"report: {os.path.join(FLAGS.output_dir, 'report.html')}")
  return 0


if __name__ == "__main__":
  define_flags()
  app.run(main)
