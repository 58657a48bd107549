"""Training speed of both model families: steps/s, audio seconds/s and the
achieved GFLOP/s of the step against the GEMM peak.

  python -m benchmarks.train_speed [--batch_size=16] [--steps=5] [--threads=2]
      [--models=melgan,multiscale] [--jit_compile=config|true|false]
      [--mixed_bfloat16] [--baseline_tree=DIR [--rounds=2]] [--json=PATH]

Each model trains on the same in-memory batch (no input pipeline: this
measures the step itself) under the default strategy, reference configs,
after two warm-up steps. Prints steps/s, audio seconds per second, the
multiscale/MelGAN speed ratio, peak RSS, and per family the step's achieved
GFLOP/s as a share of the float32 GEMM rate measured in the same process
with the same threads and in the step's compute dtype (`cost.tf_gemm_gflops`,
the faster of a timing before and one after the steps: the float32 rate,
or with `--mixed_bfloat16` the bfloat16 one); `--json` writes them.

FLOPs are 2 x multiply-adds. The generator's forward multiply-adds are its
own `multiply_adds_per_frame()`; the discriminator's are counted on one
forward call (`forward_multiply_adds`: every convolution and frozen bank,
by `geometry.multiply_adds` at the length it runs at). A joint step counts
(`STEP_FORWARDS`) 3 generator forwards (the forward pass, and a backward
of 2: input and weight gradients) and 9 discriminator forwards: its update
judges real and fake (2) and back-propagates both (4), the generator's
update judges fake and real again with the updated discriminator (2) and
back-propagates the fake branch to its input only (1). The frozen filter
banks have no weight gradients (`FROZEN_STEP_FORWARDS`): the generator's
synthesis bank runs forward and back to its input (2); the judges'
analysis banks, on their input audio, run on real and fake in both updates
(4) and back-propagate only the fake branch of the generator's update (1).
Biases, activations, losses and optimizer updates are not counted.

`--baseline_tree=DIR` (a checkout of other code, e.g. `git worktree add DIR
<commit>`) runs DIR's `benchmarks.train_speed` and this tree's as
subprocesses, alternately, `--rounds` times each (DIR first on sys.path, so
its own `tfvocoder` is imported), and prints the speed-up of this tree's
best steps/s over DIR's.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags
import keras
import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.data import music, pipeline
from tfvocoder.evaluation import cost
from tfvocoder.io_utils import atomic_write_text
from tfvocoder.models import geometry, layers
from tfvocoder.training.gan import GANTrainer

flags.DEFINE_integer("batch_size", 16, "Global batch size.")
flags.DEFINE_integer("steps", 5, "Timed steps per model (after 2 warm-up).")
flags.DEFINE_integer("threads", 2, "intra-op threads (0: TF default).")
flags.DEFINE_list("models", ["melgan", "multiscale"], "Families to time.")
flags.DEFINE_enum("jit_compile", "config", ["config", "true", "false"],
                  "XLA-compile the step: the config's default, or force it.")
flags.DEFINE_bool("mixed_bfloat16", False,
                  "Train in bfloat16 (VocoderConfig.mixed_bfloat16).")
flags.DEFINE_string("baseline_tree", None,
                    "Also time this checkout's train_speed, alternately.")
flags.DEFINE_integer("rounds", 2, "With --baseline_tree: runs of each tree.")
flags.DEFINE_string("json", None, "Write the figures here.")
FLAGS = flags.FLAGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Forward-pass equivalents of one joint step (module docstring): trained
# layers, and frozen filter banks (no weight gradients).
STEP_FORWARDS = {"generator": 3, "discriminator": 9}
FROZEN_STEP_FORWARDS = {"generator": 2, "discriminator": 5}
_COUNTED = (keras.layers.Conv1D, keras.layers.Conv1DTranspose,
            keras.layers.Conv2D, layers.WeightNormalization,
            layers.FilterBankConv, layers.FilterBankConvTranspose)
_FROZEN = (layers.FilterBankConv, layers.FilterBankConvTranspose)
# Runs benchmarks.train_speed of the tree given as the first argument.
_BOOTSTRAP = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
              "runpy.run_module('benchmarks.train_speed', run_name='__main__')")


# --- multiply-adds ------------------------------------------------------------
def _call_multiply_adds(layer, inputs, outputs) -> float:
  """Multiply-adds of one call of a `_COUNTED` layer, whole batch."""
  batch = int(inputs.shape[0])
  inner = getattr(layer, "layer", layer)    # a WeightNormalization's conv
  if isinstance(inner, keras.layers.Conv2D):
    return batch * float(np.prod(outputs.shape[1:-1]) *
                         np.prod(inner.kernel.shape))
  if isinstance(inner, keras.layers.Conv1D):
    # geometry's rule takes input = output x stride (explicit padding is
    # not work).
    length = int(outputs.shape[1]) * inner.strides[0]
  else:     # transposed convolutions and banks: once per input sample
    length = int(inputs.shape[1])
  return batch * geometry.multiply_adds(layer, length)[0]


def forward_multiply_adds(network, *args, frozen_only: bool = False
                          ) -> float:
  """Multiply-adds of one eager call `network(*args)`, whole batch.

  Every convolution (plain, grouped, transposed, weight-normalised, 2-D)
  and frozen filter bank the call runs counts once per call, by
  `geometry.multiply_adds` at the length it ran at (a 2-D convolution:
  output positions x kernel size); `frozen_only`: the banks alone.
  """
  counted = _FROZEN if frozen_only else _COUNTED
  # keras has no public recursive layer list; _flatten_layers is Model's.
  found = [layer for layer in network._flatten_layers(include_self=False)
           if isinstance(layer, counted)]
  wrapped = {id(layer.layer) for layer in found
             if isinstance(layer, layers.WeightNormalization)}
  hooked = [layer for layer in found if id(layer) not in wrapped]
  total = []

  def recording(layer, call):
    def recorded(inputs, *rest, **kwargs):
      outputs = call(inputs, *rest, **kwargs)
      total.append(_call_multiply_adds(layer, inputs, outputs))
      return outputs
    return recorded

  for layer in hooked:
    layer.call = recording(layer, layer.call)
  try:
    network(*args)
  finally:
    for layer in hooked:
      del layer.call
  return float(sum(total))


def step_multiply_adds(trainer: GANTrainer, batch) -> dict:
  """{"generator", "discriminator"}: forward multiply-adds on `batch`;
  "frozen": {same keys}: their frozen banks' share; "step": one joint step,
  trained layers times `STEP_FORWARDS`, banks times `FROZEN_STEP_FORWARDS`."""
  config = trainer.config
  size = int(batch["mel"].shape[0])
  generator = (trainer.generator.multiply_adds_per_frame() *
               config.frames_per_window * size)
  real = batch[trainer.target_key]
  real = list(real) if isinstance(real, (tuple, list)) else real
  discriminator = forward_multiply_adds(trainer.discriminator, real,
                                        batch["mel"])
  forwards = {"generator": generator, "discriminator": discriminator}
  frozen = {
      "generator": forward_multiply_adds(trainer.generator, batch["mel"],
                                         frozen_only=True),
      "discriminator": forward_multiply_adds(
          trainer.discriminator, real, batch["mel"], frozen_only=True)}
  forwards["step"] = sum(STEP_FORWARDS[k] * (v - frozen[k])
                         + FROZEN_STEP_FORWARDS[k] * frozen[k]
                         for k, v in forwards.items())
  forwards["frozen"] = frozen
  return forwards


# --- timing ---------------------------------------------------------------------
def _batch(config, size):
  """`pipeline.features` of `size` windows of the synthetic music."""
  audio = music.generate_music(size * config.window / config.sample_rate
                               + 0.1, config.sample_rate, seed=0)
  audio = audio[:size * config.window].reshape(size, config.window)
  audio = tf.constant(config.peak_normalize * audio /
                      np.max(np.abs(audio), axis=1, keepdims=True), tf.float32)
  return pipeline.features(audio, config)


def measure(model: str, batch_size: int, steps: int, **overrides) -> dict:
  """Steps/s, audio seconds/s and GFLOP per step of one family's GAN step
  (reference config with `overrides` of its fields)."""
  config = VocoderConfig(model=model, **overrides)
  trainer = GANTrainer(config, tf.distribute.get_strategy(), batch_size)
  batch = _batch(config, batch_size)
  macs = step_multiply_adds(trainer, batch)
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
  for _ in range(2):
    trainer.train_step(iterator)
  start = time.perf_counter()
  for _ in range(steps):
    losses = trainer.train_step(iterator)
  float(losses["g_loss"])
  rate = steps / (time.perf_counter() - start)
  return {"model": model, "batch_size": batch_size, "steps_per_sec": rate,
          "audio_seconds_per_sec": rate * batch_size * config.window /
          config.sample_rate, "jit_compile": config.jit_compile,
          "mixed_bfloat16": config.mixed_bfloat16,
          "gmacs": {k: v / 1e9 for k, v in macs.items() if k != "frozen"},
          "frozen_gmacs": {k: v / 1e9 for k, v in macs["frozen"].items()},
          "gflop_per_step": 2 * macs["step"] / 1e9,
          "gflops": 2 * macs["step"] / 1e9 * rate}


def _set_threads(threads: int) -> None:
  if threads:
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def _measure_here() -> dict:
  """This process's figures: every `--models` family and the GEMM peak."""
  _set_threads(FLAGS.threads)
  dtype = tf.bfloat16 if FLAGS.mixed_bfloat16 else tf.float32
  peak = cost.tf_gemm_gflops(dtype=dtype)
  overrides = {"mixed_bfloat16": FLAGS.mixed_bfloat16}
  if FLAGS.jit_compile != "config":
    overrides["jit_compile"] = FLAGS.jit_compile == "true"
  results = [measure(m, FLAGS.batch_size, FLAGS.steps, **overrides)
             for m in FLAGS.models]
  # The faster of a GEMM timing before and after the steps (load varies).
  peak = max(peak, cost.tf_gemm_gflops(dtype=dtype))
  return {"results": results, "gemm_peak_gflops": peak,
          "gemm_dtype": dtype.name,
          "peak_rss_gib": resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


# --- this tree against a baseline tree, alternately --------------------------
def _run_tree(tree: str, args, json_path: str) -> dict:
  """`benchmarks.train_speed args --json=json_path` of checkout `tree` in a
  subprocess (same python, `tree` first on sys.path); its JSON."""
  command = [sys.executable, "-c", _BOOTSTRAP, tree, *args,
             f"--json={json_path}"]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [tree] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  subprocess.run(command, cwd=tree, env=env, check=True,
                 stdout=subprocess.DEVNULL)
  with open(json_path) as f:
    return json.load(f)


def _best(runs, model):
  return max(r["steps_per_sec"] for run in runs for r in run["results"]
             if r["model"] == model)


def _interleaved(baseline_tree: str) -> dict:
  """This tree's and `baseline_tree`'s figures, `--rounds` alternating
  subprocess runs of each (this tree first in even rounds, the baseline in
  odd ones); best steps/s kept."""
  common = [f"--batch_size={FLAGS.batch_size}", f"--steps={FLAGS.steps}",
            f"--threads={FLAGS.threads}"]
  mine = common + [f"--models={','.join(FLAGS.models)}",
                   f"--jit_compile={FLAGS.jit_compile}",
                   f"--{'' if FLAGS.mixed_bfloat16 else 'no'}mixed_bfloat16"]
  runs = {"this": [], "baseline": []}
  with tempfile.TemporaryDirectory() as temp:
    for i in range(FLAGS.rounds):
      jobs = [("this", REPO, mine),
              ("baseline", os.path.abspath(baseline_tree), common)]
      for name, tree, args in jobs[::1 if i % 2 == 0 else -1]:
        runs[name].append(_run_tree(tree, args, f"{temp}/{name}{i}.json"))
  return _combined(runs, baseline_tree)


def _combined(runs, baseline_tree: str) -> dict:
  """One report from `runs` {"this", "baseline"}: [child JSON per round]:
  best steps/s of each (every round's kept too) and their ratio."""
  results = []
  for r in runs["this"][0]["results"]:
    rate, base = _best(runs["this"], r["model"]), _best(runs["baseline"],
                                                        r["model"])
    results.append(dict(
        r, steps_per_sec=rate, gflops=r["gflop_per_step"] * rate,
        audio_seconds_per_sec=r["audio_seconds_per_sec"] / r[
            "steps_per_sec"] * rate,
        baseline_steps_per_sec=base, speedup=rate / base,
        rounds_steps_per_sec={name: [x["steps_per_sec"] for run in rs
                                     for x in run["results"]
                                     if x["model"] == r["model"]]
                              for name, rs in runs.items()}))
  return {"results": results, "baseline_tree": baseline_tree,
          "rounds": FLAGS.rounds,
          "gemm_peak_gflops": max(r["gemm_peak_gflops"] for r in runs["this"]),
          "gemm_dtype": runs["this"][0].get("gemm_dtype", "float32"),
          "peak_rss_gib": max(r["peak_rss_gib"] for rs in runs.values()
                              for r in rs)}


# --- report ----------------------------------------------------------------------
def _print_report(report: dict) -> None:
  results, peak = report["results"], report["gemm_peak_gflops"]
  print(f"{'model':<11} {'batch':>5} {'steps/s':>8} {'audio s/s':>10} "
        f"{'GFLOP/step':>10} {'GFLOP/s':>8}")
  for r in results:
    print(f"{r['model']:<11} {r['batch_size']:>5} {r['steps_per_sec']:>8.3f} "
          f"{r['audio_seconds_per_sec']:>10.3f} {r['gflop_per_step']:>10.1f} "
          f"{r['gflops']:>8.1f}")
  if "multiscale_over_melgan" in report:
    print(f"multiscale / MelGAN steps/s ratio: "
          f"{report['multiscale_over_melgan']:.2f}")
  print(f"peak RSS: {report['peak_rss_gib']:.2f} GiB")
  for r in results:
    if "speedup" in r:
      print(f"{r['model']}: {r['speedup']:.2f}x the baseline's "
            f"{r['baseline_steps_per_sec']:.3f} steps/s (best of "
            f"{report['rounds']} alternating runs each)")
  print(f"TF {report.get('gemm_dtype', 'float32')} GEMM peak "
        f"({FLAGS.threads or 'default'} threads): {peak:.1f} GFLOP/s")
  for r in results:
    print(f"{r['model']} step: {r['gflops']:.1f} GFLOP/s = "
          f"{100 * r['gflops'] / peak:.0f} % of GEMM peak")


def main(argv):
  del argv
  if FLAGS.baseline_tree:
    report = _interleaved(FLAGS.baseline_tree)
  else:
    report = _measure_here()
  by = {r["model"]: r["steps_per_sec"] for r in report["results"]}
  if {"melgan", "multiscale"} <= set(by):
    report["multiscale_over_melgan"] = by["multiscale"] / by["melgan"]
  for r in report["results"]:
    r["percent_of_gemm_peak"] = 100 * r["gflops"] / report["gemm_peak_gflops"]
  _print_report(report)
  if FLAGS.json:
    atomic_write_text(FLAGS.json, json.dumps(report, indent=2))


if __name__ == "__main__":
  app.run(main)
