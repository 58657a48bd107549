"""One worker of the MultiWorkerMirroredStrategy test (run as a subprocess).

argv: model_dir data_dir steps out.npz; TF_CONFIG names the cluster. Trains a
tiny multiscale model and writes this worker's final weights to out.npz.
"""

import sys

import numpy as np

from tfvocoder import training
from tfvocoder.config import tiny_config


def main(model_dir, data_dir, steps, out):
  options = training.TrainOptions(
      model_dir=model_dir, data_dir=data_dir, batch_size=4,
      max_steps=int(steps), strategy="multi_worker", checkpoint_every=1000,
      summary_every=1)
  result = training.train(tiny_config(), options)
  trainer = result.trainer
  np.savez(out, *[v.numpy() for v in trainer.generator.weights +
                  trainer.discriminator.weights])


if __name__ == "__main__":
  main(*sys.argv[1:])
