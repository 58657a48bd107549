"""geometry: receptive fields and multiply-adds of 1-D convolution chains."""

import keras
import numpy as np
import tensorflow as tf

from tfvocoder.config import VocoderConfig
from tfvocoder.models import MelGANGenerator, MultiscaleGenerator, geometry
from tfvocoder.models import layers


def test_input_interval_is_the_gradient_support():
  keras.utils.set_random_seed(0)
  dilated = keras.layers.Conv1D(3, 5, dilation_rate=2, padding="same")
  up = keras.layers.Conv1DTranspose(3, 8, strides=4, padding="same")
  down = keras.layers.Conv1D(2, 7, strides=2, padding="same")
  pad = layers.ReflectionPad1D(3)
  last = layers.WeightNormalization(keras.layers.Conv1D(1, 7))
  chain = [dilated, up, down, pad, last]
  spans = [geometry.conv_span(dilated), geometry.conv_span(up),
           geometry.conv_span(down), geometry.conv_span(last, pad_left=3)]
  x = tf.random.normal([1, 64, 2])
  for n in range(56, 72):   # away from the borders (128 outputs)
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = x
      for layer in chain:
        y = layer(y)
      out = y[0, n, 0]
    assert y.shape[1] == 128
    # Oracle: the inputs the output's gradient reaches.
    rows = np.flatnonzero(np.any(tape.gradient(out, x).numpy()[0] != 0, 1))
    assert geometry.input_interval(spans, n, n) == (rows.min(), rows.max()), n
  # Per output frame of 1 sample, the widest reach over frames.
  lo, hi = geometry.input_interval(spans, 0, 0)
  assert geometry.receptive_field_frames([(spans, 1)]) == max(-lo, hi)


def test_multiply_adds_count_kernel_applications():
  grouped = layers.GroupedConv1D(8, 5, strides=2, groups=2)
  grouped.build((None, None, 4))                  # kernel [5, 2, 8]
  assert geometry.multiply_adds(grouped, 100) == (50 * 5 * 2 * 8, 50)
  up = layers.WeightNormalization(keras.layers.Conv1DTranspose(3, 8, 4))
  up.build((None, None, 2))                       # kernel [8, 3, 2]
  assert geometry.multiply_adds(up, 100) == (100 * 8 * 3 * 2, 400)
  bank = layers.FilterBankConv(8000.0, 100.0, 1000.0, n_filters=6, taps=10)
  assert geometry.multiply_adds(bank, 100) == (100 * 6 * 10, 100)


def test_multiply_adds_reference_configs():
  reference = VocoderConfig()
  frames_per_second = reference.frame_rate
  # Multiscale, per frame and band with factors F: embedding 7*128*128 at
  # the frame rate; each transposed conv applies its 2f*128*128 kernel once
  # per input sample; the bank 128*128 taps per band sample.
  c = 128 * 128
  per_frame = 0
  for factors in [(4, 4, 4, 4), (4, 4, 4, 2), (4, 4, 2, 2), (4, 2, 2, 2),
                  (2, 2, 2, 2)]:
    per_frame += 7 * c
    length = 1
    for f in factors:
      per_frame += length * 2 * f * c
      length *= f
    per_frame += length * c
  generator = MultiscaleGenerator(VocoderConfig())
  assert generator.multiply_adds_per_frame() == per_frame == 33_538_048
  # DESIGN.md: "about 2.9 GMAC (5.8 GFLOP) per second of audio".
  assert 2.85e9 < per_frame * frames_per_second < 2.95e9
  # MelGAN: conv_in, then per stage (length L, channels C) the transposed
  # conv (input length * 2r * C_in * C) and 3 blocks of k3 + k1 + k1.
  per_frame = 7 * 128 * 512
  length, channels = 1, 512
  for r in (8, 8, 2, 2):
    per_frame += length * 2 * r * channels * (channels // 2)
    length, channels = length * r, channels // 2
    per_frame += 3 * length * (3 + 1 + 1) * channels * channels
  per_frame += length * 7 * 32
  melgan = MelGANGenerator(VocoderConfig(model="melgan"))
  assert melgan.multiply_adds_per_frame() == per_frame == 45_342_720
  assert 3.85e9 < per_frame * frames_per_second < 3.95e9   # "about 3.9"
