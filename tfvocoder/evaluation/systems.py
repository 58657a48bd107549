"""Every evaluated system behind one interface: `vocode(mel) -> audio`.

  ModelSystem       a trained generator restored from a training model dir
  GriffinLimSystem  the non-learned baseline (`griffin_lim`)

`load_systems(model_dirs, gl_iters, seed)` restores the models, checks that
they share the conditioning, and lines them up with Griffin-Lim (last),
each with a unique display name and file-name slug (`Lineup`). Every
system also says what it is (`describe()`: the fields of its metrics.json
entry) and how fast it runs in this process (`timings`).
"""

import dataclasses
import os
from typing import ClassVar, Dict, List, Sequence

from absl import logging
import numpy as np

from tfvocoder import models
from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import EvaluateError, cost
from tfvocoder.evaluation.griffin_lim import N_ITER, griffin_lim
from tfvocoder.training import model_dir as model_dir_lib

GRIFFIN_LIM = "griffin_lim"
# Fields that must agree between the evaluated models (same conditioning).
SIGNAL_FIELDS = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels",
                 "fmin", "fmax", "log_floor", "n_bands", "peak_normalize")


@dataclasses.dataclass
class System:
  """A vocoder under evaluation.

  Attributes:
    name: display name, unique in the lineup.
    slug: file-name-safe unique id (asset names, metrics.json keys).
    config: the signal settings it vocodes (shared by the lineup).
  """
  name: str
  slug: str
  config: VocoderConfig
  kind: ClassVar[str] = ""

  def vocode(self, mel: np.ndarray) -> np.ndarray:
    """`[frames, n_mels]` float32 log-mel -> `[frames * hop_length]`
    float32 audio in [-1, 1]."""
    raise NotImplementedError

  def vocode_all(self, mels: Sequence[np.ndarray]) -> List[np.ndarray]:
    """`vocode` of every mel, in order (subclasses may batch)."""
    return [self.vocode(mel) for mel in mels]

  def describe(self) -> Dict:
    """The system's fields in metrics.json (no figures)."""
    raise NotImplementedError

  def timings(self, mel: np.ndarray, repeats: int) -> Dict[str, Dict]:
    """{runtime: {"seconds", "x_real_time"}} on one `[frames, n_mels]` mel,
    best of `repeats` after a warm-up."""
    raise NotImplementedError


@dataclasses.dataclass
class ModelSystem(System):
  """A trained generator; batches of `batch_size` equal-length mels."""
  generator: object = None
  model_dir: str = ""
  checkpoint: str = ""
  batch_size: int = 4
  kind: ClassVar[str] = "model"

  def vocode(self, mel: np.ndarray) -> np.ndarray:
    return self.vocode_all([mel])[0]

  def vocode_all(self, mels: Sequence[np.ndarray]) -> List[np.ndarray]:
    out = [None] * len(mels)
    by_length = {}
    for i, mel in enumerate(mels):
      by_length.setdefault(len(mel), []).append(i)
    for group in by_length.values():
      for b in range(0, len(group), self.batch_size):
        chunk = group[b:b + self.batch_size]
        audio = self.generator.generate_audio(
            np.stack([mels[i] for i in chunk])).numpy()
        for i, one in zip(chunk, audio):
          out[i] = np.clip(one, -1.0, 1.0)
    return out

  def describe(self) -> Dict:
    return {"name": self.name, "slug": self.slug, "kind": self.kind,
            "model": self.config.model, "model_dir": self.model_dir,
            "checkpoint": os.path.basename(self.checkpoint),
            "parameters": models.parameter_counts(self.generator),
            "gflops_per_audio_second":
                cost.flops_per_audio_second(self.generator) / 1e9}

  def timings(self, mel: np.ndarray, repeats: int) -> Dict[str, Dict]:
    return {"keras": cost.keras_speed(self.generator, mel, repeats)}


@dataclasses.dataclass
class GriffinLimSystem(System):
  """Griffin-Lim; the i-th mel of `vocode_all` is seeded `seed + i`."""
  n_iter: int = N_ITER
  seed: int = 0
  kind: ClassVar[str] = GRIFFIN_LIM

  def vocode(self, mel: np.ndarray) -> np.ndarray:
    return griffin_lim(mel, self.config, self.n_iter, self.seed)

  def vocode_all(self, mels: Sequence[np.ndarray]) -> List[np.ndarray]:
    return [griffin_lim(mel, self.config, self.n_iter, self.seed + i)
            for i, mel in enumerate(mels)]

  def describe(self) -> Dict:
    return {"name": self.name, "slug": self.slug, "kind": self.kind,
            "model": GRIFFIN_LIM, "n_iter": self.n_iter, "parameters": None,
            "gflops_per_audio_second": None}

  def timings(self, mel: np.ndarray, repeats: int) -> Dict[str, Dict]:
    elapsed = cost.best_seconds(lambda: self.vocode(mel), repeats)
    seconds = len(mel) / self.config.frame_rate
    return {"librosa": {"seconds": elapsed, "x_real_time": seconds / elapsed}}


@dataclasses.dataclass(frozen=True)
class Lineup:
  """The systems of one evaluation, models first, Griffin-Lim last.

  Attributes:
    config: the shared signal settings (the first model's; the default
      config for Griffin-Lim alone).
    systems: every system, in report order.
    real: the slug of the real audio (distinct from every system's).
  """
  config: VocoderConfig
  systems: List[System]
  real: str


def load_model(model_dir: str):
  """(generator, config, checkpoint path) of a training model dir, or
  EvaluateError naming the path."""
  try:
    return model_dir_lib.load_generator(model_dir)
  except model_dir_lib.ModelDirError as e:
    raise EvaluateError(str(e)) from e


def check_compatible(model_dirs: Sequence[str],
                     configs: Sequence[VocoderConfig]) -> None:
  """All models must share the conditioning (mel) and band settings
  (`SIGNAL_FIELDS`); else EvaluateError naming the dir and the fields."""
  first = configs[0]
  for d, c in zip(model_dirs[1:], configs[1:]):
    diff = {f: (getattr(first, f), getattr(c, f)) for f in SIGNAL_FIELDS
            if getattr(first, f) != getattr(c, f)}
    if diff:
      raise EvaluateError(f"{d}: its config differs from {model_dirs[0]} in "
                          f"{diff}; models compared must share the log-mel")


def _unique_names(model_dirs: Sequence[str],
                  configs: Sequence[VocoderConfig]) -> List[str]:
  """"<dir base name> (<model>)", numbered "#2", ... on a clash."""
  names = []
  for d, c in zip(model_dirs, configs):
    base = os.path.basename(os.path.normpath(d)) or "model"
    name, i = f"{base} ({c.model})", 2
    while name in names or name == GRIFFIN_LIM:
      name, i = f"{base} ({c.model}) #{i}", i + 1
    names.append(name)
  return names


def slug(name: str, taken: set) -> str:
  """A lower-case `[a-z0-9_]` id of `name` not in `taken` (added to it)."""
  base = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
  base = "_".join(filter(None, base.split("_"))) or "system"
  out, i = base, 2
  while out in taken:
    out, i = f"{base}_{i}", i + 1
  taken.add(out)
  return out


def load_systems(model_dirs: Sequence[str], gl_iters: int = N_ITER,
                 seed: int = 0, batch_size: int = 4) -> Lineup:
  """Restores every model dir and lines the models up with Griffin-Lim.

  Args:
    model_dirs: training model dirs (config.json + checkpoints); may be
      empty (Griffin-Lim alone).
    gl_iters: Griffin-Lim iterations.
    seed: Griffin-Lim's seed (example i gets `seed + i`).
    batch_size: mels per generator call.
  Returns:
    the `Lineup`.
  Raises:
    EvaluateError: a model dir cannot be loaded, or the models differ in
      their conditioning.
  """
  loaded = []
  for d in model_dirs:
    logging.info("loading %s", d)
    loaded.append(load_model(d))
  configs = [c for _, c, _ in loaded]
  if configs:
    check_compatible(model_dirs, configs)
  config = configs[0] if configs else VocoderConfig()
  taken, systems = set(), []
  for (generator, c, ckpt), d, name in zip(loaded, model_dirs,
                                            _unique_names(model_dirs, configs)):
    systems.append(ModelSystem(
        name, slug(name, taken), c, generator=generator,
        model_dir=os.path.abspath(d), checkpoint=ckpt, batch_size=batch_size))
  systems.append(GriffinLimSystem("Griffin-Lim", slug(GRIFFIN_LIM, taken),
                                  config, n_iter=gl_iters, seed=seed))
  return Lineup(config, systems, slug("real", taken))
