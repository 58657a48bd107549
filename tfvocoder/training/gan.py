"""The GAN update: both networks, both optimizers, one step under a strategy.

A step is an explicit `strategy.run` inside a `tf.function` (DESIGN.md
records `keras.Model.fit` with two optimizers failing on 2 replicas).

Loss scaling across replicas is done one way: every loss function returns a
per-example loss `[per_replica_batch]`, and each replica takes
`tf.nn.compute_average_loss(per_example, global_batch_size)`. Gradients are
summed across replicas by the optimizer's all-reduce, so they equal the
gradient of the mean over the global batch (tested against one replica).

A joint step runs the generator forward once (as HiFi-GAN does): the
discriminator updates on that signal with its gradient stopped, then the
generator's losses judge the same signal with the updated discriminator,
on the tape that recorded the generator's forward pass. The result equals
a discriminator step followed by a generator step on the same batch (the
generator's weights do not change in between), one forward pass cheaper.
The first `warmup_steps` steps train the generator alone on the spectral
losses; `lr_decay` decays both learning rates by that factor every
`lr_decay_steps` steps (continuously); `jit_compile` compiles each
replica's update with XLA; `mixed_bfloat16` builds both networks under
Keras's mixed_bfloat16 policy (bfloat16 arithmetic, float32 weights, no
loss scaling; their outputs, the losses and the optimizers stay float32).
"""

from typing import Dict, Optional

import keras
import tensorflow as tf

from tfvocoder import dsp, models
from tfvocoder.training import losses
from tfvocoder.config import VocoderConfig


class GANTrainer(tf.Module):
  """Generator, discriminator, their optimizers and the step counter.

  Build it inside nothing: it enters `strategy.scope()` itself.

  Raises:
    ValueError: `jit_compile` with more than one replica (the optimizers'
      cross-replica all-reduce cannot run inside an XLA cluster).
  """

  def __init__(self, config: VocoderConfig, strategy: tf.distribute.Strategy,
               global_batch_size: int):
    super().__init__(name="gan_trainer")
    self.config = config
    self.strategy = strategy
    self.global_batch_size = int(global_batch_size)
    self.d_adversarial, self.g_adversarial = losses.ADVERSARIAL[
        config.resolved_adversarial_loss]
    if config.jit_compile and strategy.num_replicas_in_sync > 1:
      raise ValueError(
          f"jit_compile=True needs one replica, got "
          f"{strategy.num_replicas_in_sync} (the optimizers' cross-replica "
          "all-reduce cannot be XLA-compiled); set jit_compile=False")
    with strategy.scope():
      self._build_networks()
      self.g_optimizer = self._optimizer("generator_adam")
      self.d_optimizer = self._optimizer("discriminator_adam")
      self.g_optimizer.build(self.generator.trainable_variables)
      self.d_optimizer.build(self.discriminator.trainable_variables)
      self.step = tf.Variable(
          0, dtype=tf.int64, trainable=False, name="step",
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    self.target_key = self.generator.target_key
    self._replica_fns = {
        name: tf.function(fn, jit_compile=True) if config.jit_compile else fn
        for name, fn in (("joint", self._joint_update),
                         ("d", self._d_update), ("g", self._g_update),
                         ("warmup", self._warmup_update))}

  # --- construction -------------------------------------------------------
  def _optimizer(self, name):
    optimizer = keras.optimizers.Adam(
        learning_rate=self.config.learning_rate, beta_1=self.config.beta_1,
        beta_2=self.config.beta_2, name=name)
    if self.config.mixed_precision:
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer

  def _build_networks(self):
    """Both networks, built (`mixed_bfloat16`: under that Keras policy,
    the global policy restored after)."""
    config = self.config
    previous = keras.mixed_precision.global_policy()
    if config.mixed_bfloat16:
      keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
      self.generator = models.build_generator(config)
      self.discriminator = models.build_discriminator(config)
      mel = tf.zeros([1, config.frames_per_window, config.n_mels])
      self.discriminator(self.generator(mel), mel)
    finally:
      keras.mixed_precision.set_global_policy(previous)

  # --- learning rate ----------------------------------------------------------
  def learning_rate_at(self, step, base: Optional[float] = None
                       ) -> tf.Tensor:
    """`base * lr_decay ** (step / lr_decay_steps)`: float32 scalar.

    Args:
      step: the step (int or int64 tensor) about to be run.
      base: the step-0 learning rate; None: the config's `learning_rate`.
    """
    config = self.config
    base = config.learning_rate if base is None else base
    exponent = tf.cast(step, tf.float64) / config.lr_decay_steps
    return tf.cast(base * tf.pow(tf.constant(config.lr_decay, tf.float64),
                                 exponent), tf.float32)

  def set_learning_rates(self, base: Optional[float] = None) -> None:
    """Both optimizers' learning rate := `learning_rate_at(self.step, base)`
    (a step sets it before its updates; `checkpoints.resume` on restore)."""
    rate = self.learning_rate_at(self.step, base)
    for optimizer in (self.g_optimizer, self.d_optimizer):
      optimizer.learning_rate.assign(rate)

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

  def generate(self, batch):
    """The generator's training-mode output for `batch["mel"]`, float32
    (bands or audio, the shape of `batch[target_key]`)."""
    return self._as_float32(self.generator(batch["mel"], training=True))

  def discriminator_losses(self, batch, fake=None) -> Dict[str, tf.Tensor]:
    """{"d_loss"}: this replica's share of the global-batch mean (scalar).

    Args:
      batch: one replica's {"mel", "audio", "bands"} batch (the pipeline's).
      fake: `generate(batch)` if already run (its gradient is stopped
        here); None runs the generator.
    """
    mel, real = batch["mel"], self._real(batch)
    fake = self.generate(batch) if fake is None else fake
    fake = tf.nest.map_structure(tf.stop_gradient, fake)
    real_out = self.discriminator(real, mel, training=True)
    fake_out = self.discriminator(fake, mel, training=True)
    real_out, fake_out = self._as_float32_outputs(real_out, fake_out)
    return {"d_loss": self._scale(self.d_adversarial(real_out, fake_out))}

  def generator_losses(self, batch, fake=None, adversarial: bool = True
                       ) -> Dict[str, tf.Tensor]:
    """"g_loss" (weighted total) and its terms, as replica shares (scalars).

    Args:
      batch: one replica's {"mel", "audio", "bands"} batch (the pipeline's).
      fake: `generate(batch)` recorded on the caller's tape; None runs the
        generator.
      adversarial: False leaves out the adversarial and feature-matching
        terms (the warm-up: the spectral losses alone).
    """
    config = self.config
    fake = self.generate(batch) if fake is None else fake
    terms, total = {}, 0.0
    if adversarial:
      terms = self._adversarial_terms(batch, fake)
      total = terms["g_adversarial"] + (config.feature_matching_weight *
                                        terms["g_feature_matching"])
    weights = {"g_stft": config.stft_loss_weight,
               "g_mel_l1": config.mel_loss_weight}
    for name, value in self._spectral_terms(batch, fake).items():
      terms[name] = value
      total += weights[name] * value
    terms["g_loss"] = total
    return terms

  def _adversarial_terms(self, batch, fake) -> Dict[str, tf.Tensor]:
    """{"g_adversarial", "g_feature_matching"}: `fake` judged by the
    discriminator as it is now, against the real signal's features."""
    mel, real = batch["mel"], self._real(batch)
    fake_out = self.discriminator(fake, mel, training=True)
    real_out = self.discriminator(real, mel, training=True)
    real_out, fake_out = self._as_float32_outputs(real_out, fake_out)
    return {"g_adversarial": self._scale(self.g_adversarial(fake_out)),
            "g_feature_matching": self._scale(
                losses.feature_matching(real_out, fake_out))}

  def _spectral_terms(self, batch, fake) -> Dict[str, tf.Tensor]:
    """{"g_stft", "g_mel_l1"}, those with a non-zero weight (unweighted)."""
    config = self.config
    if not (config.stft_loss_weight or config.mel_loss_weight):
      return {}
    fake_audio = self._audio(fake)
    terms = {}
    if config.stft_loss_weight:
      terms["g_stft"] = self._scale(
          losses.multi_resolution_stft(batch["audio"], fake_audio))
    if config.mel_loss_weight:
      terms["g_mel_l1"] = self._scale(
          losses.mel_l1(batch["mel"], fake_audio, config))
    return terms

  @staticmethod
  def _as_float32_outputs(*outputs):
    return [[(tf.cast(j, tf.float32), [tf.cast(f, tf.float32) for f in maps])
             for j, maps in out] for out in outputs]

  # --- updates (replica context) ----------------------------------------------
  @staticmethod
  def _scaled(loss, optimizer):
    """`loss` as the optimizer differentiates it (loss-scaled under mixed
    precision); call it on the tape."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
      return optimizer.scale_loss(loss)
    return loss

  @staticmethod
  def _apply(tape, loss, network, optimizer):
    variables = network.trainable_variables
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))

  def _d_update(self, batch, fake=None):
    """Discriminator update on `fake` (None: a fresh generator forward)."""
    with tf.GradientTape() as tape:
      terms = self.discriminator_losses(batch, fake)
      loss = self._scaled(terms["d_loss"], self.d_optimizer)
    self._apply(tape, loss, self.discriminator, self.d_optimizer)
    return terms

  def _g_update(self, batch, adversarial=True):
    with tf.GradientTape() as tape:
      terms = self.generator_losses(batch, adversarial=adversarial)
      loss = self._scaled(terms["g_loss"], self.g_optimizer)
    self._apply(tape, loss, self.generator, self.g_optimizer)
    return terms

  def _warmup_update(self, batch):
    return self._g_update(batch, adversarial=False)

  def _joint_update(self, batch):
    """D update, then G update: one generator forward, on the G tape."""
    with tf.GradientTape() as tape:
      fake = self.generate(batch)
      with tape.stop_recording():
        terms = self._d_update(batch, fake)
      terms.update(self.generator_losses(batch, fake))
      loss = self._scaled(terms["g_loss"], self.g_optimizer)
    self._apply(tape, loss, self.generator, self.g_optimizer)
    return terms

  # --- steps (cross-replica, compiled) ----------------------------------------
  def _run(self, name, iterator):
    batch = next(iterator)
    if self.config.lr_decay != 1.0:
      self.set_learning_rates()
    per_replica = self.strategy.run(self._replica_fns[name], args=(batch,))
    self.step.assign_add(1)
    return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()}

  @tf.function
  def train_step(self, iterator):
    """Discriminator update then generator update on one global batch,
    one generator forward (the module docstring)."""
    return self._run("joint", iterator)

  @tf.function
  def discriminator_step(self, iterator):
    """Discriminator update only (the reference's alternation)."""
    return self._run("d", iterator)

  @tf.function
  def generator_step(self, iterator):
    """Generator update only (the reference's alternation)."""
    return self._run("g", iterator)

  @tf.function
  def warmup_step(self, iterator):
    """Generator update on the spectral losses alone (no discriminator)."""
    return self._run("warmup", iterator)

  def step_for(self, step: int):
    """The compiled step to run at `step`: the warm-up's for the first
    `warmup_steps`, then by `alternate_updates`."""
    if step < self.config.warmup_steps:
      return self.warmup_step
    if not self.config.alternate_updates:
      return self.train_step
    return self.discriminator_step if step % 2 == 0 else self.generator_step
