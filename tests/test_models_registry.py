"""Model registry: build_* by family, summary and parameter counts."""

import keras
import pytest

from tfvocoder.config import tiny_config
from tfvocoder.models import (MelGANDiscriminator, MelGANGenerator,
                              MultiscaleDiscriminator, MultiscaleGenerator,
                              build_discriminator, build_generator,
                              parameter_counts, summary)


@pytest.mark.parametrize("family, generator, discriminator, key", [
    ("multiscale", MultiscaleGenerator, MultiscaleDiscriminator, "bands"),
    ("melgan", MelGANGenerator, MelGANDiscriminator, "audio")])
def test_registry(family, generator, discriminator, key):
  config = tiny_config(model=family)
  g, d = build_generator(config), build_discriminator(config)
  assert type(g) is generator and type(d) is discriminator
  assert g.target_key == key
  assert isinstance(g, keras.Model) and isinstance(d, keras.Model)
  assert g.config == config and d.config == config
  assert isinstance(g.receptive_field_frames, int)


def test_summary_lists_sub_networks():
  text = summary(build_discriminator(tiny_config()))
  lines = text.splitlines()
  assert lines[0] == "MultiscaleDiscriminator (multiscale_discriminator)"
  names = [line.split()[0] for line in lines[2:]]
  assert names == ["band_0", "band_1", "band_2", "band_3", "band_4", "joint",
                   "total"]
  total = parameter_counts(build_discriminator(tiny_config()))
  assert lines[-1].split()[1:] == [f"{total[k]:,}" for k in
                                   ("trainable", "non_trainable", "total")]
