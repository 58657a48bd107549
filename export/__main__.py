"""`python -m export --model_dir=DIR --output_dir=DIR`: see export/__init__.py.

Exit status 0 on success; 1 with a one-line message naming the path for a
missing/corrupt model dir or checkpoint, an --output_dir that cannot take
the export (checked before any slow work), a failed write, or a failed
parity check.
"""

import sys

from absl import app, flags, logging

from tfvocoder import cli
from tfvocoder.inference.vocoder import (DEFAULT_CHUNK_FRAMES,
                                         DEFAULT_MERGE_FRAMES)

from .exporter import ExportError, export_model

flags.DEFINE_string("model_dir", None, "Training model dir: config.json and "
                    "checkpoints.", required=True)
flags.DEFINE_string("output_dir", None, "Export dir: created, or replaced "
                    "as a whole if it is empty or holds an earlier export.",
                    required=True)
flags.DEFINE_list("formats", ["saved_model", "tflite"], "Comma list of "
                  "saved_model, tflite.")
flags.DEFINE_string("checkpoint", None, "Checkpoint prefix (e.g. DIR/ckpt-12);"
                    " default: the model dir's latest.")
flags.DEFINE_integer("tflite_chunk_frames", DEFAULT_CHUNK_FRAMES, "Mel frames "
                     "per TFLite generator call (power of two).")
flags.DEFINE_integer("tflite_merge_frames", DEFAULT_MERGE_FRAMES, "Frames per "
                     "TFLite band-merge window, multiscale only (power of "
                     "two).")
flags.DEFINE_bool("polyphase", True, "TFLite: transposed convolutions as "
                  "stride-1 convolutions + depth-to-space, reflection pads as "
                  "slices (same outputs, faster under XNNPACK).")
flags.DEFINE_integer("parity_frames", None, "Mel frames of the parity input "
                     "(default: a few merge windows).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    report = export_model(FLAGS.model_dir, FLAGS.output_dir,
                          formats=FLAGS.formats, checkpoint=FLAGS.checkpoint,
                          chunk_frames=FLAGS.tflite_chunk_frames,
                          merge_frames=FLAGS.tflite_merge_frames,
                          parity_frames=FLAGS.parity_frames,
                          polyphase=FLAGS.polyphase)
  except (ExportError, ValueError, OSError) as e:
    print(f"export: error: {e}", file=sys.stderr)
    return 1
  for name, entry in report["files"].items():
    logging.info("%s: %d bytes", name, entry["bytes"])
  print(f"exported {FLAGS.model_dir} -> {FLAGS.output_dir}")
  return 0


if __name__ == "__main__":
  cli.setup_logging()
  app.run(main)
