"""One evaluation: every system vocodes every example; distances, cost,
speed; metrics.json and report.html (`evaluate`, behind
`python -m tfvocoder.evaluate`, whose docstring describes the run).

Steps: the output dir checked (`io_utils.output_dir_problem`, before
any slow work), `systems.load_systems` (models + Griffin-Lim),
`examples.choose_examples` (held-out windows and audio files, with their
log-mels) less the silent ones (`skip_silent`: `metrics.silent_reference`,
listed in metrics.json "skipped" and on the page), every system's
`vocode_all` of the mels, `scores.all_metrics` of each output against the
real audio (and their means; ViSQOL unless `visqol=False`: every example
is checked against its minimum length before any vocoding), speed on
`cost.speed_mel` (Keras / librosa, and the fp32 TFLite file of each model:
from its `--export_dir`, else exported here to a temporary dir), then
`report.write_report` and OUT/metrics.json.
"""

import json
import math
import os
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import EvaluateError, cost, metrics, report, scores
from tfvocoder.evaluation import visqol as visqol_lib
from tfvocoder.evaluation.examples import Example, choose_examples
from tfvocoder.evaluation.griffin_lim import N_ITER
from tfvocoder.evaluation.systems import (SIGNAL_FIELDS, Lineup, ModelSystem,
                                          System, load_systems)
from tfvocoder.export import export_model
from tfvocoder.io_utils import output_dir_problem
from tfvocoder.io_utils import atomic_write_text

Outputs = Dict[str, List[np.ndarray]]      # system slug -> audio per example


def _check_arguments(model_dirs, output_dir, data_dir, audio_files,
                     export_dirs) -> None:
  if not data_dir and not audio_files:
    raise EvaluateError("give --data_dir (held-out shards) and/or --audio")
  if export_dirs and len(export_dirs) != len(model_dirs):
    raise EvaluateError(f"{len(export_dirs)} --export_dir for "
                        f"{len(model_dirs)} --model_dir; give one per model")
  problem = output_dir_problem(output_dir)
  if problem:
    raise EvaluateError(problem)


def skip_silent(examples: Sequence[Example]) -> Tuple[List[Example],
                                                      List[Dict]]:
  """The examples with a usable reference, and the skipped ones.

  Returns:
    (kept examples, [{"name", "source", "samples", "reason"}] of those whose
    real audio is silent (`metrics.silent_reference`), each logged as a
    warning).
  Raises:
    EvaluateError: every example is silent.
  """
  kept, skipped = [], []
  for example in examples:
    reason = metrics.silent_reference(example.audio)
    if reason is None:
      kept.append(example)
      continue
    logging.warning("skipping example %s (%s): %s", example.name,
                    example.source, reason)
    skipped.append({"name": example.name, "source": example.source,
                    "samples": int(len(example.audio)), "reason": reason})
  if not kept:
    raise EvaluateError(f"no example left to evaluate: {skipped[0]['source']}"
                        f": {skipped[0]['reason']}")
  return kept, skipped


def vocode_examples(systems: Sequence[System],
                    examples: Sequence[Example]) -> Outputs:
  """{slug: `[samples]` audio of every example} of every system."""
  outputs = {}
  for s in systems:
    logging.info("vocoding %d examples with %s", len(examples), s.name)
    outputs[s.slug] = s.vocode_all([e.mel for e in examples])
  return outputs


def check_visqol_lengths(examples: Sequence[Example],
                         config: VocoderConfig) -> None:
  """EvaluateError naming the first example too short for ViSQOL."""
  for example in examples:
    try:
      visqol_lib.check_length(len(example.audio), config)
    except ValueError as e:
      raise EvaluateError(f"{example.source}: {e}; give a longer --seconds "
                          "(or --max_audio_seconds), or --novisqol") from e


def score(systems: Sequence[System], examples: Sequence[Example],
          outputs: Outputs, config: VocoderConfig,
          visqol: bool = True) -> List[Dict]:
  """Per example {slug: `scores.all_metrics` of the output vs the real}."""
  per_example = []
  for i, example in enumerate(examples):
    logging.info("metrics of example %d/%d (%s)", i + 1, len(examples),
                 example.name)
    per_example.append({s.slug: scores.all_metrics(
        example.audio, outputs[s.slug][i], config, visqol=visqol)
                        for s in systems})
  return per_example


def tflite_speed(system: ModelSystem, export_dir: Optional[str],
                 mel: np.ndarray, repeats: int, threads: int) -> Dict:
  """`cost.tflite_speed` of `export_dir`; without one, the model dir is
  exported (fp32 TFLite only, no parity check) to a temporary dir first. An
  export that fails is reported as {"error"}, like a failed timing."""
  if export_dir:
    return cost.tflite_speed(export_dir, mel, repeats, threads)
  with tempfile.TemporaryDirectory() as tmp:
    logging.info("exporting %s to TFLite (fp32 timing)", system.model_dir)
    try:
      export_model(system.model_dir, tmp, formats=("tflite",),
                   check_parity=False)
    except Exception as e:  # noqa: BLE001 -- report, do not fail the evaluation
      logging.warning("TFLite export of %s failed: %s", system.model_dir, e)
      return cost.error_entry(e)
    return cost.tflite_speed(tmp, mel, repeats, threads)


def speed(system: System, mel: np.ndarray, repeats: int, tflite: bool,
          export_dir: Optional[str], threads: int) -> Dict:
  """{runtime: {"seconds", "x_real_time"} or {"error"}} of one system."""
  logging.info("timing %s on %.1f s of audio (best of %d)", system.name,
               len(mel) / system.config.frame_rate, repeats)
  figures = system.timings(mel, repeats)
  if isinstance(system, ModelSystem):
    figures["tflite_fp32"] = (
        tflite_speed(system, export_dir, mel, repeats, threads) if tflite
        else {"error": "not measured (--notflite)"})
    logging.info("%s: %s", system.name, {
        k: v.get("x_real_time", v.get("error")) for k, v in figures.items()})
  return figures


def _result(lineup: Lineup, examples: Sequence[Example], skipped, per_example,
            speeds, data: Dict, speed_audio_seconds: float,
            threads: int) -> Dict:
  """What metrics.json holds (the assets are added by `evaluate`)."""
  config = lineup.config
  return {
      "config": {f: getattr(config, f) for f in SIGNAL_FIELDS},
      "band_edges_hz": [list(e) for e in config.band_edges_hz],
      "data": data,
      "speed_audio_seconds": speed_audio_seconds, "threads": threads,
      "real": lineup.real,
      "systems": [dict(s.describe(), metrics=scores.mean_metrics(
          [example_scores[s.slug] for example_scores in per_example]),
                       speed=figures)
                  for s, figures in zip(lineup.systems, speeds)],
      "examples": [{"name": e.name, "source": e.source,
                    "samples": int(len(e.audio)), "metrics": m}
                   for e, m in zip(examples, per_example)],
      "skipped": list(skipped),
  }


def evaluate(model_dirs: Sequence[str], output_dir: str,
             data_dir: Optional[str] = None, audio_files: Sequence[str] = (),
             examples: int = 6, seconds: float = 2.0, seed: int = 0,
             split: str = "test", max_audio_seconds: float = 10.0,
             gl_iters: int = N_ITER, speed_seconds: float = 4.0,
             speed_repeats: int = 2, tflite: bool = True,
             export_dirs: Sequence[str] = (), threads: int = 2,
             batch_size: int = 4, visqol: bool = True) -> Dict:
  """Runs the evaluation (`tfvocoder.evaluate`'s docstring: the flags of
  the same names); writes OUT/metrics.json and OUT/report.html; returns
  what metrics.json holds. Examples with a silent reference are left out
  (`skip_silent`; listed in its "skipped"). `visqol` adds ViSQOL
  (`scores.VISQOL`: up to 1 s per 2 s example and system). Raises
  EvaluateError on bad input (an output dir that cannot hold files: before
  any slow work; an example too short for ViSQOL: before vocoding)."""
  _check_arguments(model_dirs, output_dir, data_dir, audio_files,
                   export_dirs)
  start = time.perf_counter()
  lineup = load_systems(model_dirs, gl_iters, seed, batch_size)
  config = lineup.config
  chosen, skipped = skip_silent(choose_examples(
      config, data_dir, split, examples, seconds, seed, audio_files,
      max_audio_seconds))
  if visqol:
    check_visqol_lengths(chosen, config)
  outputs = vocode_examples(lineup.systems, chosen)
  per_example = score(lineup.systems, chosen, outputs, config, visqol)
  mel = cost.speed_mel(config, speed_seconds, seed)
  speeds = [speed(s, mel, speed_repeats, tflite,
                  export_dirs[i] if export_dirs and i < len(model_dirs)
                  else None, threads) for i, s in enumerate(lineup.systems)]
  data = {"data_dir": data_dir and os.path.abspath(data_dir), "split": split,
          "audio_files": list(audio_files), "seconds": seconds, "seed": seed,
          "examples": len(chosen), "visqol": visqol}
  result = _result(lineup, chosen, skipped, per_example, speeds, data,
                   len(mel) / config.frame_rate, threads)
  assets = report.write_report(output_dir, result, chosen, outputs, config)
  for entry, files in zip(result["examples"], assets):
    entry["assets"] = files
  atomic_write_text(os.path.join(output_dir, "metrics.json"),
                    json_dumps(result))
  logging.info("evaluation done in %.0f s: %s", time.perf_counter() - start,
               os.path.join(output_dir, "report.html"))
  return result


def json_dumps(value) -> str:
  """Indented JSON with numpy scalars as plain numbers and NaN / inf as
  null."""
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
