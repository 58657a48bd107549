"""Config flags: one flag per VocoderConfig field; given flags reach it."""

import dataclasses

from absl import flags
import pytest

from tfvocoder import flags as config_flags
from tfvocoder.config import VocoderConfig


def _parsed(*argv):
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", *argv])
  return flag_values


def test_every_config_field_is_a_flag_with_its_default():
  flag_values = _parsed()
  for field in dataclasses.fields(VocoderConfig):
    assert field.name in flag_values, field.name
  assert flag_values["n_mels"].value == VocoderConfig.n_mels
  assert flag_values["melgan_ratios"].value == "8,8,2,2"
  assert flag_values["band_factors"].value.startswith("4,4,4,4;4,4,4,2;")
  # No flag given: the dataclass defaults, unchanged.
  assert config_flags.config_from_flags(flag_values) == VocoderConfig()
  # Defining twice is harmless.
  config_flags.define_config_flags(flag_values)


def test_given_flags_reach_the_config():
  config = config_flags.config_from_flags(_parsed(
      "--model=melgan", "--n_mels=64", "--fmax=8000", "--conditioned=false",
      "--melgan_ratios=8,8,4", "--learning_rate=3e-4",
      "--band_factors=4,4,4,4;4,4,4,2;4,4,2,2;4,2,2,2;2,2,2,2"))
  assert config == VocoderConfig(
      model="melgan", n_mels=64, fmax=8000.0, conditioned=False,
      melgan_ratios=(8, 8, 4), learning_rate=3e-4)
  assert isinstance(config.fmax, float)


def test_a_bad_flag_value_names_the_flag():
  with pytest.raises(ValueError, match="--melgan_ratios='8,x'"):
    config_flags.config_from_flags(_parsed("--melgan_ratios=8,x"))


def test_on_resume_flags_not_given_keep_the_saved_values(tmp_path):
  saved = VocoderConfig(learning_rate=2e-4, stft_loss_weight=2.5,
                        mel_loss_weight=45.0, n_mels=64)
  flagfile = tmp_path / "more.flags"
  flagfile.write_text("--feature_matching_weight=5\n")
  flag_values = _parsed("--learning_rate=1e-4", f"--flagfile={flagfile}")
  # Set from the command line or a flagfile: both count as given.
  assert config_flags.given_values(flag_values) == {
      "learning_rate": 1e-4, "feature_matching_weight": 5.0}
  assert config_flags.config_from_flags(flag_values, base=saved) == (
      saved.replace(learning_rate=1e-4, feature_matching_weight=5.0))
  # only_given=False: every flag's value, defaults included.
  assert config_flags.config_from_flags(
      flag_values, base=saved, only_given=False) == VocoderConfig(
          learning_rate=1e-4, feature_matching_weight=5.0)


def test_an_invalid_config_value_names_the_field():
  with pytest.raises(ValueError, match="model='foo'; expected one of"):
    config_flags.config_from_flags(_parsed("--model=foo"))
  with pytest.raises(ValueError, match="gen_channels=0 must be > 0"):
    config_flags.config_from_flags(_parsed("--gen_channels=0"))
