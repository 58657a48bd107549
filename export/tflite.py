"""TFLite conversion: fp32, fp16 and dynamic-range int8, builtin ops only.

No `SELECT_TF_OPS` (Flex) and no custom ops: the files run on the plain
LiteRT runtime with XNNPACK. A conversion that would need anything else
fails here rather than at load time on a device.
"""

import time
from typing import Dict, List

import tensorflow as tf

from tfvocoder.inference.runtime import tflite_op_names

VARIANTS = ("fp32", "fp16", "int8")


class BuiltinOpsError(RuntimeError):
  """A converted model uses a non-builtin (Flex or custom) op."""


def convert(functions: List, trackable, variant: str) -> bytes:
  """Converts concrete functions (one signature each) to a TFLite model.

  Args:
    functions: concrete functions; their names become signature keys.
    trackable: the object owning the captured variables.
    variant: "fp32" (plain), "fp16" (float16 weights, float32 compute) or
      "int8" (dynamic-range: int8 weights, float activations).
  Returns:
    the flatbuffer bytes.
  """
  if variant not in VARIANTS:
    raise ValueError(f"variant {variant!r}; expected one of {VARIANTS}")
  converter = tf.lite.TFLiteConverter.from_concrete_functions(functions,
                                                              trackable)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if variant in ("fp16", "int8"):
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if variant == "fp16":
    converter.target_spec.supported_types = [tf.float16]
  model = converter.convert()
  ops = tflite_op_names(model)
  foreign = [op for op in ops if op.startswith("CUSTOM")]
  if foreign:
    raise BuiltinOpsError(f"{variant} TFLite model uses non-builtin ops "
                          f"{foreign}")
  return model


def convert_all(functions: List, trackable, variants=VARIANTS
                ) -> Dict[str, Dict]:
  """{variant: {"model": bytes, "ops": [...], "convert_seconds": s}}."""
  out = {}
  for variant in variants:
    start = time.perf_counter()
    model = convert(functions, trackable, variant)
    out[variant] = {"model": model, "ops": tflite_op_names(model),
                    "convert_seconds": round(time.perf_counter() - start, 2)}
  return out
