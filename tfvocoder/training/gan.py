"""The GAN update: both networks, both optimizers, one step under a strategy.

A step is an explicit `strategy.run` inside a `tf.function` (DESIGN.md
records `keras.Model.fit` with two optimizers failing on 2 replicas).

Loss scaling across replicas is done one way: every loss function returns a
per-example loss `[per_replica_batch]`, and each replica takes
`tf.nn.compute_average_loss(per_example, global_batch_size)`. Gradients are
summed across replicas by the optimizer's all-reduce, so they equal the
gradient of the mean over the global batch (tested against one replica).
"""

from typing import Dict

import keras
import tensorflow as tf

from tfvocoder import dsp, models
from tfvocoder.training import losses
from tfvocoder.config import VocoderConfig


class GANTrainer(tf.Module):
  """Generator, discriminator, their optimizers and the step counter.

  Build it inside nothing: it enters `strategy.scope()` itself.
  """

  def __init__(self, config: VocoderConfig, strategy: tf.distribute.Strategy,
               global_batch_size: int):
    super().__init__(name="gan_trainer")
    self.config = config
    self.strategy = strategy
    self.global_batch_size = int(global_batch_size)
    self.d_adversarial, self.g_adversarial = losses.ADVERSARIAL[
        config.resolved_adversarial_loss]
    with strategy.scope():
      self.generator = models.build_generator(config)
      self.discriminator = models.build_discriminator(config)
      self._build_networks()
      self.g_optimizer = self._optimizer("generator_adam")
      self.d_optimizer = self._optimizer("discriminator_adam")
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      self.step = tf.Variable(
          0, dtype=tf.int64, trainable=False, name="step",
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.target_key = self.generator.target_key

  # --- construction -------------------------------------------------------
  def _optimizer(self, name):
    optimizer = keras.optimizers.Adam(
        learning_rate=self.config.learning_rate, beta_1=self.config.beta_1,
        beta_2=self.config.beta_2, name=name)
    if self.config.mixed_precision:
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer

  def _build_networks(self):
    frames = self.config.frames_per_window
    mel = tf.zeros([1, frames, self.config.n_mels])
    fake = self.generator(mel)
    self.discriminator(fake, mel)

  # --- losses (replica context) ----------------------------------------------
  def _real(self, batch):
    real = batch[self.target_key]
    return list(real) if isinstance(real, (tuple, list)) else real

  def _as_float32(self, signal):
    if isinstance(signal, (tuple, list)):
      return [tf.cast(s, tf.float32) for s in signal]
    return tf.cast(signal, tf.float32)

  def _audio(self, signal):
    if self.target_key == "bands":
      return dsp.merge_bands(signal, self.config)
    return signal

  def _scale(self, per_example):
    return tf.nn.compute_average_loss(
        per_example, global_batch_size=self.global_batch_size)

  def discriminator_losses(self, batch) -> Dict[str, tf.Tensor]:
    """{"d_loss"}: this replica's share of the global-batch mean (scalar).

    Args:
      batch: one replica's {"mel", "audio", "bands"} batch (the pipeline's).
    """
    mel, real = batch["mel"], self._real(batch)
    fake = self._as_float32(self.generator(mel, training=True))
    fake = tf.nest.map_structure(tf.stop_gradient, fake)
    real_out = self.discriminator(real, mel, training=True)
    fake_out = self.discriminator(fake, mel, training=True)
    real_out, fake_out = self._as_float32_outputs(real_out, fake_out)
    return {"d_loss": self._scale(self.d_adversarial(real_out, fake_out))}

  def generator_losses(self, batch) -> Dict[str, tf.Tensor]:
    """"g_loss" (weighted total) and its terms, as replica shares (scalars).

    Args:
      batch: one replica's {"mel", "audio", "bands"} batch (the pipeline's).
    """
    config = self.config
    mel, real = batch["mel"], self._real(batch)
    fake = self._as_float32(self.generator(mel, training=True))
    fake_out = self.discriminator(fake, mel, training=True)
    real_out = self.discriminator(real, mel, training=True)
    real_out, fake_out = self._as_float32_outputs(real_out, fake_out)
    terms = {
        "g_adversarial": self._scale(self.g_adversarial(fake_out)),
        "g_feature_matching": self._scale(
            losses.feature_matching(real_out, fake_out)),
    }
    total = terms["g_adversarial"] + (config.feature_matching_weight *
                                      terms["g_feature_matching"])
    if config.stft_loss_weight or config.mel_loss_weight:
      fake_audio = self._audio(fake)
      if config.stft_loss_weight:
        terms["g_stft"] = self._scale(
            losses.multi_resolution_stft(batch["audio"], fake_audio))
        total += config.stft_loss_weight * terms["g_stft"]
      if config.mel_loss_weight:
        terms["g_mel_l1"] = self._scale(losses.mel_l1(mel, fake_audio, config))
        total += config.mel_loss_weight * terms["g_mel_l1"]
    terms["g_loss"] = total
    return terms

  @staticmethod
  def _as_float32_outputs(*outputs):
    return [[(tf.cast(j, tf.float32), [tf.cast(f, tf.float32) for f in maps])
             for j, maps in out] for out in outputs]

  # --- updates (replica context) ----------------------------------------------
  def _update(self, loss_fn, network, optimizer, total_key, batch):
    with tf.GradientTape() as tape:
      terms = loss_fn(batch)
      loss = terms[total_key]
      if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        loss = optimizer.scale_loss(loss)
    variables = network.trainable_variables
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return terms

  def _d_update(self, batch):
    return self._update(self.discriminator_losses, self.discriminator,
                        self.d_optimizer, "d_loss", batch)

  def _g_update(self, batch):
    return self._update(self.generator_losses, self.generator,
                        self.g_optimizer, "g_loss", batch)

  def _joint_update(self, batch):
    terms = self._d_update(batch)
    terms.update(self._g_update(batch))
    return terms

  # --- steps (cross-replica, compiled) ----------------------------------------
  def _run(self, replica_fn, iterator):
    batch = next(iterator)
    per_replica = self.strategy.run(replica_fn, args=(batch,))
    self.step.assign_add(1)
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()}

  @tf.function
  def train_step(self, iterator):
    """Discriminator update then generator update on one global batch."""
    return self._run(self._joint_update, iterator)

  @tf.function
  def discriminator_step(self, iterator):
    """Discriminator update only (the reference's alternation)."""
    return self._run(self._d_update, iterator)

  @tf.function
  def generator_step(self, iterator):
    """Generator update only (the reference's alternation)."""
    return self._run(self._g_update, iterator)

  def step_for(self, step: int):
    """The compiled step to run at `step` given `alternate_updates`."""
    if not self.config.alternate_updates:
      return self.train_step
    return self.discriminator_step if step % 2 == 0 else self.generator_step
