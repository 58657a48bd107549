"""The shipped flagfiles: every line is a real flag, the config they give is
valid, and each recipe is what its README row says."""

import glob
import os
import re

from absl import flags
import pytest

from tfvocoder import flags as config_flags
from tfvocoder.config import VocoderConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "*.flags")))


def _train_flag_names():
  """Flags train.py itself defines (read from its source, not imported)."""
  with open(os.path.join(ROOT, "train.py")) as f:
    return set(re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', f.read()))


def _lines(path):
  with open(path) as f:
    lines = [line.strip() for line in f]
  return [line for line in lines if line and not line.startswith("#")]


def _split(path):
  """(config flags as argv, train-only {name: value}) of a flagfile."""
  fields = set(VocoderConfig.__dataclass_fields__)
  config_argv, train = [], {}
  for line in _lines(path):
    assert line.startswith("--") and "=" in line, (path, line)
    name, value = line[2:].split("=", 1)
    if name in fields:
      config_argv.append(line)
    else:
      train[name] = value
  return config_argv, train


def _config(path):
  argv, _ = _split(path)
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", *argv])
  return config_flags.config_from_flags(flag_values)


def test_the_flagfiles_are_found():
  names = {os.path.basename(p) for p in FLAGFILES}
  assert {"multiscale.flags", "melgan.flags", "quickstart.flags",
          "music_cpu.flags"} <= names


@pytest.mark.parametrize("path", FLAGFILES, ids=os.path.basename)
def test_every_line_is_a_flag_and_the_config_is_valid(path):
  _, train = _split(path)
  unknown = set(train) - _train_flag_names()
  assert not unknown, f"{path}: not flags of train.py: {sorted(unknown)}"
  config = _config(path)
  assert isinstance(config, VocoderConfig)
  assert config.model in ("multiscale", "melgan")


def test_the_reference_recipe_keeps_the_reference_levers():
  config = _config(os.path.join(ROOT, "multiscale.flags"))
  defaults = VocoderConfig()
  for lever in ("init", "activation", "gen_weight_norm", "band_scaling",
                "period_discriminator", "warmup_steps", "lr_decay",
                "stft_loss_weight", "mel_loss_weight"):
    assert getattr(config, lever) == getattr(defaults, lever), lever


@pytest.mark.parametrize("name", ["quickstart.flags", "music_cpu.flags"])
def test_the_cpu_recipes_train_on_the_spectral_losses_alone(name):
  path = os.path.join(ROOT, name)
  config = _config(path)
  _, train = _split(path)
  # Every step up to --max_steps is a warm-up step: no discriminator.
  assert config.warmup_steps >= int(train["max_steps"])
  assert config.mel_loss_weight > 0 and config.stft_loss_weight > 0
  assert config.model == "multiscale"
