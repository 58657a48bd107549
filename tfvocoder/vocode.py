"""Vocode audio files or log-mels with an exported model.

  python -m tfvocoder.vocode INPUT... --model=PATH --output_dir=DIR
      [--overwrite] [--live]

INPUT is an audio file (wav/flac/ogg/mp3: resynthesis, audio -> log-mel ->
vocoder) or a `.npy` log-mel `[frames, n_mels]` (e.g. from an upstream
model); PATH a SavedModel dir or a `.tflite` file written by
`python -m export`. Each input becomes `DIR/<name>.wav`, 16-bit PCM at the
model's sample rate, written to a temporary file and renamed when complete.
Inputs with the same name get unique outputs (`x.wav`, `x.npy.wav`,
`x-2.wav`, ...; `tfvocoder.inference.files.output_path`).

Prints (stdout) first how long the model took to load and to warm up,
then one line per input, `INPUT -> OUTPUT`, its seconds of audio, the
seconds spent vocoding it and their ratio, the x real time (of the
vocoding alone: not loading, decoding or writing); long inputs log
progress (stderr):

  loaded exported/vocoder_fp32.tflite in 0.01 s (warm-up 0.20 s)
  song.wav -> out/song.wav: 12.30 s of audio in 0.60 s (20.5x real time)

--live vocodes as a live stream would (`StreamingVocoder`, the mel pushed
16 frames at a time: `Vocoder(PATH, live=True)`'s audio) and also prints
the stream's latency, `latency: N frames = M ms`.

Checked before any work, for all inputs (one line each, exit status 1,
nothing written): DIR must be (or be creatable as) a writable directory; no
output may replace an input (whatever the flags); an existing output file is
replaced only with --overwrite.

A bad input (wrong mel width or rank, NaN/inf, values far outside the
range of log10 magnitudes, empty or unreadable file) gets a one-line error
naming it and what was expected; the others are still processed, and the
exit status is 1 if any input failed (also when the model cannot be loaded;
2 when no INPUT is given).

This module is the command line only; the library is
`tfvocoder.inference.files`.
"""

import sys
from typing import List, Optional

from absl import app, flags

from tfvocoder import cli
from tfvocoder.inference import files


def define_flags() -> None:
  """The CLI's flags (defined only when run as a program, so importing this
  module never clashes with other flag sets, e.g. the config's `--model`)."""
  flags.DEFINE_string("model", None, "SavedModel dir or .tflite file from "
                      "`python -m export`.", required=True)
  flags.DEFINE_string("output_dir", None, "Where the wav files go.",
                      required=True)
  flags.DEFINE_integer("num_threads", 2, "TFLite interpreter threads.")
  flags.DEFINE_bool("live", False, "Vocode as a live stream "
                    "(StreamingVocoder, 16-frame pushes) and print its "
                    "latency; multiscale: without the whole-input band-edge "
                    "correction (see tfvocoder.inference.streaming_merge).")
  flags.DEFINE_float("progress_seconds", 30.0, "Log progress for inputs "
                     "longer than this many seconds of audio.")
  flags.DEFINE_bool("overwrite", False, "Replace existing output files "
                    "(never an input).")


FLAGS = flags.FLAGS


def _print_loaded(loaded: files.Loaded) -> None:
  """Prints the model's load and warm-up times (and live, its latency)."""
  for line in loaded.lines:
    print(line, flush=True)


def main(argv: List[str]) -> Optional[int]:
  """Vocodes the inputs `argv[1:]`; returns the exit status."""
  inputs = argv[1:]
  if not inputs:
    print("vocode: error: no INPUT given; usage: python -m tfvocoder.vocode "
          "INPUT... --model=PATH --output_dir=DIR", file=sys.stderr)
    return 2
  failed = 0
  try:
    for outcome in files.vocode_files(inputs, FLAGS.model, FLAGS.output_dir,
                                      FLAGS.num_threads, FLAGS.live,
                                      FLAGS.progress_seconds,
                                      overwrite=FLAGS.overwrite,
                                      on_load=_print_loaded):
      failed += outcome.error is not None
      print(outcome.message, file=sys.stderr if outcome.error else sys.stdout,
            flush=True)
  except files.OutputError as e:
    for problem in e.problems:
      print(f"vocode: error: {problem}", file=sys.stderr)
    return 1
  except files.ModelError as e:
    print(f"vocode: error: {e}", file=sys.stderr)
    return 1
  return 1 if failed else 0


if __name__ == "__main__":
  cli.setup_logging()
  define_flags()
  app.run(main)
