"""The one configuration object of tfvocoder.

`VocoderConfig` is a frozen dataclass whose defaults are the reference
experiment (DESIGN.md). Flags are parsed into it once (`train.py`), it is
written as JSON next to checkpoints, and every module takes its numbers from
it: no module hard-codes a sample rate, hop or mel count.

Derived values (frames per window, band lengths, band rates, band edges in
Hz) are computed here and checked in `__post_init__`, so an inconsistent
config fails at construction with a message naming the offending field.
"""

import dataclasses
import json
import math
from typing import Any, Dict, Optional, Tuple

MODELS = ("multiscale", "melgan")
# Fields that may change when a run resumes (they do not shape any weight or
# the data the weights were trained on); every other field must match.
TRAINING_ONLY_FIELDS = frozenset((
    "adversarial_loss", "learning_rate", "beta_1", "beta_2",
    "feature_matching_weight", "stft_loss_weight", "mel_loss_weight",
    "alternate_updates", "mixed_precision", "seed", "warmup_steps",
    "lr_decay", "lr_decay_steps", "jit_compile", "mixed_bfloat16"))
ADVERSARIAL_LOSSES = ("least_squares", "hinge")
INITS = ("normal", "he")
ACTIVATIONS = ("leaky_relu", "snake")


def _tuple_of_tuples(value) -> Tuple[Tuple[int, ...], ...]:
  return tuple(tuple(int(f) for f in row) for row in value)


def _require(condition: bool, message: str) -> None:
  """Raise `ValueError("VocoderConfig: <message>")` unless `condition`."""
  if not condition:
    raise ValueError(f"VocoderConfig: {message}")


def _require_positive(config: "VocoderConfig", names) -> None:
  for name in names:
    value = getattr(config, name)
    _require(value > 0, f"{name}={value} must be > 0")


@dataclasses.dataclass(frozen=True)
class VocoderConfig:
  """Every hyper-parameter of an experiment.

  Audio conventions: mono float32 in [-1, 1] at `sample_rate` Hz; log-mel
  frames every `hop_length` samples; training windows of `window` samples.
  """

  # --- model family -------------------------------------------------------
  model: str = "multiscale"

  # --- audio / features ---------------------------------------------------
  sample_rate: int = 22050          # Hz
  n_fft: int = 1024                 # samples
  win_length: int = 1024            # samples (Hann window)
  hop_length: int = 256             # samples per mel frame
  n_mels: int = 128
  fmin: float = 0.0                 # Hz
  fmax: Optional[float] = None      # Hz; None = sample_rate / 2
  log_floor: float = 1e-5           # log10(max(mel, log_floor))
  window: int = 8192                # training window, samples
  peak_normalize: float = 0.95      # each training window's peak
  silence_rms: float = 1e-3         # windows below this RMS are dropped
  n_bands: int = 5                  # multiscale bands

  # --- frozen Morlet filter banks ------------------------------------------
  filter_bank_filters: int = 128
  filter_bank_taps: int = 128
  filter_bank_scaling: float = 0.05

  # --- multiscale generator / discriminator --------------------------------
  # Upsampling factors after the embedding, largest band first.
  band_factors: Tuple[Tuple[int, ...], ...] = (
      (4, 4, 4, 4), (4, 4, 4, 2), (4, 4, 2, 2), (4, 2, 2, 2), (2, 2, 2, 2))
  gen_channels: int = 128
  gen_embed_kernel: int = 7
  disc_channels: int = 128
  disc_kernel: int = 7
  disc_judge_kernel: int = 3
  disc_post_layers: int = 3
  joint_channels: int = 512
  conditioned: bool = True          # discriminators see the mel
  leaky_slope: float = 0.2
  init_stddev: float = 0.02
  # Recipe levers (defaults: the reference). init "normal" is N(0,
  # init_stddev), "he" variance-preserving (tfvocoder.models.base).
  init: str = "normal"
  activation: str = "leaky_relu"    # generators' activation, or "snake"
  gen_weight_norm: bool = False     # weight-normalised multiscale generator
  band_scaling: bool = False        # the reference's orthonormal band gains
  # Multi-period discriminator (HiFi-GAN) on the audio, beside the judges.
  period_discriminator: bool = False
  mpd_periods: Tuple[int, ...] = (2, 3, 5, 7, 11)
  mpd_channels: Tuple[int, ...] = (32, 128, 512, 1024, 1024)

  # --- MelGAN baseline ----------------------------------------------------
  melgan_ngf: int = 32
  melgan_ratios: Tuple[int, ...] = (8, 8, 2, 2)
  melgan_residual_dilations: Tuple[int, ...] = (1, 3, 9)
  melgan_ndf: int = 16
  melgan_disc_scales: int = 3
  melgan_disc_downsample: Tuple[int, ...] = (4, 4, 4, 4)
  melgan_disc_max_channels: int = 1024
  melgan_disc_conditioned: bool = False

  # --- optimisation / losses ------------------------------------------------
  adversarial_loss: Optional[str] = None   # None: family default
  learning_rate: float = 1e-4
  beta_1: float = 0.5
  beta_2: float = 0.9
  feature_matching_weight: float = 10.0
  stft_loss_weight: float = 0.0
  mel_loss_weight: float = 0.0
  alternate_updates: bool = False   # successive batches go to D, then G
  mixed_precision: bool = False
  seed: int = 0
  # Training levers (tfvocoder.training.gan). The first warmup_steps steps
  # train the generator alone on the spectral losses; both learning rates
  # are learning_rate * lr_decay ** (step / lr_decay_steps); jit_compile
  # XLA-compiles each replica's update (one replica only); mixed_bfloat16
  # computes the networks in bfloat16 (weights and losses stay float32).
  warmup_steps: int = 0
  lr_decay: float = 1.0
  lr_decay_steps: int = 1000
  jit_compile: bool = False
  mixed_bfloat16: bool = False

  def __post_init__(self):
    # Normalise JSON lists back into tuples so round trips compare equal.
    object.__setattr__(self, "band_factors", _tuple_of_tuples(self.band_factors))
    for name in ("melgan_ratios", "melgan_residual_dilations",
                 "melgan_disc_downsample", "mpd_periods", "mpd_channels"):
      object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
    self._check()

  # ------------------------------------------------------------------------
  def _check(self):
    """Raise ValueError naming the first inconsistent field."""
    self._check_audio()
    self._check_bands()
    self._check_networks()
    self._check_levers()
    self._check_training()

  def _check_audio(self):
    _require(self.model in MODELS,
            f"model={self.model!r}; expected one of {MODELS}")
    _require_positive(self, ("sample_rate", "n_fft", "win_length",
                             "hop_length", "n_mels", "window", "n_bands",
                             "filter_bank_filters", "filter_bank_taps",
                             "filter_bank_scaling", "log_floor"))
    _require(self.win_length <= self.n_fft,
            f"win_length={self.win_length} must be <= n_fft={self.n_fft}")
    _require((self.n_fft - self.hop_length) % 2 == 0,
            f"n_fft - hop_length = {self.n_fft - self.hop_length} must be even "
            "(reflect padding of (n_fft - hop) / 2 on each side)")
    _require(0 <= self.fmin < self.mel_fmax <= self.sample_rate / 2,
            f"need 0 <= fmin ({self.fmin}) < fmax ({self.mel_fmax}) <= "
            f"sample_rate / 2 ({self.sample_rate / 2})")
    _require(self.window % self.hop_length == 0,
            f"window={self.window} must be divisible by hop_length="
            f"{self.hop_length}")
    _require(0 < self.peak_normalize <= 1.0,
            f"peak_normalize={self.peak_normalize} must be in (0, 1]")
    _require(self.silence_rms >= 0,
            f"silence_rms={self.silence_rms} must be >= 0")

  def _check_bands(self):
    band_divisor = 2 ** (self.n_bands - 1)
    _require(self.window % (2 * band_divisor) == 0,
            f"window={self.window} must be divisible by 2 * 2**(n_bands-1) = "
            f"{2 * band_divisor} so every band has an even length")
    _require(self.hop_length % band_divisor == 0,
            f"hop_length={self.hop_length} must be divisible by 2**(n_bands-1)"
            f" = {band_divisor} so every band has whole samples per frame")
    _require(len(self.band_factors) == self.n_bands,
            f"band_factors has {len(self.band_factors)} rows; expected "
            f"n_bands={self.n_bands}")
    for k, factors in enumerate(self.band_factors):
      _require(math.prod(factors) == self.band_hops[k],
              f"band_factors[{k}]={factors} multiply to {math.prod(factors)};"
              f" band {k} needs {self.band_hops[k]} samples per mel frame")

  def _check_networks(self):
    _require_positive(self, (
        "gen_channels", "gen_embed_kernel", "disc_channels", "disc_kernel",
        "disc_judge_kernel", "joint_channels", "init_stddev", "melgan_ngf",
        "melgan_ndf", "melgan_disc_scales", "melgan_disc_max_channels"))
    _require(self.disc_post_layers >= 0,
            f"disc_post_layers={self.disc_post_layers} must be >= 0")
    for name in ("melgan_ratios", "melgan_residual_dilations",
                 "melgan_disc_downsample"):
      values = getattr(self, name)
      _require(values and min(values) > 0,
              f"{name}={values} must be one or more integers > 0")
    _require(math.prod(self.melgan_ratios) == self.hop_length,
            f"melgan_ratios={self.melgan_ratios} multiply to "
            f"{math.prod(self.melgan_ratios)}; expected hop_length="
            f"{self.hop_length}")

  def _check_levers(self):
    _require(self.init in INITS, f"init={self.init!r}; expected one of {INITS}")
    _require(self.activation in ACTIVATIONS,
            f"activation={self.activation!r}; expected one of {ACTIVATIONS}")
    for name in ("mpd_periods", "mpd_channels"):
      values = getattr(self, name)
      _require(values and min(values) > 0,
              f"{name}={values} must be one or more integers > 0")
    _require(len(set(self.mpd_periods)) == len(self.mpd_periods),
            f"mpd_periods={self.mpd_periods} must not repeat a period")
    _require(max(self.mpd_periods) < self.window,
            f"mpd_periods={self.mpd_periods} must be < window={self.window}"
            " (the audio is reflect-padded to a multiple of each period)")

  def _check_training(self):
    if self.adversarial_loss is not None:
      _require(self.adversarial_loss in ADVERSARIAL_LOSSES,
              f"adversarial_loss={self.adversarial_loss!r}; expected one of "
              f"{ADVERSARIAL_LOSSES}")
    _require(math.isfinite(self.learning_rate) and self.learning_rate > 0,
            f"learning_rate={self.learning_rate} must be > 0")
    for name in ("beta_1", "beta_2"):
      _require(0 <= getattr(self, name) < 1,
              f"{name}={getattr(self, name)} must be in [0, 1)")
    for name in ("feature_matching_weight", "stft_loss_weight",
                 "mel_loss_weight"):
      value = getattr(self, name)
      _require(math.isfinite(value) and value >= 0,
              f"{name}={value} must be >= 0 (0 turns the loss off)")
    _require(0 <= self.seed < 2 ** 32,
            f"seed={self.seed} must be in [0, 2**32)")
    self._check_schedule()

  def _check_schedule(self):
    _require(self.warmup_steps >= 0,
            f"warmup_steps={self.warmup_steps} must be >= 0")
    _require(self.warmup_steps == 0 or self.stft_loss_weight > 0
             or self.mel_loss_weight > 0,
            f"warmup_steps={self.warmup_steps} trains on the spectral losses "
            "alone: needs stft_loss_weight or mel_loss_weight > 0")
    _require(math.isfinite(self.lr_decay) and 0 < self.lr_decay <= 1,
            f"lr_decay={self.lr_decay} must be in (0, 1] (1: no decay)")
    _require(self.lr_decay_steps >= 1,
            f"lr_decay_steps={self.lr_decay_steps} must be >= 1")
    _require(not (self.mixed_bfloat16 and self.mixed_precision),
            "mixed_bfloat16=True and mixed_precision=True: choose one "
            "(mixed_precision is float16 with loss scaling)")

  # --- derived values -------------------------------------------------------
  @property
  def frame_rate(self) -> float:
    """Mel frames per second of audio (`sample_rate / hop_length`), Hz."""
    return self.sample_rate / self.hop_length

  @property
  def mel_fmax(self) -> float:
    """Upper mel edge in Hz."""
    return float(self.sample_rate / 2 if self.fmax is None else self.fmax)

  @property
  def frames_per_window(self) -> int:
    return self.window // self.hop_length

  @property
  def mel_padding(self) -> int:
    """Reflect padding on each side of the STFT, samples."""
    return (self.n_fft - self.hop_length) // 2

  @property
  def band_hops(self) -> Tuple[int, ...]:
    """Samples per mel frame in each band, largest band first."""
    return tuple(self.hop_length // 2 ** k for k in range(self.n_bands))

  @property
  def band_lengths(self) -> Tuple[int, ...]:
    """Samples of each band for one training window, largest band first."""
    return tuple(self.window // 2 ** k for k in range(self.n_bands))

  @property
  def band_rates(self) -> Tuple[float, ...]:
    """Sample rate of each band in Hz, largest band first."""
    return tuple(self.sample_rate / 2 ** k for k in range(self.n_bands))

  @property
  def band_edges_hz(self) -> Tuple[Tuple[float, float], ...]:
    """[low, high] Hz covered by each band, largest band first.

    Band k spans [rate_k / 4, rate_k / 2]; the last band spans [0, rate / 2].
    Which band owns the bins at the edges: `tfvocoder.dsp.bands.band_bins`.
    """
    edges = []
    for k, rate in enumerate(self.band_rates):
      low = 0.0 if k == self.n_bands - 1 else rate / 4
      edges.append((low, rate / 2))
    return tuple(edges)

  @property
  def resolved_adversarial_loss(self) -> str:
    if self.adversarial_loss is not None:
      return self.adversarial_loss
    return "least_squares" if self.model == "multiscale" else "hinge"

  # --- (de)serialisation ------------------------------------------------------
  def to_dict(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: Dict[str, Any]) -> "VocoderConfig":
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"VocoderConfig: unknown field(s) {unknown}")
    return cls(**values)

  @classmethod
  def from_json(cls, text: str) -> "VocoderConfig":
    return cls.from_dict(json.loads(text))

  def model_differences(self, other: "VocoderConfig") -> Dict[str, Any]:
    """Fields outside TRAINING_ONLY_FIELDS where `other` differs: {name: (self, other)}."""
    mine, theirs = self.to_dict(), other.to_dict()
    return {k: (mine[k], theirs[k]) for k in mine
            if k not in TRAINING_ONLY_FIELDS and mine[k] != theirs[k]}

  def replace(self, **changes) -> "VocoderConfig":
    return dataclasses.replace(self, **changes)


def tiny_config(**overrides) -> VocoderConfig:
  """A small config for tests and smoke runs (same structure, fewer weights)."""
  values = dict(
      window=2048, n_mels=32, filter_bank_filters=16, filter_bank_taps=32,
      gen_channels=16, disc_channels=16, joint_channels=32, melgan_ngf=8,
      melgan_ndf=4, melgan_disc_max_channels=64)
  values.update(overrides)
  return VocoderConfig(**values)
