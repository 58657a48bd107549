"""GANTrainer: replica loss scaling gives the one-replica gradients; one
generator forward per joint step; warm-up, learning-rate decay, mixed
precision (float16, bfloat16)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import training_fixtures
from tfvocoder import dsp
from tfvocoder.config import tiny_config
from tfvocoder.training import checkpoints, losses
from tfvocoder.training.gan import GANTrainer


def _iterator(strategy, batch):
  dataset = tf.data.Dataset.from_tensors(batch).repeat()
  if strategy.num_replicas_in_sync > 1:
    # A batch op the strategy can split into per-replica halves.
    dataset = dataset.unbatch().batch(
        int(batch["mel"].shape[0]), drop_remainder=True)
    return iter(strategy.experimental_distribute_dataset(dataset))
  return iter(dataset)


def _gradients(trainer, iterator):
  """Global-batch gradients of both networks without applying them.

  Returns (d_grads, g_grads), each summed over replicas the way the
  optimizers' all-reduce would.
  """
  strategy = trainer.strategy

  def replica_fn(batch):
    with tf.GradientTape() as tape:
      d_loss = trainer.discriminator_losses(batch)["d_loss"]
    d_grads = tape.gradient(d_loss, trainer.discriminator.trainable_variables)
    with tf.GradientTape() as tape:
      g_loss = trainer.generator_losses(batch)["g_loss"]
    g_grads = tape.gradient(g_loss, trainer.generator.trainable_variables)
    return d_grads, g_grads

  @tf.function
  def step(iterator):
    batch = next(iterator)
    d_grads, g_grads = strategy.run(replica_fn, args=(batch,))
    reduce = lambda g: strategy.reduce(  # noqa: E731
        tf.distribute.ReduceOp.SUM, g, axis=None)
    return ([reduce(g) for g in d_grads], [reduce(g) for g in g_grads])

  return step(iterator)


@pytest.mark.parametrize("model, aux_weight", [("multiscale", 1.0),
                                               ("melgan", 0.0)])
def test_two_replicas_give_the_one_replica_gradients(model, aux_weight):
  config = tiny_config(model=model, stft_loss_weight=aux_weight,
                       mel_loss_weight=aux_weight)
  batch = training_fixtures.batch(config, 4)
  grads = {}
  for replicas in (1, 2):
    strategy = (tf.distribute.get_strategy() if replicas == 1 else
                tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    tf.keras.utils.set_random_seed(7)
    trainer = GANTrainer(config, strategy, global_batch_size=4)
    if replicas == 2:
      np.testing.assert_array_equal(
          trainer.generator.weights[0].numpy(),
          grads[1]["init"])
    d, g = _gradients(trainer, _iterator(strategy, batch))
    grads[replicas] = {"d": [x.numpy() for x in d],
                       "g": [x.numpy() for x in g],
                       "init": trainer.generator.weights[0].numpy()}
  for key in ("d", "g"):
    assert len(grads[1][key]) == len(grads[2][key]) > 0
    # Float rounding differs (sums split across replicas), so compare against
    # the network's gradient scale; a replica-scaling bug would be a factor
    # of 2 in every element.
    scale = max(np.max(np.abs(g)) for g in grads[1][key])
    for one, two in zip(grads[1][key], grads[2][key]):
      np.testing.assert_allclose(two, one, rtol=1e-3, atol=1e-4 * scale)
    ratio = (sum(np.sum(np.abs(g)) for g in grads[2][key]) /
             sum(np.sum(np.abs(g)) for g in grads[1][key]))
    assert abs(ratio - 1) < 1e-3


# --- one generator forward per joint step -----------------------------------
@pytest.fixture
def eager():
  """tf.functions run eagerly (no tracing: fast; the same Python code)."""
  tf.config.run_functions_eagerly(True)
  yield
  tf.config.run_functions_eagerly(False)


def _trainer(config, batch_size=2, seed=7):
  tf.keras.utils.set_random_seed(seed)
  return GANTrainer(config, tf.distribute.get_strategy(), batch_size)


def _weights(trainer):
  return [w.numpy() for w in (trainer.generator.weights +
                              trainer.discriminator.weights)]


def _count_generator_calls(trainer):
  """A list that grows by one on every (traced or eager) generator call."""
  calls, call = [], trainer.generator.call

  def counted(*args, **kwargs):
    calls.append(1)
    return call(*args, **kwargs)

  trainer.generator.call = counted
  return calls


def _mean(per_example):
  return tf.reduce_mean(per_example)


def _reference_joint_step(trainer, batch):
  """The joint step written out with separate tapes: the generator forward
  once; the discriminator update on that (constant) signal; the generator
  loss against the *updated* discriminator on the same signal, its gradient
  by the chain rule (dL/dfake, then back through the generator's tape).

  Returns (terms, g_adversarial judged by the discriminator before its
  update).
  """
  config, gen, disc = trainer.config, trainer.generator, trainer.discriminator
  d_adv, g_adv = losses.ADVERSARIAL[config.resolved_adversarial_loss]
  mel, real = batch["mel"], batch[trainer.target_key]
  real = list(real) if config.model == "multiscale" else real
  with tf.GradientTape() as g_tape:
    fake = gen(mel, training=True)
  constant = tf.nest.map_structure(tf.constant, fake)
  with tf.GradientTape() as tape:
    fake_out = disc(constant, mel, training=True)
    d_loss = _mean(d_adv(disc(real, mel, training=True), fake_out))
  stale_adversarial = _mean(g_adv(fake_out))
  variables = disc.trainable_variables
  trainer.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, variables),
                                          variables))
  with tf.GradientTape() as tape:
    tape.watch(constant)
    fake_out = disc(constant, mel, training=True)
    real_out = disc(real, mel, training=True)
    terms = {"d_loss": d_loss, "g_adversarial": _mean(g_adv(fake_out)),
             "g_feature_matching": _mean(losses.feature_matching(real_out,
                                                                 fake_out))}
    total = (terms["g_adversarial"] +
             config.feature_matching_weight * terms["g_feature_matching"])
    if config.stft_loss_weight:
      audio = (dsp.merge_bands(constant, config)
               if config.model == "multiscale" else constant)
      terms["g_stft"] = _mean(losses.multi_resolution_stft(batch["audio"],
                                                           audio))
      terms["g_mel_l1"] = _mean(losses.mel_l1(mel, audio, config))
      total += (config.stft_loss_weight * terms["g_stft"] +
                config.mel_loss_weight * terms["g_mel_l1"])
    terms["g_loss"] = total
  d_fake = tape.gradient(total, constant)
  variables = gen.trainable_variables
  grads = g_tape.gradient(fake, variables, output_gradients=d_fake)
  trainer.g_optimizer.apply_gradients(zip(grads, variables))
  return terms, stale_adversarial


@pytest.mark.parametrize("model, aux_weight, graph", [
    ("multiscale", 1.0, True), ("melgan", 0.0, False)])
def test_joint_step_is_one_generator_forward_then_d_then_g(
    model, aux_weight, graph):
  """Graph mode (the compiled step, auto control dependencies) for one
  family, eager for the other (same code, no tracing)."""
  config = tiny_config(model=model, stft_loss_weight=aux_weight,
                       mel_loss_weight=aux_weight / 2)
  batch = training_fixtures.batch(config, 2)
  tf.config.run_functions_eagerly(not graph)
  try:
    trainer = _trainer(config)
    initial = _weights(trainer)
    calls = _count_generator_calls(trainer)
    got = {k: float(v) for k, v in trainer.train_step(
        iter(tf.data.Dataset.from_tensors(batch).repeat())).items()}
  finally:
    tf.config.run_functions_eagerly(False)
  assert len(calls) == 1           # one generator forward in the step
  reference = _trainer(config)
  for a, b in zip(_weights(reference), initial):
    np.testing.assert_array_equal(a, b)
  want, stale = _reference_joint_step(reference, batch)
  assert set(got) == set(want)
  for key, value in want.items():
    np.testing.assert_allclose(got[key], float(value), rtol=2e-5,
                               atol=1e-7, err_msg=key)
  # The generator is judged by the updated discriminator, not the old one
  # (which is 10x the tolerance above away).
  assert abs(float(stale) - got["g_adversarial"]) > 10 * 2e-5 * abs(
      got["g_adversarial"])
  lr = config.learning_rate
  for after, want_w, before in zip(_weights(trainer), _weights(reference),
                                   initial):
    np.testing.assert_allclose(after, want_w, rtol=0, atol=0.02 * lr)
  moved = max(np.max(np.abs(a - b)) for a, b in zip(_weights(trainer),
                                                     initial))
  assert 0.5 * lr < moved <= 1.01 * lr        # Adam's first step ~ lr


def test_joint_step_equals_discriminator_step_then_generator_step(eager):
  """Today's alternation steps (two generator forwards) on one batch give
  the joint step's losses and weights: the reuse changes nothing else."""
  config = tiny_config(stft_loss_weight=1.0, mel_loss_weight=1.0)
  batch = training_fixtures.batch(config, 2)
  joint, split = _trainer(config), _trainer(config)
  joint_calls, split_calls = (_count_generator_calls(joint),
                              _count_generator_calls(split))
  got = joint.train_step(iter(tf.data.Dataset.from_tensors(batch).repeat()))
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
  want = dict(split.discriminator_step(iterator))
  want.update(split.generator_step(iterator))
  assert (len(joint_calls), len(split_calls)) == (1, 2)
  assert set(got) == set(want)
  for key in want:
    np.testing.assert_allclose(float(got[key]), float(want[key]), rtol=1e-6,
                               err_msg=key)
  for a, b in zip(_weights(joint), _weights(split)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-3 * config.learning_rate)


# --- warm-up, learning-rate decay, mixed precision, XLA -----------------------
def test_warmup_trains_the_generator_alone_on_spectral_losses(eager):
  config = tiny_config(warmup_steps=2, stft_loss_weight=1.0,
                       mel_loss_weight=0.5)
  trainer = _trainer(config)
  assert trainer.step_for(0) is trainer.warmup_step
  assert trainer.step_for(1) is trainer.warmup_step
  assert trainer.step_for(2) is trainer.train_step
  alternating = _trainer(config.replace(alternate_updates=True))
  assert [alternating.step_for(s) for s in (1, 2, 3)] == [
      alternating.warmup_step, alternating.discriminator_step,
      alternating.generator_step]
  batch = training_fixtures.batch(config, 2)
  d_before = [w.numpy() for w in trainer.discriminator.weights]
  got = trainer.warmup_step(iter(tf.data.Dataset.from_tensors(batch).repeat()))
  assert set(got) == {"g_stft", "g_mel_l1", "g_loss"}
  np.testing.assert_allclose(float(got["g_loss"]), float(
      got["g_stft"] + 0.5 * got["g_mel_l1"]), rtol=1e-6)
  for a, b in zip(trainer.discriminator.weights, d_before):
    np.testing.assert_array_equal(a.numpy(), b)
  assert int(trainer.d_optimizer.iterations) == 0
  assert int(trainer.step) == 1
  # Oracle: one Adam step on the spectral losses alone, written out.
  reference = _trainer(config)
  generator = reference.generator
  with tf.GradientTape() as tape:
    audio = dsp.merge_bands(generator(batch["mel"], training=True), config)
    loss = (_mean(losses.multi_resolution_stft(batch["audio"], audio)) +
            0.5 * _mean(losses.mel_l1(batch["mel"], audio, config)))
  grads = tape.gradient(loss, generator.trainable_variables)
  reference.g_optimizer.apply_gradients(zip(grads,
                                            generator.trainable_variables))
  np.testing.assert_allclose(float(got["g_loss"]), float(loss), rtol=1e-5)
  for a, b in zip(trainer.generator.weights, generator.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0,
                               atol=1e-3 * config.learning_rate)


def _max_generator_update(trainer, step_fn, batch):
  before = [w.numpy() for w in trainer.generator.trainable_variables]
  step_fn(iter(tf.data.Dataset.from_tensors(batch).repeat()))
  return max(np.max(np.abs(w.numpy() - b)) for w, b in zip(
      trainer.generator.trainable_variables, before))


def test_learning_rate_decays_exponentially_with_the_step(eager):
  lr0, decay, every = 1e-3, 0.5, 2
  config = tiny_config(model="melgan", learning_rate=lr0, lr_decay=decay,
                       lr_decay_steps=every)
  batch = training_fixtures.batch(config, 2)
  trainer = _trainer(config)
  trainer.step.assign(3)
  # Adam's first update moves a weight by lr * |g| / (|g| + eps): the
  # largest move is the learning rate the update used.
  moved = _max_generator_update(trainer, trainer.generator_step, batch)
  want = lr0 * decay ** (3 / every)
  np.testing.assert_allclose(moved, want, rtol=2e-3)
  for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
    np.testing.assert_allclose(float(optimizer.learning_rate), want,
                               rtol=1e-6)
  trainer.train_step(iter(tf.data.Dataset.from_tensors(batch).repeat()))
  np.testing.assert_allclose(float(trainer.g_optimizer.learning_rate),
                             lr0 * decay ** (4 / every), rtol=1e-6)
  constant = _trainer(config.replace(lr_decay=1.0))
  constant.step.assign(3)
  np.testing.assert_allclose(
      _max_generator_update(constant, constant.generator_step, batch), lr0,
      rtol=2e-3)


def test_resume_sets_the_decayed_learning_rate_of_the_restored_step(
    tmp_path, eager):
  config = tiny_config(learning_rate=1e-3, lr_decay=0.5, lr_decay_steps=2)
  dataset = tf.data.Dataset.from_tensors(training_fixtures.batch(config, 2))
  trainer = _trainer(config)
  trainer.step.assign(5)
  checkpoints.RunCheckpoints(trainer, iter(dataset.repeat()), str(tmp_path),
                             keep=1).save(5)
  resumed = _trainer(config)
  checkpoints.RunCheckpoints(resumed, iter(dataset.repeat()), str(tmp_path),
                             keep=1).resume(config.learning_rate, reseed=None)
  assert int(resumed.step) == 5
  for optimizer in (resumed.g_optimizer, resumed.d_optimizer):
    np.testing.assert_allclose(float(optimizer.learning_rate),
                               1e-3 * 0.5 ** 2.5, rtol=1e-6)


def test_mixed_precision_loss_scaling_with_alternate_and_joint_steps(eager):
  config = tiny_config(mixed_precision=True, alternate_updates=True,
                       lr_decay=0.9, stft_loss_weight=1.0)
  batch = training_fixtures.batch(config, 2)
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    trainer = _trainer(config)
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
      assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
      # The default 2**15 overflows this tiny model's float16 gradients
      # for the first steps (skipped, as designed); start where they fit.
      optimizer.dynamic_scale.assign(1.0)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    moved = []
    for step_fn in (trainer.step_for(0), trainer.step_for(1),
                    trainer.train_step):
      before = _weights(trainer)
      values = step_fn(iterator)
      assert all(np.isfinite(float(v)) for v in values.values())
      moved.append([np.max(np.abs(a - b)) for a, b in zip(_weights(trainer),
                                                           before)])
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert set(values) >= {"d_loss", "g_loss", "g_stft"}
  n_gen = len(trainer.generator.weights)
  # step 0 moves only the discriminator, step 1 only the generator, the
  # joint step both.
  assert max(moved[0][:n_gen]) == 0 < max(moved[0][n_gen:])
  assert max(moved[1][n_gen:]) == 0 < max(moved[1][:n_gen])
  assert min(max(moved[2][:n_gen]), max(moved[2][n_gen:])) > 0
  assert int(trainer.g_optimizer.iterations) == 2
  assert int(trainer.d_optimizer.iterations) == 2


def test_mixed_bfloat16_networks_compute_in_bfloat16_and_train(eager):
  config = tiny_config(mixed_bfloat16=True, stft_loss_weight=1.0)
  trainer = _trainer(config)
  assert keras.mixed_precision.global_policy().name == "float32"  # restored
  for network in (trainer.generator, trainer.discriminator):
    assert network.dtype_policy.compute_dtype == "bfloat16"
  assert not isinstance(trainer.g_optimizer,
                        keras.optimizers.LossScaleOptimizer)
  batch = training_fixtures.batch(config, 2)
  initial = _weights(trainer)
  values = trainer.train_step(iter(tf.data.Dataset.from_tensors(batch)
                                   .repeat()))
  assert all(v.dtype == tf.float32 and np.isfinite(float(v))
             for v in values.values())
  n_gen = len(trainer.generator.weights)
  moved = [np.max(np.abs(a - b)) for a, b in zip(_weights(trainer), initial)]
  assert min(max(moved[:n_gen]), max(moved[n_gen:])) > 0
  assert all(w.dtype == "float32" for w in trainer.generator.weights)


def test_jit_compile_needs_one_replica():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  with pytest.raises(ValueError, match="jit_compile=True needs one replica"):
    GANTrainer(tiny_config(jit_compile=True), strategy, 2)
