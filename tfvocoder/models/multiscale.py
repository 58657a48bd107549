"""The multiscale filter-bank vocoder: per-band generators and judges.

Generator: one sub-generator per band (DESIGN.md, "Multiscale filter-bank
model"), each mel `[batch, frames, n_mels]` -> Conv1D(gen_channels,
gen_embed_kernel, same) + LeakyReLU -> for every factor f of the band's
`band_factors` row a Conv1DTranspose(kernel 2f, stride f, same) + LeakyReLU
(the last one with `filter_bank_filters` outputs) -> the band's frozen Morlet
bank as a transposed convolution -> `[batch, frames * band_hops[k]]` samples
at `band_rates[k]` Hz. Bands are listed largest (highest rate) first.

Discriminator: per band the frozen bank as a convolution (1 ->
filter_bank_filters channels), one Conv1D(disc_channels, disc_kernel,
stride f) + LeakyReLU per factor (back to the mel frame rate), the mel
concatenated (if `conditioned`), `disc_post_layers` Conv1D(disc_channels,
disc_judge_kernel) + LeakyReLU and a Conv1D(1, disc_judge_kernel) judge. The
joint judge sees the five band states (the outputs of the strided stacks)
and the mel: `disc_post_layers` Conv1D(joint_channels, disc_judge_kernel) +
LeakyReLU and a judge. Features are every LeakyReLU activation.

The frozen banks are `tfvocoder.models.layers` filter-bank layers computed in
polyphase form (`layers.PolyphaseFilterBankConv*`): same weights, same
outputs to float rounding, several times faster on CPU.

Recipe levers (config fields; the defaults are the reference): `init` ("he":
variance-preserving kernels, `base.kernel_initializer`); `gen_weight_norm`
(the generator's convs weight-normalised, folded at export); `activation`
("snake": the generator's activations are `activations.Snake`);
`band_scaling` (the reference's orthonormal-split gains g_k,
`dsp.bands.reference_band_gains`: band k's generator output is its network's
over g_k, its judge sees its input times g_k; data and merges unchanged);
`period_discriminator` (HiFi-GAN's multi-period judges on the merged bands,
`period`, listed after the joint judge).
"""

from typing import List, Tuple

import keras
import tensorflow as tf
from keras import ops

from tfvocoder import dsp
from tfvocoder.dsp import bands as bands_lib
from tfvocoder.models import activations, base, geometry, layers, period


def _maybe_weight_norm(config, conv):
  """`conv` weight-normalised when `gen_weight_norm` (same initial output)."""
  if config.gen_weight_norm:
    return layers.WeightNormalization(conv, name=conv.name)
  return conv


# ---------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(base.PACKAGE)
class BandGenerator(base.ConfigLayer):
  """One band's sub-generator.

  Call: mel `[batch, frames, n_mels]` -> `[batch, frames * band_hops[band]]`
  samples of band `band` at `band_rates[band]` Hz.
  """

  def __init__(self, config, band, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    self.band = int(band)
    self.embed = _maybe_weight_norm(c, keras.layers.Conv1D(
        c.gen_channels, c.gen_embed_kernel, padding="same",
        kernel_initializer=base.kernel_initializer(c), name="embed"))
    factors = c.band_factors[self.band]
    channels = [c.gen_channels] * (len(factors) - 1) + [c.filter_bank_filters]
    base.assign_layers(self, "upsample", [
        _maybe_weight_norm(c, keras.layers.Conv1DTranspose(
            out, 2 * f, strides=f, padding="same", name=f"upsample_{i}",
            kernel_initializer=base.kernel_initializer(c, f, transpose=True)))
        for i, (f, out) in enumerate(zip(factors, channels))])
    base.assign_layers(self, "act", activations.activation_layers(
        c, [c.gen_channels] + channels, "act"))
    self.synthesis = layers.PolyphaseFilterBankConvTranspose(
        **layers.band_bank_args(c, self.band), name="synthesis")
    # band_scaling: the network makes the reference's band, g_k times ours.
    self.output_scale = (1.0 / bands_lib.reference_band_gains(c)[self.band]
                         if c.band_scaling else 1.0)

  @property
  def upsample(self):
    return base.layers_of(self, "upsample")

  def build_sublayers(self):
    self.embed.build((None, None, self.config.n_mels))
    channels = self.config.gen_channels
    for layer in self.upsample:
      layer.build((None, None, channels))
      channels = layers.unwrapped(layer).filters
    self.synthesis.build((None, None, channels))

  def call(self, mel):
    band = self.synthesis(self.excitation(mel))
    return band * self.output_scale if self.config.band_scaling else band

  def excitation(self, mel):
    """The bank's input: `[batch, frames * band_hops[band], filters]`."""
    convs = [self.embed, *self.upsample]
    acts = activations.activation_fns(self, "act", len(convs), self.config)
    x = mel
    for conv, act in zip(convs, acts):
      x = act(conv(x))
    return x

  def spans(self) -> List[geometry.Span]:
    """Geometry of the chain mel frames -> band samples."""
    return ([geometry.conv_span(self.embed)]
            + [geometry.conv_span(layer) for layer in self.upsample]
            + [geometry.filter_bank_span(self.synthesis)])

  def multiply_adds_per_frame(self) -> float:
    return geometry.chain_multiply_adds(
        [self.embed, *self.upsample, self.synthesis])

  def get_config(self):
    base = super().get_config()
    base.update(band=self.band)
    return base


@keras.saving.register_keras_serializable(base.PACKAGE)
class MultiscaleGenerator(base.ConfigModel):
  """mel `[batch, frames, n_mels]` -> `n_bands` tensors `[batch, frames *
  hop_length / 2**k]` (float32, largest band first); see the module doc."""

  target_key = "bands"

  def __init__(self, config, name="multiscale_generator", **kwargs):
    super().__init__(name=name, **kwargs)
    self.config = base.as_config(config)
    base.assign_layers(self, "band", [
        BandGenerator(self.config, k, name=f"band_{k}")
        for k in range(self.config.n_bands)])
    self.build()

  @property
  def band_generators(self):
    return base.layers_of(self, "band")

  def build(self, input_shape=None):
    for band in self.band_generators:
      band.build()

  def call(self, mel, training=False):
    return [ops.cast(band(mel), "float32") for band in self.band_generators]

  def generate_audio(self, mel):
    """mel `[batch, frames, n_mels]` -> float32 `[batch, frames * hop]` audio
    at `sample_rate` Hz: the bands merged by `dsp.merge_bands`."""
    return dsp.merge_bands(self(mel, training=False), self.config)

  @property
  def receptive_field_frames(self) -> int:
    """Mel frames on each side that influence a band sample (the network
    only: `merge_bands` is a global FFT interpolation, whose edge effects
    decay with distance but are not bounded by a frame count)."""
    return geometry.receptive_field_frames(
        (band.spans(), hop) for band, hop in
        zip(self.band_generators, self.config.band_hops))

  def multiply_adds_per_frame(self) -> float:
    """Multiply-adds of the network per mel frame (the merge not counted)."""
    return sum(band.multiply_adds_per_frame() for band in self.band_generators)


# ---------------------------------------------------------------------------
# Discriminator
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(base.PACKAGE)
class BandDiscriminator(base.ConfigLayer):
  """One band's sub-discriminator.

  Call: band `[batch, frames * band_hops[band]]` (and mel `[batch, frames,
  n_mels]` when conditioned) -> (judgement `[batch, frames, 1]`, features:
  the activations, `len(factors) + disc_post_layers` tensors, state: the
  strided stack's output `[batch, frames, disc_channels]`).
  """

  def __init__(self, config, band, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    self.band = int(band)
    init = base.kernel_initializer(c)
    self.analysis = layers.PolyphaseFilterBankConv(
        **layers.band_bank_args(c, self.band), name="analysis")
    base.assign_layers(self, "downsample", [
        keras.layers.Conv1D(c.disc_channels, c.disc_kernel, strides=f,
                            padding="same", kernel_initializer=init,
                            name=f"downsample_{i}")
        for i, f in enumerate(c.band_factors[self.band])])
    base.assign_layers(self, "post", [
        keras.layers.Conv1D(c.disc_channels, c.disc_judge_kernel,
                            padding="same", kernel_initializer=init,
                            name=f"post_{i}")
        for i in range(c.disc_post_layers)])
    self.judge = keras.layers.Conv1D(1, c.disc_judge_kernel, padding="same",
                                     kernel_initializer=init, name="judge")

  @property
  def downsample(self):
    return base.layers_of(self, "downsample")

  @property
  def post(self):
    return base.layers_of(self, "post")

  def build_sublayers(self):
    c = self.config
    self.analysis.build((None, None))
    channels = c.filter_bank_filters
    for layer in self.downsample:
      layer.build((None, None, channels))
      channels = layer.filters
    if c.conditioned:
      channels += c.n_mels
    for layer in self.post:
      layer.build((None, None, channels))
      channels = layer.filters
    self.judge.build((None, None, channels))

  def call(self, band, mel=None):
    x = self.analysis(band)
    features = []
    for layer in self.downsample:
      x = base.leaky_relu(layer(x), self.config)
      features.append(x)
    state = x
    if self.config.conditioned:
      x = ops.concatenate([x, ops.cast(mel, x.dtype)], axis=-1)
    for layer in self.post:
      x = base.leaky_relu(layer(x), self.config)
      features.append(x)
    return self.judge(x), features, state

  def get_config(self):
    base = super().get_config()
    base.update(band=self.band)
    return base


@keras.saving.register_keras_serializable(base.PACKAGE)
class JointJudge(base.ConfigLayer):
  """Judges all bands together.

  Call: the `n_bands` band states `[batch, frames, disc_channels]` (and the
  mel when conditioned) -> (judgement `[batch, frames, 1]`, features).
  """

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    init = base.kernel_initializer(c)
    base.assign_layers(self, "post", [
        keras.layers.Conv1D(c.joint_channels, c.disc_judge_kernel,
                            padding="same", kernel_initializer=init,
                            name=f"post_{i}")
        for i in range(c.disc_post_layers)])
    self.judge = keras.layers.Conv1D(1, c.disc_judge_kernel, padding="same",
                                     kernel_initializer=init, name="judge")

  @property
  def post(self):
    return base.layers_of(self, "post")

  def build_sublayers(self):
    c = self.config
    channels = c.n_bands * c.disc_channels + (c.n_mels if c.conditioned else 0)
    for layer in self.post:
      layer.build((None, None, channels))
      channels = layer.filters
    self.judge.build((None, None, channels))

  def call(self, states, mel=None):
    x = ops.concatenate(list(states), axis=-1)
    if self.config.conditioned:
      x = ops.concatenate([x, ops.cast(mel, x.dtype)], axis=-1)
    features = []
    for layer in self.post:
      x = base.leaky_relu(layer(x), self.config)
      features.append(x)
    return self.judge(x), features


@keras.saving.register_keras_serializable(base.PACKAGE)
class MultiscaleDiscriminator(base.ConfigModel):
  """(bands, mel) -> `n_bands + 1` pairs (judgement `[batch, frames, 1]`,
  feature maps): one per band, largest first, then the joint judge; with
  `period_discriminator` then one per `mpd_periods` on the merged bands
  (`period.PeriodDiscriminator`'s shapes).

  `bands`: `n_bands` tensors `[batch, frames * hop_length / 2**k]`; `mel`:
  `[batch, frames, n_mels]`, ignored (may be None) when not `conditioned`.
  """

  def __init__(self, config, name="multiscale_discriminator", **kwargs):
    super().__init__(name=name, **kwargs)
    self.config = base.as_config(config)
    base.assign_layers(self, "band", [
        BandDiscriminator(self.config, k, name=f"band_{k}")
        for k in range(self.config.n_bands)])
    self.joint = JointJudge(self.config, name="joint")
    self.mpd = period.maybe_build(self.config)
    # band_scaling: the judges see the reference's bands (g_k times ours).
    self.input_scales = (bands_lib.reference_band_gains(self.config)
                         if self.config.band_scaling else None)
    self.build()

  @property
  def band_discriminators(self):
    return base.layers_of(self, "band")

  def build(self, input_shape=None):
    for layer in [*self.band_discriminators, self.joint]:
      layer.build()

  def call(self, signal, mel=None, training=False
           ) -> List[Tuple[tf.Tensor, List[tf.Tensor]]]:
    signal = list(signal)
    if len(signal) != self.config.n_bands:
      raise ValueError(f"MultiscaleDiscriminator expects {self.config.n_bands}"
                       f" bands, got {len(signal)}")
    if not self.config.conditioned:
      mel = None
    elif mel is None:
      raise ValueError("a conditioned discriminator needs the mel")
    outputs, states = [], []
    for k, (layer, band) in enumerate(zip(self.band_discriminators, signal)):
      if self.input_scales is not None:
        band = band * self.input_scales[k]
      judgement, features, state = layer(band, mel)
      outputs.append((judgement, features))
      states.append(state)
    outputs.append(self.joint(states, mel))
    if self.mpd is not None:
      outputs += self.mpd(dsp.merge_bands(signal, self.config))
    return outputs
