"""Live streaming speed: push cost and latency of `StreamingVocoder`.

  python -m benchmarks.streaming [--quick] [--seconds=20]
      [--exact_seconds=60] [--repeats=5]
      [--push_frames=1,4,16] [--threads=2] [--json=PATH] [--work_dir=DIR]
      [--families=multiscale,melgan] [--variants=fp32,fp16,int8]
      [--export_dir=DIR ...] [--model_dir=DIR ...]

Models: each `--export_dir` (a `python -m export` output), else each
`--model_dir` exported here, else one per family: a reference-config model
with freshly initialised weights (speed does not depend on their values;
`--quick`: tiny configs), checkpointed and exported with the default chunk
sizes (`tfvocoder.export.export_model`, parity checks skipped).

Per model and TFLite variant, on a `--seconds` log-mel of music, with
`--threads` interpreter threads:

  stream  pushes of 1, 4 and 16 frames (11.6, 46, 186 ms of audio): each
          push's wall time over the audio it returns (real-time factor, < 1
          keeps up), p50 / p99 / max over the steady-state pushes (those
          returning as many frames as they take), and sustained (all push
          time / all audio); the algorithmic latency (`latency_frames`,
          `latency_ms`) and the total latency: algorithmic + the slowest
          push (the push completing a block runs a generator chunk; the
          others only hand out audio computed before).
  exact   `Vocoder.vocode` (the exact mode) of `--exact_seconds` against
          one bare fixed chunk (`Vocoder.one_shot`) and against the plain
          chunked pass over the same overlapping chunks (`chunked_pass`),
          as x real time, and their ratios (target >= 0.9). Against one
          chunk it counts the chunk overlap (the receptive field on each
          side, and the part of the last chunk past the input, so short
          inputs score lower; `ceiling` is the kept fraction of the
          computed frames); against the chunked pass, what the exact
          merge costs: merge windows and the band-edge correction. The
          calls are timed in turns, `--repeats` rounds (the machine's
          drift hits all of a round alike): medians of x real time and
          of the rounds' ratios.
  live    `Vocoder(live=True).vocode` x real time: the stream's work
          without the per-push overhead.

Prints two tables and writes every figure as JSON (`--json`).
"""

import os

# Quiet TensorFlow's C++ logs unless asked otherwise: set before it loads,
# so the imports below come after this line.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfvocoder import cli

if __name__ == "__main__":  # before TensorFlow loads: readable logs,
  cli.setup_logging()       # no INFO chatter above the tables

import tempfile
import time

from absl import app, flags
import numpy as np
import tensorflow as tf

from benchmarks import report_json
from tfvocoder import models
from tfvocoder.config import VocoderConfig, tiny_config
from tfvocoder.evaluation import cost
from tfvocoder.export import export_model
from tfvocoder.inference import (StreamingVocoder, Vocoder, plan_chunks,
                                 stream_mel)
from tfvocoder.inference.runtime import load_export_config
from tfvocoder.io_utils import atomic_write_text

flags.DEFINE_bool("quick", False, "Smoke run: tiny models, 4 s of audio, "
                  "one repeat.")
flags.DEFINE_float("seconds", 20.0, "Seconds of audio per stream.")
flags.DEFINE_float("exact_seconds", 60.0, "Seconds of audio per exact / "
                   "live `Vocoder.vocode` call.")
flags.DEFINE_integer("repeats", 5, "Rounds of timed exact / chunk / "
                     "chunked / live calls (medians kept).")
flags.DEFINE_list("push_frames", ["1", "4", "16"], "Frames per push.")
flags.DEFINE_integer("threads", 2, "TFLite interpreter threads.")
flags.DEFINE_string("json", None, "Also write the figures here.")
flags.DEFINE_string("work_dir", None, "Keep model dirs and exports here "
                    "(default: a temporary dir).")
flags.DEFINE_list("families", ["multiscale", "melgan"], "Generator families "
                  "(without --export_dir / --model_dir).")
flags.DEFINE_list("variants", ["fp32", "fp16", "int8"], "TFLite variants.")
flags.DEFINE_multi_string("export_dir", [], "Existing export dirs.")
flags.DEFINE_multi_string("model_dir", [], "Training model dirs to export.")
FLAGS = flags.FLAGS


def fresh_model_dir(family: str, work_dir: str, tiny: bool) -> str:
  """A model dir (config.json + checkpoint) of a freshly initialised
  `family` generator (reference config, or tiny)."""
  config = tiny_config(model=family) if tiny else VocoderConfig(model=family)
  tf.keras.utils.set_random_seed(config.seed)
  generator = models.build_generator(config)
  model_dir = os.path.join(work_dir, f"{family}_model")
  tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator),
                             model_dir, 1).save()
  atomic_write_text(os.path.join(model_dir, "config.json"), config.to_json())
  return model_dir


def export_dirs(work_dir: str) -> list:
  """The export dirs to measure (module docstring: Models)."""
  if FLAGS.export_dir:
    return list(FLAGS.export_dir)
  model_dirs = list(FLAGS.model_dir) or [
      fresh_model_dir(f, work_dir, FLAGS.quick) for f in FLAGS.families]
  out = []
  for i, model_dir in enumerate(model_dirs):
    path = os.path.join(work_dir, f"export_{i}")
    export_model(model_dir, path, check_parity=False)
    out.append(path)
  return out


def _spread(values) -> dict:
  values = np.asarray(values, np.float64)
  return {"p50": float(np.percentile(values, 50)),
          "p99": float(np.percentile(values, 99)), "max": float(values.max())}


def measure_stream(streamer: StreamingVocoder, mel: np.ndarray,
                   push_frames: int) -> dict:
  """Per-push real-time factors and latency of streaming `mel` (steady
  state: the pushes returning `push_frames` frames; the first one that
  returns audio returns less and is reported apart)."""
  warm = mel[:streamer.latency_frames + 2 * streamer.vocoder.block_frames]
  streamer.reset()
  for _ in stream_mel(streamer, warm, 64):     # interpreter warm-up
    pass
  streamer.reset()
  rate, hop = streamer.sample_rate, streamer.hop_length
  push_ms, busy, samples, first_ms = [], 0.0, 0, None
  for start in range(0, len(mel), push_frames):
    begin = time.perf_counter()
    audio = streamer.push(mel[start:start + push_frames])
    seconds = time.perf_counter() - begin
    busy, samples = busy + seconds, samples + len(audio)
    if len(audio) == push_frames * hop:
      push_ms.append(1000 * seconds)
    elif len(audio) and first_ms is None:
      first_ms = 1000 * seconds
  if not push_ms:
    raise ValueError(f"a stream of {len(mel)} frames has no push past the "
                     f"{streamer.latency_frames}-frame latency: raise "
                     "--seconds")
  begin = time.perf_counter()
  samples += len(streamer.flush())
  busy += time.perf_counter() - begin
  audio_ms = 1000 * push_frames * hop / rate
  return {"push_frames": push_frames, "push_audio_ms": audio_ms,
          "pushes": len(push_ms), "push_ms": _spread(push_ms),
          "rtf": {k: v / audio_ms for k, v in _spread(push_ms).items()},
          "first_audio_push_ms": first_ms,
          "sustained_rtf": busy * rate / samples,
          "total_latency_ms": streamer.latency_ms + max(
              push_ms + [first_ms or 0.0])}


def chunked_pass(vocoder: Vocoder, mel: np.ndarray) -> np.ndarray:
  """Plain fixed-chunk vocoding over the exact mode's chunks: each chunk's
  `audio` signature (generator and in-graph merge), its kept frames
  stitched. Exact for MelGAN; for the multiscale model its merge sees one
  chunk only (the cost baseline of the exact mode, not its output)."""
  hop, total, out = vocoder.config.hop_length, len(mel), []
  for chunk in plan_chunks(total, vocoder.chunk_frames,
                           vocoder.receptive_field_frames):
    x = mel[chunk.start:min(chunk.stop, total)]
    x = np.pad(x, [[0, vocoder.chunk_frames - len(x)], [0, 0]], mode="edge")
    a, b = chunk.keep_start - chunk.start, chunk.keep_stop - chunk.start
    out.append(vocoder.one_shot(x)[a * hop:b * hop])
  return np.concatenate(out)


def overlap_ceiling(vocoder: Vocoder, frames: int) -> float:
  """Frames kept / frames computed by the chunks of a `frames`-frame input:
  the most any chunked pass can reach against one bare chunk."""
  chunks = plan_chunks(frames, vocoder.chunk_frames,
                       vocoder.receptive_field_frames)
  return frames / (len(chunks) * vocoder.chunk_frames)


def measure_exact(path: str, mel: np.ndarray, repeats: int,
                  threads: int) -> dict:
  """x real time of the exact mode, a bare fixed chunk, the plain chunked
  pass over the same chunks and the live mode, timed in turns
  (`cost.interleaved_seconds`): each x real time is the median over the
  rounds, each ratio the median of the rounds' ratios."""
  exact = Vocoder(path, num_threads=threads)
  live = Vocoder(path, num_threads=threads, live=True)
  seconds = len(mel) / exact.config.frame_rate
  chunk = np.resize(mel, (exact.chunk_frames, mel.shape[1]))
  # One bare chunk is short: enough calls of it to cover `mel`'s frames.
  calls = -(-len(mel) // exact.chunk_frames)
  timed = cost.interleaved_seconds({
      "exact": lambda: exact.vocode(mel),
      "chunk": lambda: [exact.one_shot(chunk) for _ in range(calls)],
      "chunked": lambda: chunked_pass(exact, mel),
      "live": lambda: live.vocode(mel)}, repeats)
  audio = {"exact": seconds, "chunk": calls * len(chunk)
           / exact.config.frame_rate, "chunked": seconds, "live": seconds}
  x_rt = {k: [audio[k] / t for t in v] for k, v in timed.items()}

  def ratio(other):
    return float(np.median(np.divide(x_rt["exact"], x_rt[other])))

  return {"exact_x_real_time": float(np.median(x_rt["exact"])),
          "chunk_x_real_time": float(np.median(x_rt["chunk"])),
          "exact_over_chunk": ratio("chunk"),
          "overlap_ceiling": overlap_ceiling(exact, len(mel)),
          "chunked_x_real_time": float(np.median(x_rt["chunked"])),
          "exact_over_chunked": ratio("chunked"),
          "live_x_real_time": float(np.median(x_rt["live"])),
          "rounds": len(timed["exact"])}


def measure(export_dir: str, variant: str) -> dict:
  """Every figure of one TFLite file (module docstring)."""
  path = os.path.join(export_dir, f"vocoder_{variant}.tflite")
  config = load_export_config(path)["config"]
  seconds = 4.0 if FLAGS.quick else FLAGS.seconds
  mel = cost.speed_mel(config, seconds)
  streamer = StreamingVocoder(path, num_threads=FLAGS.threads)
  result = {"model": config.model, "variant": variant, "path": path,
            "latency_frames": streamer.latency_frames,
            "latency_ms": streamer.latency_ms,
            "block_frames": streamer.vocoder.block_frames,
            "chunk_frames": streamer.vocoder.chunk_frames,
            "stream": [measure_stream(streamer, mel, int(n))
                       for n in FLAGS.push_frames]}
  long_mel = cost.speed_mel(config, 4.0 if FLAGS.quick else
                            FLAGS.exact_seconds)
  result.update(measure_exact(path, long_mel,
                              1 if FLAGS.quick else FLAGS.repeats,
                              FLAGS.threads))
  return result


def _table(rows) -> str:
  widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
  return "\n".join("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths)))
                   for row in rows)


def tables(results) -> str:
  """The stream table and the exact-vs-chunk table."""
  stream = [("model", "variant", "push ms", "RTF p50", "RTF p99", "RTF max",
             "sustained", "latency ms", "total ms")]
  exact = [("model", "variant", "exact xRT", "chunk xRT", "ratio",
            "ceiling", "chunked xRT", "ratio", "live xRT")]
  for r in results:
    for s in r["stream"]:
      stream.append((r["model"], r["variant"], f"{s['push_audio_ms']:.1f}",
                     *[f"{s['rtf'][k]:.3f}" for k in ("p50", "p99", "max")],
                     f"{s['sustained_rtf']:.3f}", f"{r['latency_ms']:.0f}",
                     f"{s['total_latency_ms']:.0f}"))
    exact.append((r["model"], r["variant"], f"{r['exact_x_real_time']:.1f}",
                  f"{r['chunk_x_real_time']:.1f}",
                  f"{r['exact_over_chunk']:.2f}",
                  f"{r['overlap_ceiling']:.2f}",
                  f"{r['chunked_x_real_time']:.1f}",
                  f"{r['exact_over_chunked']:.2f}",
                  f"{r['live_x_real_time']:.1f}"))
  return (_table(stream) + "\n\nexact mode against one bare fixed chunk "
          "and against the plain chunked pass over the same chunks (target "
          "ratio >= 0.9; ceiling: frames kept / frames computed)\n"
          + _table(exact))


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    work_dir = FLAGS.work_dir or tmp
    os.makedirs(work_dir, exist_ok=True)
    results = [measure(d, v) for d in export_dirs(work_dir)
               for v in FLAGS.variants]
  print(f"{FLAGS.threads} threads; real-time factor = push wall time / "
        "audio returned (< 1 keeps up)")
  print(tables(results))
  report_json({"threads": FLAGS.threads, "quick": FLAGS.quick,
               "results": results}, FLAGS.json)


if __name__ == "__main__":
  app.run(main)
