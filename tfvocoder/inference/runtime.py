"""Run an exported vocoder: a SavedModel dir or a builtin-op `.tflite` file.

Both exports (written by `python -m export`) carry `export_config.json`
beside the model files: the `VocoderConfig`, the generator family, its
receptive field and, for TFLite, the fixed chunk sizes. Each runtime exposes
up to three signatures, all on one unbatched item:

  audio(mel `[frames, n_mels]`) -> `[frames * hop_length]` float32
      ("serving_default": generator plus band merge over the whole input)
  bands(mel `[frames, n_mels]`) -> `n_bands` arrays `[frames * band_hops[k]]`
      (multiscale only: the generator alone)
  merge(bands) -> `[frames * hop_length]` (multiscale only: the band merge)

A TFLite file takes exactly `chunk_frames` mel frames (bands/audio) and
`merge_frames` frames of bands (merge); a SavedModel takes any length.
TensorFlow is imported only for SavedModels, so TFLite runs need only
numpy and ai-edge-litert.

Trust: a SavedModel is a TensorFlow graph, and graphs can read and write
files (`tf.io` ops); builtin-op TFLite files cannot. So a dir holding both
(e.g. an export dir) opens its `vocoder_fp32.tflite` (`resolve_model_path`);
load SavedModels only from sources you trust.
"""

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np
from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.io_utils import recover_dir

EXPORT_CONFIG = "export_config.json"
# What a dir given as the model opens first (see the module docstring).
PREFERRED_TFLITE = "vocoder_fp32.tflite"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class ModelLoadError(RuntimeError):
  """An export that cannot be used; the message names the path."""


def find_export_config(model_path: str) -> str:
  """`export_config.json` inside a SavedModel dir, beside it, or beside a
  `.tflite` file."""
  model_path = os.path.normpath(model_path)
  candidates = []
  if os.path.isdir(model_path):
    candidates.append(os.path.join(model_path, EXPORT_CONFIG))
  candidates.append(os.path.join(os.path.dirname(model_path), EXPORT_CONFIG))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  raise ModelLoadError(f"{model_path}: no {EXPORT_CONFIG} found (looked in "
                       f"{', '.join(candidates)}); re-export with "
                       "`python -m export`")


def resolve_model_path(path: str) -> str:
  """The file or dir `open_runtime` opens for `path`.

  A `.tflite` file as given; a dir holding `vocoder_fp32.tflite` (an export
  dir, or a SavedModel dir with one beside its graph) opens that file, not
  the SavedModel (see the module docstring: trust); an export dir without
  TFLite files opens its `saved_model/`. The choice is logged. A missing
  path whose dir a killed export left as a backup is restored first
  (`tfvocoder.io_utils.recover_dir`).
  """
  _recover_missing(path)
  if not os.path.exists(path):
    raise ModelLoadError(f"{path}: no such model (expected a SavedModel dir, "
                         "an export dir or a .tflite file written by "
                         "`python -m export`)")
  if not os.path.isdir(path):
    return path
  tflite = os.path.join(path, PREFERRED_TFLITE)
  if os.path.isfile(tflite):
    logging.info("model %s: opening %s (TFLite before SavedModel: builtin "
                 "TFLite ops cannot touch files, a SavedModel graph can)",
                 path, tflite)
    return tflite
  inner = os.path.join(path, "saved_model")
  if os.path.isdir(inner) and not any(
      os.path.isfile(os.path.join(path, name)) for name in SAVED_MODEL_FILES):
    logging.info("model %s: opening %s", path, inner)
    return inner
  return path


def _recover_missing(path: str) -> None:
  """Restores the backup of `path` or of its nearest missing ancestor, if
  an export was killed while swapping that dir."""
  path = os.path.abspath(path)
  while not os.path.lexists(path):
    if recover_dir(path):
      return
    parent = os.path.dirname(path)
    if parent == path:
      return
    path = parent


def load_export_config(model_path: str) -> Dict[str, Any]:
  """The parsed `export_config.json` of an export, `config` as a
  `VocoderConfig`."""
  path = find_export_config(model_path)
  try:
    with open(path) as f:
      values = json.load(f)
    values["config"] = VocoderConfig.from_dict(values["config"])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ModelLoadError(f"{path}: unreadable export config ({e})") from e
  return values


def tflite_op_names(model: bytes) -> List[str]:
  """Sorted names of every operator of every subgraph of a TFLite flatbuffer.

  Builtins by their `BuiltinOperator` name (e.g. "CONV_2D"); custom ops,
  Flex ops included, as "CUSTOM:" + their custom code (e.g. "CUSTOM:FlexIRFFT").
  """
  # Only when asked: reading op names is no part of running a model.
  from ai_edge_litert import schema_py_generated as schema

  names = {value: name for name, value in vars(schema.BuiltinOperator).items()
           if not name.startswith("_")}
  root = schema.Model.GetRootAs(model, 0)
  codes = []
  for i in range(root.OperatorCodesLength()):
    code = root.OperatorCodes(i)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
      codes.append("CUSTOM:" + code.CustomCode().decode())
    else:
      codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
  used = set()
  for s in range(root.SubgraphsLength()):
    subgraph = root.Subgraphs(s)
    for o in range(subgraph.OperatorsLength()):
      used.add(codes[subgraph.Operators(o).OpcodeIndex()])
  return sorted(used)


class Runtime:
  """Common interface; see the module docstring. Arrays are numpy."""

  chunk_frames: Optional[int] = None    # fixed mel frames per bands/audio call
  merge_frames: Optional[int] = None    # fixed frames per merge call

  def __init__(self, path: str, export_config: Dict[str, Any]):
    self.path = path
    self.export_config = export_config
    self.config: VocoderConfig = export_config["config"]
    self.has_bands = export_config["target_key"] == "bands"

  def _check_mel_input(self, shape: List[Optional[int]],
                       frames: Optional[int]) -> None:
    """ModelLoadError unless the model's mel input `shape` `[batch, frames,
    n_mels]` fits its export config (`frames` None: any); a misfit means
    files of two exports were mixed."""
    n_mels = self.config.n_mels
    if shape[-1] != n_mels or (frames and shape[1] != frames):
      raise ModelLoadError(
          f"{self.path}: takes mel {list(shape)} but "
          f"{find_export_config(self.path)} says n_mels={n_mels}, "
          f"chunk_frames={frames}: files of different exports; re-export")

  def audio(self, mel: np.ndarray) -> np.ndarray:
    raise NotImplementedError

  def bands(self, mel: np.ndarray) -> List[np.ndarray]:
    raise NotImplementedError

  def merge(self, bands: List[np.ndarray]) -> np.ndarray:
    raise NotImplementedError


class SavedModelRuntime(Runtime):
  """A SavedModel dir; any number of frames per call."""

  def __init__(self, path, export_config):
    super().__init__(path, export_config)
    import tensorflow as tf  # SavedModels only: TFLite runs need no TF
    self._tf = tf
    try:
      self._model = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 -- TF raises many kinds here
      raise ModelLoadError(f"{path}: not a loadable SavedModel "
                           f"({type(e).__name__}: {str(e).splitlines()[0]})")
    self._signatures = self._model.signatures
    missing = {"serving_default"} | ({"bands", "merge"} if self.has_bands
                                     else set())
    missing -= set(self._signatures)
    if missing:
      raise ModelLoadError(f"{path}: SavedModel lacks signature(s) "
                           f"{sorted(missing)}; re-export it")
    spec = self._signatures["serving_default"].structured_input_signature
    self._check_mel_input(spec[1]["mel"].shape.as_list(), None)

  def audio(self, mel):
    mel = self._tf.constant(np.asarray(mel, np.float32)[None])
    return self._signatures["serving_default"](mel=mel)["audio"].numpy()[0]

  def bands(self, mel):
    mel = self._tf.constant(np.asarray(mel, np.float32)[None])
    out = self._signatures["bands"](mel=mel)
    return [out[f"band_{k}"].numpy()[0] for k in range(self.config.n_bands)]

  def merge(self, bands):
    args = {f"band_{k}": self._tf.constant(np.asarray(b, np.float32)[None])
            for k, b in enumerate(bands)}
    return self._signatures["merge"](**args)["audio"].numpy()[0]


class TFLiteRuntime(Runtime):
  """A `.tflite` file with fixed chunk sizes, run by the LiteRT interpreter."""

  def __init__(self, path, export_config, num_threads: int = 2):
    super().__init__(path, export_config)
    # TFLite only: SavedModel runs need no LiteRT.
    from ai_edge_litert.interpreter import Interpreter
    info = export_config.get("tflite") or {}
    self.chunk_frames = int(info.get("chunk_frames") or 0) or None
    self.merge_frames = int(info.get("merge_frames") or 0) or None
    try:
      self._interpreter = Interpreter(model_path=path, num_threads=num_threads)
      names = set(self._interpreter.get_signature_list())
    except (ValueError, RuntimeError) as e:
      raise ModelLoadError(f"{path}: not a loadable TFLite model ({e})") from e
    needed = {"serving_default"} | ({"bands", "merge"} if self.has_bands
                                    else set())
    if needed - names or not self.chunk_frames or (
        self.has_bands and not self.merge_frames):
      raise ModelLoadError(f"{path}: expected signatures {sorted(needed)} and "
                           f"chunk sizes in {EXPORT_CONFIG}; got "
                           f"{sorted(names)}; re-export it")
    self._runners = {name: self._interpreter.get_signature_runner(name)
                     for name in names}
    inputs = self._runners["serving_default"].get_input_details()
    self._check_mel_input([int(n) for n in inputs["mel"]["shape"]],
                          self.chunk_frames)

  def _check(self, what, frames, expected):
    if frames != expected:
      raise ValueError(f"{self.path}: the TFLite {what} signature takes "
                       f"exactly {expected} frames, got {frames}")

  def audio(self, mel):
    self._check("audio", len(mel), self.chunk_frames)
    mel = np.asarray(mel, np.float32)[None]
    out = self._runners["serving_default"](mel=mel)
    return out["audio"][0]

  def bands(self, mel):
    self._check("bands", len(mel), self.chunk_frames)
    out = self._runners["bands"](mel=np.asarray(mel, np.float32)[None])
    return [out[f"band_{k}"][0] for k in range(self.config.n_bands)]

  def merge(self, bands):
    frames = len(bands[0]) // self.config.hop_length
    self._check("merge", frames, self.merge_frames)
    args = {f"band_{k}": np.asarray(b, np.float32)[None]
            for k, b in enumerate(bands)}
    return self._runners["merge"](**args)["audio"][0]


def open_runtime(path: str, num_threads: int = 2) -> Runtime:
  """A `Runtime` for a SavedModel dir, an export dir or a `.tflite` file
  (which one: `resolve_model_path`); clear errors."""
  path = resolve_model_path(path)
  export_config = load_export_config(path)
  if os.path.isdir(path):
    return SavedModelRuntime(path, export_config)
  if path.endswith(".tflite"):
    return TFLiteRuntime(path, export_config, num_threads=num_threads)
  raise ModelLoadError(f"{path}: expected a SavedModel dir or a .tflite file")
