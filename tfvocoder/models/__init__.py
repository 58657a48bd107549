"""Model registry: the trainer, export and evaluation never branch on family.

The contract every family keeps:

- `build_generator(config)` -> a `keras.Model`; `generator(mel)` with mel
  `[batch, frames, n_mels]` returns its training representation (multiscale:
  a list of `n_bands` tensors `[batch, frames * hop / 2**k]`, largest first;
  MelGAN: audio `[batch, frames * hop]`); `generator.target_key` names the
  data pipeline element ("bands" or "audio") holding the matching real
  signal; `generator.generate_audio(mel)` -> float32 `[batch, frames * hop]`
  at `sample_rate`; `generator.receptive_field_frames` is the number of mel
  frames on each side that influence an output sample.
- `build_discriminator(config)` -> a `keras.Model`; `discriminator(signal,
  mel)` returns a list of `(judgement [batch, time, 1], feature_maps)`.
- `get_config()` is `config.to_dict()`; `from_config` takes it back.

The families are `multiscale` and `melgan`, built from `base` (config-carrying
Keras base classes, initialisers, sub-layer bookkeeping), `layers` (frozen
filter banks, grouped conv, reflection pad, weight norm), `activations`
(LeakyReLU or Snake), `period` (HiFi-GAN's multi-period judges, appended to
either family's discriminator outputs with `period_discriminator`) and
`geometry` (receptive fields, multiply-adds).
"""

from typing import Dict

import keras

from tfvocoder.config import VocoderConfig
from tfvocoder.models.melgan import MelGANDiscriminator, MelGANGenerator
from tfvocoder.models.multiscale import (MultiscaleDiscriminator,
                                         MultiscaleGenerator)

GENERATORS = {"multiscale": MultiscaleGenerator, "melgan": MelGANGenerator}
DISCRIMINATORS = {"multiscale": MultiscaleDiscriminator,
                  "melgan": MelGANDiscriminator}


def build_generator(config: VocoderConfig) -> keras.Model:
  """The generator of `config.model`, built (weights exist)."""
  return GENERATORS[config.model](config)


def build_discriminator(config: VocoderConfig) -> keras.Model:
  """The discriminator of `config.model`, built (weights exist)."""
  return DISCRIMINATORS[config.model](config)


def _count(weights) -> int:
  total = 0
  for weight in weights:
    size = 1
    for dim in weight.shape:
      size *= int(dim)
    total += size
  return total


def parameter_counts(model) -> Dict[str, int]:
  """{"trainable", "non_trainable", "total"} scalar parameter counts."""
  trainable = _count(model.trainable_weights)
  non_trainable = _count(model.non_trainable_weights)
  return dict(trainable=trainable, non_trainable=non_trainable,
              total=trainable + non_trainable)


def summary(model) -> str:
  """Parameter counts of a model and of each of its direct sub-networks
  that holds weights, as a printable table."""
  counts = parameter_counts(model)
  rows = [(layer.name, parameter_counts(layer)) for layer in model.layers]
  rows = [(name, c) for name, c in rows if c["total"]]
  width = max([len(name) for name, _ in rows] + [len("total")])
  header = (f"{'':{width}}  {'trainable':>12} {'non-trainable':>14} "
            f"{'total':>12}")
  lines = [f"{type(model).__name__} ({model.name})", header]
  for name, c in rows + [("total", counts)]:
    lines.append(f"{name:{width}}  {c['trainable']:>12,} "
                 f"{c['non_trainable']:>14,} {c['total']:>12,}")
  return "\n".join(lines)


__all__ = ["build_generator", "build_discriminator", "parameter_counts",
           "summary", "MultiscaleGenerator", "MultiscaleDiscriminator",
           "MelGANGenerator", "MelGANDiscriminator"]
