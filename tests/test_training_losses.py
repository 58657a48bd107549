"""Losses against hand-computed values."""

import numpy as np
import tensorflow as tf

from tfvocoder import dsp
from tfvocoder.training import losses
from tfvocoder.config import tiny_config


def _outputs(judgements, features):
  return [(tf.constant(j, tf.float32), [tf.constant(f, tf.float32) for f in fs])
          for j, fs in zip(judgements, features)]


def test_least_squares():
  # D: sum over subs of mean (r-1)^2 + mean f^2, per example.
  # example 0: sub0 r=1 f=0 -> 0 + 0; sub1 r=2 f=1 -> 1 + 1   => 2
  # example 1: sub0 r=.5 f=-1 -> .25 + 1; sub1 r=0 f=3 -> 1 + 9 => 11.25
  real = _outputs([[[1.0], [0.5]], [[2.0], [0.0]]], [[], []])
  fake = _outputs([[[0.0], [-1.0]], [[1.0], [3.0]]], [[], []])
  np.testing.assert_allclose(losses.least_squares_discriminator(real, fake),
                             [2.0, 11.25])
  # G: sum of mean (f-1)^2: ex0: 1 + 0 = 1; ex1: 4 + 4 = 8
  np.testing.assert_allclose(losses.least_squares_generator(fake), [1.0, 8.0])


def test_hinge():
  real = _outputs([[[0.5], [2.0]]], [[]])
  fake = _outputs([[[0.5], [-3.0]]], [[]])
  # D: relu(1-r) + relu(1+f): ex0 .5 + 1.5 = 2; ex1 0 + 0 = 0
  np.testing.assert_allclose(losses.hinge_discriminator(real, fake), [2.0, 0])
  np.testing.assert_allclose(losses.hinge_generator(fake), [-0.5, 3.0])


def test_feature_matching_weights_groups_and_layers():
  # batch of 1; group 0 has 2 layers, group 1 has 1 layer.
  real = _outputs([[0.0], [0.0]], [[[[1.0, 1.0]], [[2.0, 4.0]]], [[[0.0]]]])
  fake = _outputs([[0.0], [0.0]], [[[[0.0, 1.0]], [[2.0, 0.0]]], [[[3.0]]]])
  # group 0: (1/2)(1/2)(mean|[1,0]| = .5) + (1/2)(1/2)(mean [0,4] = 2)
  # group 1: (1/2)(1/1)(3)
  expected = 0.25 * 0.5 + 0.25 * 2.0 + 0.5 * 3.0
  np.testing.assert_allclose(losses.feature_matching(real, fake), [expected],
                             rtol=1e-6)


def test_feature_matching_gradient_only_reaches_fake():
  real_map = tf.Variable([[1.0, 2.0]])
  fake_map = tf.Variable([[0.0, 0.0]])
  with tf.GradientTape(persistent=True) as tape:
    loss = losses.feature_matching([(tf.zeros([1]), [real_map])],
                                   [(tf.zeros([1]), [fake_map])])
  assert tape.gradient(loss, real_map) is None
  np.testing.assert_allclose(tape.gradient(loss, fake_map), [[-0.5, -0.5]])


def test_multi_resolution_stft():
  rng = np.random.default_rng(0)
  real = rng.standard_normal((2, 4096)).astype(np.float32)
  assert np.allclose(losses.multi_resolution_stft(real, real), 0, atol=1e-5)
  # Scaling by 2: SC = ||S - 2S|| / ||S|| = 1, log L1 = log 2.
  value = losses.multi_resolution_stft(real, 2 * real).numpy()
  np.testing.assert_allclose(value, 1 + np.log(2), rtol=1e-3)


def test_mel_l1_matches_log_mel_difference():
  config = tiny_config()
  rng = np.random.default_rng(1)
  real = rng.uniform(-0.5, 0.5, (2, config.window)).astype(np.float32)
  fake = 0.5 * real
  mel = dsp.log_mel(real, config)
  expected = np.mean(np.abs(mel - dsp.log_mel(fake, config)), axis=(1, 2))
  np.testing.assert_allclose(losses.mel_l1(mel, fake, config), expected,
                             rtol=1e-5)
  # Halving the amplitude moves every unclamped log-mel by log10(2).
  assert np.all(np.abs(expected - np.log10(2)) < 0.05)
