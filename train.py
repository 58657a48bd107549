"""Train a vocoder: flags -> VocoderConfig -> tfvocoder.training.train().

  python train.py --flagfile=multiscale.flags --data_dir=SHARDS --model_dir=DIR

Flags given after --flagfile override it. Every VocoderConfig field is a
flag (see `python train.py --helpfull`).
"""

from absl import app, flags

from tfvocoder import flags as config_flags
from tfvocoder import training
from tfvocoder.training.distribute import STRATEGIES

flags.DEFINE_string("data_dir", None, "Prepared TFRecord shards "
                    "(tfvocoder.data.prepare); none: the built-in synthetic "
                    "music dataset, written once under the model dir.")
flags.DEFINE_string("model_dir", None, "Checkpoints, config.json and "
                    "TensorBoard logs.", required=True)
flags.DEFINE_integer("batch_size", 16, "Global batch size (all replicas).")
flags.DEFINE_integer("max_steps", 100_000, "Train until this step.")
flags.DEFINE_enum("strategy", "auto", STRATEGIES, "tf.distribute strategy; "
                  "auto: multi_worker with TF_CONFIG, mirrored with >1 GPU.")
flags.DEFINE_integer("cpu_replicas", 1, "With --strategy=mirrored and no GPU: "
                     "logical CPU replicas.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("summary_every", 100, "Steps between progress lines and "
                     "scalar summaries (audio/images every 10x).")
flags.DEFINE_bool("overfit", False, "Train on a single batch (debugging).")
flags.DEFINE_bool("deterministic", False, "Op determinism: identical weights "
                  "when resuming.")
flags.DEFINE_float("synthetic_minutes", 5.0, "Minutes of built-in synthetic "
                   "music when no --data_dir is given.")
config_flags.define_config_flags()
FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = config_flags.config_from_flags()
  options = training.TrainOptions(
      model_dir=FLAGS.model_dir, data_dir=FLAGS.data_dir,
      batch_size=FLAGS.batch_size, max_steps=FLAGS.max_steps,
      strategy=FLAGS.strategy, cpu_replicas=FLAGS.cpu_replicas,
      checkpoint_every=FLAGS.checkpoint_every,
      summary_every=FLAGS.summary_every, overfit=FLAGS.overfit,
      deterministic=FLAGS.deterministic,
      synthetic_minutes=FLAGS.synthetic_minutes)
  training.train(config, options)


if __name__ == "__main__":
  app.run(main)
