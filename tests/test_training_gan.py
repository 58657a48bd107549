"""GANTrainer: replica loss scaling gives the one-replica gradients."""

import numpy as np
import pytest
import tensorflow as tf

import training_fixtures
from tfvocoder.config import tiny_config
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
