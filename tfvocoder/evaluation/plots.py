"""The evaluation report's charts: bars per system, and learning curves."""

import numpy as np

from tfvocoder.training import summaries


def pyplot():
  """matplotlib.pyplot on the Agg backend."""
  # matplotlib only when drawing, and its Agg backend chosen before pyplot
  # is first imported (no display needed).
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def bar_chart(path, title, unit, groups, systems, values):
  """values[s][g]: one bar per system in each group (None: no bar)."""
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=80)
  width = 0.8 / max(1, len(systems))
  x = np.arange(len(groups))
  for j, name in enumerate(systems):
    row = [np.nan if v is None else v for v in values[j]]
    ax.bar(x + (j - (len(systems) - 1) / 2) * width, row, width, label=name)
  ax.set_xticks(x)
  ax.set_xticklabels(groups, fontsize=7, rotation=20, ha="right")
  ax.set_title(title, fontsize=9)
  ax.set_ylabel(unit, fontsize=8)
  ax.tick_params(axis="y", labelsize=7)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


# Training scalars a model system's learning-curve chart draws (log10 mel
# L1: the training loss term, and the run's held-out check).
CURVE_TAGS = (("g_mel_l1", "training mel L1"),
              ("eval/mel_l1", "held-out mel L1"))


def curve_chart(path, systems) -> bool:
  """Each model system's training curve (`CURVE_TAGS` from the
  TensorBoard logs in its model dir) against steps; False if none has
  any."""
  curves = []
  for s in systems:
    if s.get("model_dir"):
      found = summaries.read_scalars(s["model_dir"],
                                     [tag for tag, _ in CURVE_TAGS])
      curves += [(f"{s['name']}: {label}", found[tag])
                 for tag, label in CURVE_TAGS if found.get(tag)]
  if not curves:
    return False
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=80)
  for label, points in curves:
    steps, values = zip(*points)
    ax.plot(steps, values, marker="." if len(points) < 20 else None,
            label=label)
  ax.set_title("learning curve (lower is better)", fontsize=9)
  ax.set_xlabel("step", fontsize=8)
  ax.set_ylabel("log10 units", fontsize=8)
  ax.tick_params(labelsize=7)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return True
