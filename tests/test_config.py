"""VocoderConfig: reference defaults, derived values, validation, JSON."""

from absl import flags
import pytest

from tfvocoder import flags as config_flags
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


@pytest.mark.parametrize("changes, message", [
    (dict(init="xavier"), "init='xavier'; expected one of \\('normal', 'he'\\)"),
    (dict(activation="relu"), "activation='relu'; expected one of"),
    (dict(mpd_periods=()), "mpd_periods=\\(\\) must be one or more"),
    (dict(mpd_periods=(2, 3, 2)), "mpd_periods=\\(2, 3, 2\\) must not repeat"),
    (dict(mpd_periods=(2, 4096)), "mpd_periods=\\(2, 4096\\) must be < window"),
    (dict(mpd_channels=(32, 0)), "mpd_channels=\\(32, 0\\) must be one or"),
])
def test_recipe_lever_errors_name_the_field(changes, message):
  with pytest.raises(ValueError, match=message):
    tiny_config(**changes)


def test_recipe_levers_default_to_the_reference_and_shape_the_model():
  c = VocoderConfig()
  assert (c.init, c.activation, c.gen_weight_norm, c.band_scaling,
          c.period_discriminator) == ("normal", "leaky_relu", False, False,
                                      False)
  assert c.mpd_periods == (2, 3, 5, 7, 11)           # HiFi-GAN's
  assert c.mpd_channels == (32, 128, 512, 1024, 1024)
  levers = dict(init="he", activation="snake", gen_weight_norm=True,
                band_scaling=True, period_discriminator=True,
                mpd_periods=(2, 3), mpd_channels=(8, 16))
  changed = c.replace(**levers)
  # A run cannot resume with another recipe: none is training-only.
  assert set(c.model_differences(changed)) == set(levers)
  # JSON lists come back as tuples.
  assert VocoderConfig.from_json(changed.to_json()) == changed


def test_recipe_lever_flags_parse():
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", "--init=he", "--activation=snake", "--gen_weight_norm",
               "--band_scaling", "--period_discriminator",
               "--mpd_periods=2,3,5", "--mpd_channels=16,32,64"])
  assert flag_values["mpd_periods"].default == "2,3,5,7,11"
  assert config_flags.config_from_flags(flag_values) == VocoderConfig(
      init="he", activation="snake", gen_weight_norm=True, band_scaling=True,
      period_discriminator=True, mpd_periods=(2, 3, 5),
      mpd_channels=(16, 32, 64))


@pytest.mark.parametrize("changes, message", [
    (dict(warmup_steps=-1), "warmup_steps=-1 must be >= 0"),
    (dict(warmup_steps=10), "warmup_steps=10 trains on the spectral losses "
     "alone: needs stft_loss_weight or mel_loss_weight > 0"),
    (dict(lr_decay=0.0), "lr_decay=0.0 must be in \\(0, 1\\]"),
    (dict(lr_decay=1.5), "lr_decay=1.5 must be in \\(0, 1\\]"),
    (dict(lr_decay_steps=0), "lr_decay_steps=0 must be >= 1"),
    (dict(mixed_bfloat16=True, mixed_precision=True),
     "mixed_bfloat16=True and mixed_precision=True: choose one"),
])
def test_training_lever_errors_name_the_field(changes, message):
  with pytest.raises(ValueError, match=message):
    tiny_config(**changes)


def test_training_levers_are_off_by_default_and_may_change_on_resume():
  c = VocoderConfig()
  assert (c.warmup_steps, c.lr_decay, c.jit_compile, c.mixed_bfloat16) == (
      0, 1.0, False, False)
  changed = c.replace(warmup_steps=100, mel_loss_weight=45.0, lr_decay=0.999,
                      lr_decay_steps=100, jit_compile=True,
                      mixed_bfloat16=True)
  assert c.model_differences(changed) == {}
  flag_values = flags.FlagValues()
  config_flags.define_config_flags(flag_values)
  flag_values(["prog", "--warmup_steps=100", "--mel_loss_weight=45",
               "--lr_decay=0.999", "--lr_decay_steps=100", "--jit_compile",
               "--mixed_bfloat16"])
  assert config_flags.config_from_flags(flag_values) == changed
