"""`export_model`: a training model dir -> SavedModel, TFLite files, report.

Output dir layout:
  saved_model/            serving SavedModel (+ a copy of export_config.json)
  vocoder_fp32.tflite     builtin ops only, batch 1, fixed chunk sizes
  vocoder_fp16.tflite     float16 weights
  vocoder_int8.tflite     dynamic-range int8 weights
  export_config.json      config, family, receptive field, chunk sizes
  export_report.json      sizes, ops per TFLite file, parity figures
The whole dir is built beside the output dir and swapped in at once
(`tfvocoder.io_utils.replace_dir`).
"""

import contextlib
import json
import os
import shutil
from typing import Dict, Optional, Sequence

from absl import logging

from tfvocoder.training import model_dir as model_dir_lib
from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import (atomic_write_bytes, atomic_write_text,
                                clean_dir_temps, fault_point, replace_dir,
                                staging_dir)
from tfvocoder.inference.runtime import EXPORT_CONFIG
from tfvocoder.inference.vocoder import (DEFAULT_CHUNK_FRAMES,
                                         DEFAULT_MERGE_FRAMES)

from . import formulations, graphs, parity
from . import tflite as tflite_lib

FORMATS = ("saved_model", "tflite")
REPORT = "export_report.json"
# Everything an export writes at the top of its dir.
EXPORT_NAMES = frozenset({"saved_model", EXPORT_CONFIG, REPORT} | {
    f"vocoder_{variant}.tflite" for variant in tflite_lib.VARIANTS})


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
  for root, _, names in os.walk(path):
    os.chmod(root, 0o777 & ~umask)
    for name in names:
      os.chmod(os.path.join(root, name), 0o666 & ~umask)


def _dir_bytes(path: str) -> int:
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(path) for name in names)


def _write_saved_model(generator, config, output_dir, config_text) -> Dict:
  path = os.path.join(output_dir, "saved_model")
  variables = graphs.save(generator, config, path)
  atomic_write_text(os.path.join(path, EXPORT_CONFIG), config_text)
  return {"bytes": _dir_bytes(path), "variables": len(variables),
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

  Everything (parity check included) is built beside `output_dir`, then
  swapped in whole (`tfvocoder.io_utils.replace_dir`): a kill leaves the old
  export or the new one, and no file of an older export survives.

  Args:
    model_dir: training model dir (config.json + checkpoints).
    output_dir: created if missing; an existing one must be empty or an
      earlier export (holding only files an export writes), and is replaced.
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
    ExportError: bad formats or --output_dir (before any slow work), bad
      model dir / checkpoint, or parity below its limit (after the swap).
  """
  _check_formats(formats)
  final = check_output_dir(output_dir)
  generator, config, checkpoint = load_generator(model_dir, checkpoint)
  info = export_config(generator, config, chunk_frames, merge_frames,
                       checkpoint)
  staging = staging_dir(final)
  try:
    report = _build(generator, config, info, staging, formats, polyphase,
                    check_parity, parity_frames)
    _publish(staging)
    replace_dir(staging, final)
    logging.info("%s: replaced with the new export", final)
  finally:
    if os.path.lexists(staging):
      shutil.rmtree(staging, ignore_errors=True)
  failed = [name for name, p in report.get("parity", {}).items()
            if not p.get("ok", True)]
  if failed:
    raise ExportError(f"{output_dir}: parity below the limit for {failed}; "
                      f"see {os.path.join(output_dir, REPORT)}")
  return report


def _build(generator, config: VocoderConfig, info: Dict, staging: str,
           formats: Sequence[str], polyphase: bool, check_parity: bool,
           parity_frames: Optional[int]) -> Dict:
  """Writes the whole export into dir `staging`; returns the report (`info`:
  the `export_config`; the other arguments as for `export_model`)."""
  config_text = json.dumps(info, indent=2, sort_keys=True)
  chunk_frames = info["tflite"]["chunk_frames"]
  merge_frames = info["tflite"]["merge_frames"]     # None without bands
  report = _report_head(generator, config, info, polyphase)
  report["files"] = _write_models(generator, config, staging, formats,
                                  config_text, chunk_frames, merge_frames,
                                  polyphase)
  atomic_write_text(os.path.join(staging, EXPORT_CONFIG), config_text)
  if check_parity:
    fault_point("export:parity")
    report["parity"] = parity.measure(generator, config, staging, formats,
                                      chunk_frames, merge_frames,
                                      parity_frames)
  atomic_write_text(os.path.join(staging, REPORT),
                    json.dumps(report, indent=2, sort_keys=True))
  return report


def check_output_dir(output_dir: str) -> str:
  """The real path of `output_dir` once it can take an export (see
  `export_model`); restores a backup and removes temp dirs that a killed
  export left beside it.

  Raises:
    ExportError: one line naming the path: a file where a dir is expected,
      a parent that is not writable, or a dir an export must not replace.
  """
  final = os.path.realpath(output_dir)
  ancestor = os.path.dirname(final)
  while not os.path.lexists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ExportError(f"--output_dir {output_dir}: {ancestor} is a file, "
                      "not a directory")
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise ExportError(f"--output_dir {output_dir}: {ancestor} is not "
                      "writable (the export is built beside the output dir)")
  clean_dir_temps(final)
  if os.path.lexists(final) and not os.path.isdir(final):
    raise ExportError(f"--output_dir {output_dir}: is a file, not a "
                      "directory")
  if os.path.isdir(final):
    _check_replaceable(output_dir, final)
  return final


def _check_replaceable(output_dir: str, final: str) -> None:
  """ExportError unless dir `final` is empty or an export holding only
  files exports write (user files are never deleted)."""
  entries = sorted(os.listdir(final))
  if entries and EXPORT_CONFIG not in entries:
    raise ExportError(f"--output_dir {output_dir}: not empty and not an "
                      f"export (no {EXPORT_CONFIG}); give a new or empty dir")
  foreign = [entry for entry in entries if entry not in EXPORT_NAMES and not
             any(entry.startswith(f".{name}.") for name in EXPORT_NAMES)]
  if foreign:
    raise ExportError(f"--output_dir {output_dir}: holds files an export "
                      f"does not write ({', '.join(foreign[:3])}); move them "
                      "out or give another dir")


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


def _write_models(generator, config: VocoderConfig, output_dir: str,
                  formats: Sequence[str], config_text: str, chunk_frames: int,
                  merge_frames: Optional[int], polyphase: bool) -> Dict:
  """Writes the SavedModel and / or TFLite files; returns their report
  entries by file name. Weight norm is folded in both; `polyphase` rewrites
  (`formulations`) apply to TFLite only (TF runs both forms equally fast)."""
  files = {}
  with contextlib.ExitStack() as stack:
    plain = stack.enter_context(graphs.folded_weight_norm(generator))
    if "saved_model" in formats:
      files["saved_model"] = _write_saved_model(
          generator, config, output_dir, config_text)
      logging.info("wrote saved_model")
    if polyphase:
      stack.enter_context(
          formulations.polyphase_transposed_convs(generator, plain))
      stack.enter_context(formulations.reflect_pads_as_slices(generator))
    if "tflite" in formats:
      files.update(_write_tflite(generator, config, output_dir, chunk_frames,
                                 merge_frames))
      logging.info("wrote vocoder_{fp32,fp16,int8}.tflite")
  return files
