"""Parity of the exported files with the Keras generator, and model cost.

The reference is always the restored Keras generator's `generate_audio` on
the same mel (weight normalisation not folded), on a log-mel of the
built-in seeded synthetic music:

  saved_model         one-shot, max abs difference (<= 1e-5), also for a
                      batch of 2 of another length (dynamic batch / frames)
  saved_model_stream  `Vocoder` over the SavedModel, SNR (>= 40 dB)
  tflite_<variant>    one fixed chunk through `serving_default` (chunk SNR)
                      and the whole mel streamed by `Vocoder` (stream SNR,
                      plus the max abs difference at block boundaries and
                      elsewhere); limits fp32 40 dB, fp16 30 dB, int8 none
"""

import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from tfvocoder.config import VocoderConfig
from tfvocoder.dsp import builtin_merge
from tfvocoder.evaluation.cost import music_mel
from tfvocoder.evaluation.metrics import snr_db
from tfvocoder.inference import Vocoder

SAVED_MODEL_MAX_ABS = 1e-5
STREAM_SNR_DB = 40.0
TFLITE_SNR_DB = {"fp32": 40.0, "fp16": 30.0, "int8": None}
INT8_WARN_DB = 20.0


def boundary_errors(reference, estimate, boundaries: Sequence[int],
                    hop: int) -> Dict[str, float]:
  """Max abs difference within one frame of each boundary, and elsewhere."""
  error = np.abs(np.asarray(reference) - np.asarray(estimate))
  near = np.zeros(len(error), bool)
  for frame in boundaries:
    near[max(frame * hop - hop, 0):frame * hop + hop] = True
  return {"boundary_max_abs_diff": float(error[near].max()) if near.any()
          else 0.0,
          "other_max_abs_diff": float(error[~near].max())}


def cost(generator, config: VocoderConfig, chunk_frames: int) -> Dict:
  """Multiply-adds per audio second of the generator and of the merge."""
  out = {"generator_macs_per_second":
         float(generator.multiply_adds_per_frame() * config.frame_rate)}
  if generator.target_key == "bands":
    out["merge_macs_per_second_per_chunk"] = builtin_merge.merge_macs_per_second(
        chunk_frames * config.hop_length, config)
  return out


def measure(generator, config: VocoderConfig, output_dir: str,
            formats: Sequence[str], chunk_frames: int,
            merge_frames: Optional[int], frames: Optional[int] = None
            ) -> Dict[str, Dict]:
  """Parity figures of every written file (see the module docstring).

  Args:
    generator: the restored Keras generator (the reference).
    output_dir: the export dir holding `saved_model/` and the TFLite files.
    formats: the formats written (subset of "saved_model", "tflite").
    chunk_frames: the TFLite generator chunk, mel frames.
    merge_frames: the TFLite merge window, frames; None for generators
      without bands.
    frames: mel frames of the parity input; default enough to stream over
      several chunks and merge windows.
  Returns:
    {name: figures}, each with an "ok" flag against its limit.
  """
  frames = frames or 2 * max(merge_frames or 0, chunk_frames) + chunk_frames
  mel = music_mel(config, frames)
  reference = generator.generate_audio(mel[None]).numpy()[0]
  results = {}
  if "saved_model" in formats:
    results.update(_saved_model_parity(
        generator, os.path.join(output_dir, "saved_model"), mel, reference,
        chunk_frames, merge_frames))
  if "tflite" in formats:
    results.update(_tflite_parity(generator, config, output_dir, mel,
                                  reference, chunk_frames))
  for name, entry in results.items():
    logging.info("parity %s: %s", name, entry)
  return results


def _saved_model_parity(generator, path: str, mel: np.ndarray,
                        reference: np.ndarray, chunk_frames: int,
                        merge_frames: Optional[int]) -> Dict[str, Dict]:
  """"saved_model" (one shot, also a batch of 2 shorter mels) and
  "saved_model_stream" (`Vocoder`) figures; mel `[frames, n_mels]`."""
  frames = len(mel)
  serve = tf.saved_model.load(path).signatures["serving_default"]
  diff = np.abs(serve(mel=tf.constant(mel[None]))["audio"].numpy()[0]
                - reference).max()
  short = frames // 3
  batch = np.stack([mel[:short], mel[short:2 * short]])
  diff2 = np.abs(serve(mel=tf.constant(batch))["audio"].numpy()
                 - generator.generate_audio(batch).numpy()).max()
  worst = float(max(diff, diff2))
  vocoder = Vocoder(path, chunk_frames=chunk_frames, merge_frames=merge_frames)
  snr = snr_db(reference, vocoder.vocode(mel))
  return {"saved_model": {"max_abs_diff": worst, "limit": SAVED_MODEL_MAX_ABS,
                          "ok": worst <= SAVED_MODEL_MAX_ABS},
          "saved_model_stream": {"snr_db": snr, "limit_db": STREAM_SNR_DB,
                                 "frames": frames, "ok": snr >= STREAM_SNR_DB}}


def _tflite_parity(generator, config: VocoderConfig, output_dir: str,
                   mel: np.ndarray, reference: np.ndarray,
                   chunk_frames: int) -> Dict[str, Dict]:
  """"tflite_<variant>" figures: one chunk and the whole mel streamed."""
  frames = len(mel)
  chunk = mel[:chunk_frames]
  chunk_reference = generator.generate_audio(chunk[None]).numpy()[0]
  results = {}
  for variant, limit in TFLITE_SNR_DB.items():
    vocoder = Vocoder(os.path.join(output_dir, f"vocoder_{variant}.tflite"))
    streamed = vocoder.vocode(mel)
    entry = {"chunk_snr_db": snr_db(chunk_reference, vocoder.one_shot(chunk)),
             "stream_snr_db": snr_db(reference, streamed),
             "limit_db": limit, "frames": frames}
    entry.update(boundary_errors(reference, streamed,
                                 vocoder.block_boundaries(frames),
                                 config.hop_length))
    worst = min(entry["chunk_snr_db"], entry["stream_snr_db"])
    entry["ok"] = limit is None or worst >= limit
    if variant == "int8" and worst < INT8_WARN_DB:
      logging.warning("int8 TFLite SNR %.1f dB < %.0f dB: dynamic-range "
                      "quantisation adds audible noise", worst, INT8_WARN_DB)
    results[f"tflite_{variant}"] = entry
  return results
