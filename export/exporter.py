"""`export_model`: a training model dir -> SavedModel, TFLite files, report.

Output dir layout:
  saved_model/            serving SavedModel (+ a copy of export_config.json)
  vocoder_fp32.tflite     builtin ops only, batch 1, fixed chunk sizes
  vocoder_fp16.tflite     float16 weights
  vocoder_int8.tflite     dynamic-range int8 weights
  export_config.json      config, family, receptive field, chunk sizes
  export_report.json      sizes, ops per TFLite file, parity figures
Every file is written atomically (temp + rename).
"""

import contextlib
import json
import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence

from absl import logging

from tfvocoder.training import model_dir as model_dir_lib
from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import atomic_write_bytes, atomic_write_text
from tfvocoder.inference.runtime import EXPORT_CONFIG
from tfvocoder.inference.vocoder import (DEFAULT_CHUNK_FRAMES,
                                         DEFAULT_MERGE_FRAMES)

from . import formulations, graphs, parity
from . import tflite as tflite_lib

FORMATS = ("saved_model", "tflite")
REPORT = "export_report.json"


class ExportError(RuntimeError):
  """The model dir / checkpoint cannot be exported; the message names it."""


def load_config(model_dir: str) -> VocoderConfig:
  """The `VocoderConfig` training saved in `model_dir` (ExportError if bad)."""
  try:
    return model_dir_lib.load_config(model_dir)
  except model_dir_lib.ModelDirError as e:
    raise ExportError(str(e)) from e


def load_generator(model_dir: str, checkpoint: Optional[str] = None):
  """(generator, config, checkpoint path); see `tfvocoder.training.model_dir`."""
  try:
    return model_dir_lib.load_generator(model_dir, checkpoint)
  except model_dir_lib.ModelDirError as e:
    raise ExportError(str(e)) from e


def export_config(generator, config: VocoderConfig, chunk_frames: int,
                  merge_frames: int, checkpoint: str) -> Dict:
  """What travels with the export (see tfvocoder.inference.runtime)."""
  return {
      "format_version": 1,
      "model": config.model,
      "target_key": generator.target_key,
      "receptive_field_frames": int(generator.receptive_field_frames),
      "sample_rate": config.sample_rate,
      "hop_length": config.hop_length,
      "n_mels": config.n_mels,
      "checkpoint": os.path.basename(checkpoint),
      "tflite": {"chunk_frames": chunk_frames,
                 "merge_frames": merge_frames if generator.target_key ==
                 "bands" else None},
      "config": config.to_dict(),
  }


def _publish(path: str) -> None:
  """Readable by others, as a plain write would leave it (temp files and
  dirs are created private)."""
  umask = os.umask(0)
  os.umask(umask)
  if os.path.isdir(path):
    for root, dirs, names in os.walk(path):
      os.chmod(root, 0o777 & ~umask)
      for name in names:
        os.chmod(os.path.join(root, name), 0o666 & ~umask)
  else:
    os.chmod(path, 0o666 & ~umask)


def _dir_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(path) for name in names)


def _write_saved_model(generator, config, output_dir, config_text) -> Dict:
  final = os.path.join(output_dir, "saved_model")
  staging = tempfile.mkdtemp(prefix=".saved_model.", dir=output_dir)
  try:
    variables = graphs.save(generator, config, staging)
    with open(os.path.join(staging, EXPORT_CONFIG), "w") as f:
      f.write(config_text)
    _publish(staging)
    if os.path.exists(final):
      shutil.rmtree(final)
    os.replace(staging, final)
  finally:
    if os.path.exists(staging):
      shutil.rmtree(staging)
  return {"bytes": _dir_bytes(final), "variables": len(variables),
          "variable_names": variables,
          "signatures": list(graphs.SIGNATURES[generator.target_key])}


def _write_tflite(generator, config, output_dir, chunk_frames, merge_frames
                  ) -> Dict:
  functions = graphs.tflite_functions(generator, config, chunk_frames,
                                      merge_frames)
  trackable = graphs.tracking_root(functions)
  files = {}
  for variant, result in tflite_lib.convert_all(functions, trackable).items():
    name = f"vocoder_{variant}.tflite"
    atomic_write_bytes(os.path.join(output_dir, name), result["model"])
    _publish(os.path.join(output_dir, name))
    files[name] = {"bytes": len(result["model"]), "ops": result["ops"],
                   "signatures": list(graphs.SIGNATURES[generator.target_key]),
                   "convert_seconds": result["convert_seconds"]}
  return files


def export_model(model_dir: str, output_dir: str,
                 formats: Sequence[str] = FORMATS,
                 checkpoint: Optional[str] = None,
                 chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                 merge_frames: int = DEFAULT_MERGE_FRAMES,
                 parity_frames: Optional[int] = None,
                 check_parity: bool = True, polyphase: bool = True) -> Dict:
  """Exports a trained generator; returns the report (also written as JSON).

  Args:
    model_dir: training model dir (config.json + checkpoints).
    output_dir: created if missing; existing export files are replaced.
    formats: subset of ("saved_model", "tflite").
    checkpoint: a checkpoint prefix (e.g. DIR/ckpt-12); default the latest.
    chunk_frames, merge_frames: the TFLite files' fixed chunk sizes (frames
      per generator call / per merge window); powers of two.
    parity_frames: mel frames of the parity input (default: long enough to
      stream over several TFLite merge windows).
    check_parity: measure (and enforce) parity with the Keras generator.
    polyphase: TFLite files get the `formulations` rewrites (same outputs):
      transposed convolutions in polyphase form (CONV_2D instead of
      TRANSPOSE_CONV, about 1.7x faster for the multiscale model under
      XNNPACK) and reflection padding as slices (about 1.4x for MelGAN).
  Raises:
    ExportError: bad model dir / checkpoint, or a parity check below its
      limit (the files and the report are written first).
  """
  _check_formats(formats)
  generator, config, checkpoint = load_generator(model_dir, checkpoint)
  os.makedirs(output_dir, exist_ok=True)
  info = export_config(generator, config, chunk_frames, merge_frames,
                       checkpoint)
  config_text = json.dumps(info, indent=2, sort_keys=True)
  report = _report_head(generator, config, info, polyphase)
  report["files"] = _write_models(generator, config, output_dir, formats,
                                  config_text, chunk_frames, merge_frames,
                                  polyphase)
  _write_json(output_dir, EXPORT_CONFIG, config_text)
  if check_parity:
    report["parity"] = parity.measure(
        generator, config, output_dir, formats, chunk_frames,
        info["tflite"]["merge_frames"], parity_frames)
  _write_json(output_dir, REPORT, json.dumps(report, indent=2,
                                             sort_keys=True))
  failed = [name for name, p in report.get("parity", {}).items()
            if not p.get("ok", True)]
  if failed:
    raise ExportError(f"{output_dir}: parity below the limit for {failed}; "
                      f"see {os.path.join(output_dir, REPORT)}")
  return report


def _report_head(generator, config: VocoderConfig, info: Dict,
                 polyphase: bool) -> Dict:
  """The report's model, chunk sizes, cost and formulations (`info`: the
  `export_config`)."""
  chunk_frames = info["tflite"]["chunk_frames"]
  return {"model": config.model, "checkpoint": info["checkpoint"],
          "receptive_field_frames": info["receptive_field_frames"],
          "tflite_chunk_frames": chunk_frames,
          "tflite_merge_frames": info["tflite"]["merge_frames"],
          "cost": parity.cost(generator, config, chunk_frames), "files": {},
          "formulations": (["tflite: polyphase_transposed_conv",
                            "tflite: reflect_pad_as_slices"]
                           if polyphase else [])}


def _check_formats(formats: Sequence[str]) -> None:
  unknown = sorted(set(formats) - set(FORMATS))
  if unknown or not formats:
    raise ExportError(f"--formats: unknown {unknown or 'empty'}; expected a "
                      f"subset of {FORMATS}")


def _write_json(output_dir: str, name: str, text: str) -> None:
  """`output_dir/name`, written atomically and readable by others."""
  atomic_write_text(os.path.join(output_dir, name), text)
  _publish(os.path.join(output_dir, name))


def _write_models(generator, config: VocoderConfig, output_dir: str,
                  formats: Sequence[str], config_text: str, chunk_frames: int,
                  merge_frames: int, polyphase: bool) -> Dict:
  """Writes the SavedModel and / or TFLite files; returns their report
  entries by file name. Weight norm is folded in both; `polyphase` rewrites
  (`formulations`) apply to TFLite only (TF runs both forms equally fast)."""
  files = {}
  with contextlib.ExitStack() as stack:
    plain = stack.enter_context(graphs.folded_weight_norm(generator))
    if "saved_model" in formats:
      files["saved_model"] = _write_saved_model(
          generator, config, output_dir, config_text)
      logging.info("wrote %s/saved_model", output_dir)
    if polyphase:
      stack.enter_context(
          formulations.polyphase_transposed_convs(generator, plain))
      stack.enter_context(formulations.reflect_pads_as_slices(generator))
    if "tflite" in formats:
      files.update(_write_tflite(generator, config, output_dir, chunk_frames,
                                 merge_frames))
      logging.info("wrote %s/vocoder_{fp32,fp16,int8}.tflite", output_dir)
  return files
