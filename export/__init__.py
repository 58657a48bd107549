"""Export a trained vocoder: SavedModel for serving, builtin-op TFLite files.

  python -m export --model_dir=DIR --output_dir=DIR \
      [--formats=saved_model,tflite] [--checkpoint=PATH]

Installed as `tfvocoder.export` (setup.cfg maps this folder there; no bare
top-level `export` package is installed; `python -m export` works from the
repository root). Modules: `exporter` (restore, write, report), `graphs`
(signatures, weight-norm folding), `formulations` (TFLite-only rewrites),
`tflite` (conversion), `parity` (figures against Keras). The default chunk
sizes are `tfvocoder.inference.vocoder`'s.
"""

from tfvocoder.inference.vocoder import (DEFAULT_CHUNK_FRAMES,
                                         DEFAULT_MERGE_FRAMES)

from .exporter import FORMATS, ExportError, export_model, load_generator

__all__ = ["DEFAULT_CHUNK_FRAMES", "DEFAULT_MERGE_FRAMES", "FORMATS",
           "ExportError", "export_model", "load_generator"]
