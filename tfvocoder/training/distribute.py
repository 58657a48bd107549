"""Choosing a tf.distribute strategy: one CPU/GPU, several GPUs, several hosts.

`make_strategy(name)`:
  - `default`: the default (no-op) strategy, one device.
  - `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU, or,
    with `cpu_replicas > 1` and no GPU, over that many logical CPU devices
    (how the tests run two replicas on a laptop).
  - `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`; the cluster
    comes from the `TF_CONFIG` environment variable.
  - `auto`: `multi_worker` when TF_CONFIG names more than one worker,
    `mirrored` when more than one GPU is visible, else `default`.
"""

import json
import os

from absl import logging
import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def configure_cpu_replicas(count: int) -> None:
  """Split the CPU into `count` logical devices (before TF initialises)."""
  if count <= 1:
    return
  cpus = tf.config.list_physical_devices("CPU")
  existing = tf.config.get_logical_device_configuration(cpus[0])
  if existing and len(existing) == count:
    return
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def _tf_config_workers() -> int:
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    return 0
  try:
    cluster = json.loads(raw).get("cluster", {})
  except json.JSONDecodeError as error:
    raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(name: str = "auto",
                  cpu_replicas: int = 1) -> tf.distribute.Strategy:
  """Build the strategy `name` (one of STRATEGIES); see the module doc."""
  if name not in STRATEGIES:
    raise ValueError(f"--strategy={name!r}; expected one of {STRATEGIES}")
  if name == "auto":
    gpus = tf.config.list_physical_devices("GPU")
    if _tf_config_workers() > 1:
      name = "multi_worker"
    elif len(gpus) > 1 or cpu_replicas > 1:
      name = "mirrored"
    else:
      name = "default"
  if name == "multi_worker":
    if _tf_config_workers() < 1:
      raise ValueError("--strategy=multi_worker needs TF_CONFIG with a "
                       "'cluster' of workers (see the README)")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  elif name == "mirrored":
    devices = None
    if not tf.config.list_physical_devices("GPU") and cpu_replicas > 1:
      configure_cpu_replicas(cpu_replicas)
      devices = [d.name for d in tf.config.list_logical_devices("CPU")]
      devices = devices[:cpu_replicas]
    strategy = tf.distribute.MirroredStrategy(devices=devices)
  else:
    strategy = tf.distribute.get_strategy()
  logging.info("strategy %s with %d replica(s)", type(strategy).__name__,
               strategy.num_replicas_in_sync)
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the worker that writes checkpoints and summaries."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and \
      not has_chief
