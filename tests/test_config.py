"""VocoderConfig: reference defaults, derived values, validation, JSON."""

import pytest

from tfvocoder.config import VocoderConfig, tiny_config


def test_defaults_are_the_reference_experiment():
  c = VocoderConfig()
  assert (c.sample_rate, c.n_fft, c.hop_length, c.n_mels) == (22050, 1024,
                                                               256, 128)
  assert c.window == 8192 and c.n_bands == 5 and c.frames_per_window == 32
  assert c.mel_fmax == 11025.0 and c.mel_padding == 384


def test_derived_band_values():
  c = VocoderConfig()
  assert c.band_lengths == (8192, 4096, 2048, 1024, 512)
  assert c.band_rates == (22050, 11025, 5512.5, 2756.25, 1378.125)
  assert c.band_hops == (256, 128, 64, 32, 16)
  assert c.band_edges_hz == ((5512.5, 11025), (2756.25, 5512.5),
                             (1378.125, 2756.25), (689.0625, 1378.125),
                             (0.0, 689.0625))


@pytest.mark.parametrize("changes, message", [
    (dict(window=8000), "window=8000 must be divisible by hop_length"),
    (dict(hop_length=48, window=48 * 171), "every band has an even length"),
    (dict(band_factors=((4, 4, 4, 4),) * 5), "band_factors\\[1\\]"),
    (dict(melgan_ratios=(8, 8, 2)), "melgan_ratios"),
    (dict(model="wavenet"), "model='wavenet'"),
    (dict(fmax=20000.0), "fmax"),
    (dict(n_fft=512, win_length=1024), "win_length=1024 must be <= n_fft"),
    (dict(gen_channels=0), "gen_channels=0 must be > 0"),
    (dict(disc_post_layers=-1), "disc_post_layers=-1 must be >= 0"),
    (dict(melgan_residual_dilations=()), "melgan_residual_dilations=\\(\\)"),
    (dict(learning_rate=0.0), "learning_rate=0.0 must be > 0"),
    (dict(learning_rate=float("nan")), "learning_rate=nan must be > 0"),
    (dict(beta_1=1.0), "beta_1=1.0 must be in \\[0, 1\\)"),
    (dict(mel_loss_weight=-1.0), "mel_loss_weight=-1.0 must be >= 0"),
    (dict(seed=-1), "seed=-1 must be in"),
    (dict(log_floor=0.0), "log_floor=0.0 must be > 0"),
])
def test_inconsistent_values_are_clear_errors(changes, message):
  with pytest.raises(ValueError, match=message):
    VocoderConfig(**changes)


def test_json_round_trip_and_unknown_fields():
  c = tiny_config(conditioned=False)
  assert VocoderConfig.from_json(c.to_json()) == c
  with pytest.raises(ValueError, match="unknown field"):
    VocoderConfig.from_dict({"hop": 256})


def test_frozen():
  with pytest.raises(Exception):
    VocoderConfig().hop_length = 128
