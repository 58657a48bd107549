"""The MelGAN baseline (Kumar et al. 2019), weight-normalised, in Keras.

Generator: mel `[batch, frames, n_mels]` -> reflect-pad 3 + WN-Conv1D(ngf *
2**len(ratios), 7) -> for each ratio r: LeakyReLU, WN-Conv1DTranspose
(channels halved, kernel 2r, stride r, same), one residual block per
dilation d (LeakyReLU, reflect-pad d, WN-Conv k3 dilation d, LeakyReLU,
WN-Conv k1, plus a WN-Conv k1 shortcut of the block input) -> LeakyReLU,
reflect-pad 3, WN-Conv1D(1, 7), tanh -> audio `[batch, frames * hop]`.

Discriminator: `melgan_disc_scales` identical judges, the audio average-pooled
(pool 4, stride 2, padding excluded from the mean) between scales. Each:
reflect-pad 7 + WN-Conv(ndf, 15), then per downsampling factor s a
WN-Conv(kernel 10s + 1, stride s, zero padding 5s, groups in / 4) with the
channels multiplied by s up to `melgan_disc_max_channels`, a WN-Conv k5 and
a WN-Conv(1, k3) judge; LeakyReLU after every layer but the judge. With
`melgan_disc_conditioned` the (equally pooled) mel is concatenated before the
k5 conv, where the time axis is back at the mel frame rate.

Initialisation follows what the reference MelGAN effectively runs with,
PyTorch's defaults (`layers.reference_initializers`), not `init_stddev`.
Levers: `activation="snake"` makes every generator LeakyReLU a Snake
(`activations`); `period_discriminator` adds HiFi-GAN's period judges
(`period`) after the scales.
"""

import math
from typing import List, Tuple

import keras
import tensorflow as tf
from keras import ops

from tfvocoder.models import activations, base, geometry, layers, period

_IO_KERNEL = 7          # generator input / output convolutions
_RES_KERNEL = 3         # residual block dilated convolution
_DISC_IN_KERNEL = 15    # first discriminator convolution
_DISC_LAST_KERNEL = 5   # discriminator convolution before the judge
_JUDGE_KERNEL = 3
_POOL = 4               # average pool between scales (stride 2)


# ---------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(base.PACKAGE)
class ResidualBlock(base.ConfigLayer):
  """`[batch, t, channels]` -> same shape; dilated k3 branch + k1 shortcut."""

  def __init__(self, config, channels, dilation, **kwargs):
    super().__init__(config, **kwargs)
    self.channels = int(channels)
    self.dilation = int(dilation)
    self.pad = layers.ReflectionPad1D(self.dilation, name="pad")
    self.conv = layers.wn_conv(self.channels, self.channels, _RES_KERNEL,
                               dilation_rate=self.dilation, name="conv")
    self.mix = layers.wn_conv(self.channels, self.channels, 1, name="mix")
    self.shortcut = layers.wn_conv(self.channels, self.channels, 1,
                                   name="shortcut")
    base.assign_layers(self, "act", activations.activation_layers(
        self.config, [self.channels] * 2, "act"))

  def build_sublayers(self):
    shape = (None, None, self.channels)
    for layer in (self.conv, self.mix, self.shortcut):
      layer.build(shape)

  def call(self, x):
    act_conv, act_mix = activations.activation_fns(self, "act", 2, self.config)
    y = self.conv(self.pad(act_conv(x)))
    y = self.mix(act_mix(y))
    return self.shortcut(x) + y

  def multiply_adds(self, length):
    total = 0.0
    for layer in (self.conv, self.mix, self.shortcut):
      total += geometry.multiply_adds(layer, length)[0]
    return total, length

  def get_config(self):
    base = super().get_config()
    base.update(channels=self.channels, dilation=self.dilation)
    return base


@keras.saving.register_keras_serializable(base.PACKAGE)
class MelGANGenerator(base.ConfigModel):
  """mel `[batch, frames, n_mels]` -> float32 audio `[batch, frames * hop]`
  in [-1, 1] at `sample_rate` Hz; see the module doc."""

  target_key = "audio"

  def __init__(self, config, name="melgan_generator", **kwargs):
    super().__init__(name=name, **kwargs)
    c = self.config = base.as_config(config)
    ratios = c.melgan_ratios
    self.pad_in = layers.ReflectionPad1D(_IO_KERNEL // 2, name="pad_in")
    channels = c.melgan_ngf * 2 ** len(ratios)
    self.conv_in = layers.wn_conv(c.n_mels, channels, _IO_KERNEL,
                                  name="conv_in")
    # The activations before each upsampling and before conv_out.
    base.assign_layers(self, "act", activations.activation_layers(
        c, [channels // 2 ** i for i in range(len(ratios) + 1)], "act"))
    for i, r in enumerate(ratios):
      in_channels, channels = channels, channels // 2
      setattr(self, f"upsample_{i}", layers.wn_conv(
          in_channels, channels, 2 * r, transpose=True, strides=r,
          padding="same", name=f"upsample_{i}"))
      base.assign_layers(self, f"residual_{i}", [
          ResidualBlock(c, channels, d, name=f"residual_{i}_{j}")
          for j, d in enumerate(c.melgan_residual_dilations)])
    self.pad_out = layers.ReflectionPad1D(_IO_KERNEL // 2, name="pad_out")
    self.conv_out = layers.wn_conv(channels, 1, _IO_KERNEL, name="conv_out")
    self.build()

  @property
  def upsample(self):
    return base.layers_of(self, "upsample")

  @property
  def blocks(self):
    """Per upsampling stage, its residual blocks."""
    return [base.layers_of(self, f"residual_{i}")
            for i in range(len(self.config.melgan_ratios))]

  def build(self, input_shape=None):
    c = self.config
    self.conv_in.build((None, None, c.n_mels))
    channels = self.conv_in.layer.filters
    for up, blocks in zip(self.upsample, self.blocks):
      up.build((None, None, channels))
      channels = up.layer.filters
      for block in blocks:
        block.build()
    self.conv_out.build((None, None, channels))

  def call(self, mel, training=False):
    acts = activations.activation_fns(
        self, "act", len(self.upsample) + 1, self.config)
    x = self.conv_in(self.pad_in(mel))
    for up, blocks, act in zip(self.upsample, self.blocks, acts):
      x = up(act(x))
      for block in blocks:
        x = block(x)
    x = self.conv_out(self.pad_out(acts[-1](x)))
    return ops.cast(ops.tanh(x)[..., 0], "float32")

  def generate_audio(self, mel):
    """mel `[batch, frames, n_mels]` -> float32 `[batch, frames * hop]`."""
    return self(mel, training=False)

  @property
  def receptive_field_frames(self) -> int:
    """Mel frames on each side that influence an output sample."""
    spans = [geometry.conv_span(self.conv_in, pad_left=_IO_KERNEL // 2)]
    for up, blocks in zip(self.upsample, self.blocks):
      spans.append(geometry.conv_span(up))
      spans += [geometry.conv_span(b.conv, pad_left=b.dilation) for b in blocks]
    spans.append(geometry.conv_span(self.conv_out, pad_left=_IO_KERNEL // 2))
    return geometry.receptive_field_frames([(spans, self.config.hop_length)])

  def multiply_adds_per_frame(self) -> float:
    total, length = geometry.multiply_adds(self.conv_in, 1.0)
    for up, blocks in zip(self.upsample, self.blocks):
      macs, length = geometry.multiply_adds(up, length)
      total += macs
      for block in blocks:
        total += block.multiply_adds(length)[0]
    return total + geometry.multiply_adds(self.conv_out, length)[0]


# ---------------------------------------------------------------------------
# Discriminator
# ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(base.PACKAGE)
class ScaleDiscriminator(base.ConfigLayer):
  """One scale's judge.

  Call: audio `[batch, t, 1]` (and the mel pooled alike, `[batch, t / hop,
  n_mels]`, when conditioned) -> (judgement `[batch, t / prod(downsample),
  1]`, features: `len(melgan_disc_downsample) + 2` activations).
  """

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    self.pad_in = layers.ReflectionPad1D(_DISC_IN_KERNEL // 2, name="pad_in")
    self.conv_in = layers.wn_conv(1, c.melgan_ndf, _DISC_IN_KERNEL,
                                  name="conv_in")
    channels = c.melgan_ndf
    for i, s in enumerate(c.melgan_disc_downsample):
      in_channels = channels
      channels = min(channels * s, c.melgan_disc_max_channels)
      setattr(self, f"pad_{i}", keras.layers.ZeroPadding1D(5 * s,
                                                           name=f"pad_{i}"))
      setattr(self, f"downsample_{i}", layers.wn_conv(
          in_channels, channels, 10 * s + 1, strides=s,
          groups=max(in_channels // 4, 1), name=f"downsample_{i}"))
    last = min(channels * 2, c.melgan_disc_max_channels)
    if c.melgan_disc_conditioned:
      channels += c.n_mels
    self.conv_last = layers.wn_conv(channels, last, _DISC_LAST_KERNEL,
                                    padding="same", name="conv_last")
    self.judge = layers.wn_conv(last, 1, _JUDGE_KERNEL, padding="same",
                                name="judge")

  @property
  def downsample(self):
    return base.layers_of(self, "downsample")

  @property
  def zero_pads(self):
    return base.layers_of(self, "pad")

  def build_sublayers(self):
    c = self.config
    self.conv_in.build((None, None, 1))
    channels = c.melgan_ndf
    for layer in self.downsample:
      layer.build((None, None, channels))
      channels = layer.layer.filters
    if c.melgan_disc_conditioned:
      channels += c.n_mels
    self.conv_last.build((None, None, channels))
    self.judge.build((None, None, self.conv_last.layer.filters))

  def call(self, audio, mel=None):
    x = base.leaky_relu(self.conv_in(self.pad_in(audio)), self.config)
    features = [x]
    for pad, layer in zip(self.zero_pads, self.downsample):
      x = base.leaky_relu(layer(pad(x)), self.config)
      features.append(x)
    if self.config.melgan_disc_conditioned:
      x = ops.concatenate([x, ops.cast(mel, x.dtype)], axis=-1)
    x = base.leaky_relu(self.conv_last(x), self.config)
    features.append(x)
    return self.judge(x), features


@keras.saving.register_keras_serializable(base.PACKAGE)
class MelGANDiscriminator(base.ConfigModel):
  """(audio `[batch, samples]`, mel) -> `melgan_disc_scales` pairs
  (judgement `[batch, samples / 2**s / prod(downsample), 1]`, feature maps),
  full rate first, then one per period with `period_discriminator`
  (`period`). The mel is ignored unless `melgan_disc_conditioned`."""

  def __init__(self, config, name="melgan_discriminator", **kwargs):
    super().__init__(name=name, **kwargs)
    c = self.config = base.as_config(config)
    if c.melgan_disc_conditioned and (
        math.prod(c.melgan_disc_downsample) != c.hop_length):
      raise ValueError(
          f"melgan_disc_conditioned needs melgan_disc_downsample="
          f"{c.melgan_disc_downsample} to multiply to hop_length="
          f"{c.hop_length} (the mel joins at the frame rate)")
    base.assign_layers(self, "scale", [
        ScaleDiscriminator(c, name=f"scale_{i}")
        for i in range(c.melgan_disc_scales)])
    self.pool = keras.layers.AveragePooling1D(_POOL, strides=2, padding="same",
                                              name="pool")
    self.mpd = period.maybe_build(c)
    self.build()

  @property
  def scales(self):
    return base.layers_of(self, "scale")

  def build(self, input_shape=None):
    for scale in self.scales:
      scale.build()

  def call(self, signal, mel=None, training=False
           ) -> List[Tuple[tf.Tensor, List[tf.Tensor]]]:
    conditioned = self.config.melgan_disc_conditioned
    if conditioned and mel is None:
      raise ValueError("a conditioned discriminator needs the mel")
    x = signal[..., None]
    outputs = []
    for i, scale in enumerate(self.scales):
      if i:
        x = self.pool(x)
        mel = self.pool(mel) if conditioned else None
      outputs.append(scale(x, mel if conditioned else None))
    if self.mpd is not None:
      outputs += self.mpd(signal)
    return outputs
