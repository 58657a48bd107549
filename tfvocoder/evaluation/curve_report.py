"""The learning curves of curves.json as a table and a chart.

`table(state)`: markdown, one row per recipe and mark (its training minutes
and steps, then the headline figures, the per-band LSD and the phase
excess), Griffin-Lim last; OUT/curves.md. `plot(state, path)`: OUT/
curves.png, one panel per headline figure against training minutes, a
line per recipe, Griffin-Lim dashed. `state` is what
`tfvocoder.evaluation.learning_curve.run_curves` returns.
"""

import io
import os
from typing import Dict, List, Optional

from tfvocoder.evaluation import scores
from tfvocoder.io_utils import atomic_write_bytes, atomic_write_text

CURVES_MD = "curves.md"
CURVES_PNG = "curves.png"
# (metric, label) of the figures charted and tabled, each its "overall".
HEADLINE = (("log_mel_l1", "log-mel L1"), ("mr_stft", "MR-STFT"),
            (scores.VISQOL, "ViSQOL"), ("lsd_db", "LSD dB"),
            ("phase_coherence", "phase excess rad"))


def overall(figures: Optional[Dict], metric: str) -> Optional[float]:
  """`figures[metric]["overall"]`, None when absent."""
  return ((figures or {}).get(metric) or {}).get("overall")


def summary(figures: Dict) -> str:
  """`log-mel L1 0.912, MR-STFT 3.21, ...` of one mark's mean metrics."""
  return ", ".join(f"{label} {overall(figures, key):.4g}"
                   for key, label in HEADLINE
                   if overall(figures, key) is not None)


def _headline(state: Dict) -> List:
  """The HEADLINE entries some system has a figure of (ViSQOL may not)."""
  every = [state.get("griffin_lim")] + [
      m["metrics"] for r in state["recipes"].values() for m in r["marks"]]
  return [(k, label) for k, label in HEADLINE
          if any(overall(f, k) is not None for f in every)]


def _fmt(value: Optional[float]) -> str:
  return "-" if value is None else f"{value:.4g}"


def _bands(figures: Optional[Dict]) -> str:
  values = ((figures or {}).get("lsd_db") or {}).get("bands") or []
  return " / ".join(_fmt(v) for v in values) or "-"


def table(state: Dict) -> str:
  """The markdown table of every recipe's marks (see the module doc)."""
  s = state["settings"]
  head = _headline(state)
  lines = [
      "# Learning curves", "",
      f"Up to {s['budget_minutes']:g} min of training steps per recipe "
      f"(start-up, summaries, checkpoints and evaluation not counted), "
      f"evaluated at {', '.join(f'{m:g}' for m in s['marks_minutes'])} min "
      f"on {s['examples']} held-out windows of {s['seconds']:g} s "
      f"('{s['split']}' split, seed {s['seed']}). Lower is better, but for "
      "ViSQOL (MOS, 1 to 4.7).", "",
      "| recipe | mark min | trained min | steps | "
      + " | ".join(label for _, label in head)
      + " | LSD dB per band (high to low) |",
      "|---|" + "---:|" * (len(head) + 4)]
  errors = []
  for name, recipe in state["recipes"].items():
    for m in recipe["marks"]:
      lines.append(
          f"| {name} | {m['minutes']:g} | {m['train_minutes']:.2f} | "
          f"{m['step']} | "
          + " | ".join(_fmt(overall(m["metrics"], k)) for k, _ in head)
          + f" | {_bands(m['metrics'])} |")
    if recipe.get("error"):
      errors.append(f"- {name}: {recipe['error']}")
  gl = state.get("griffin_lim")
  if gl:
    lines.append("| Griffin-Lim | - | - | - | "
                 + " | ".join(_fmt(overall(gl, k)) for k, _ in head)
                 + f" | {_bands(gl)} |")
  if errors:
    lines += ["", "Failed (rerun to retry):"] + errors
  return "\n".join(lines) + "\n"


def plot(state: Dict, path: str) -> None:
  """curves.png: a panel per headline figure (module doc)."""
  # matplotlib only when drawing, its Agg backend chosen before pyplot is
  # first imported (no display needed).
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  head = _headline(state)
  fig, axes = plt.subplots(1, max(1, len(head)),
                           figsize=(3.6 * max(1, len(head)), 3.2),
                           squeeze=False)
  for ax, (key, label) in zip(axes[0], head):
    for name, recipe in state["recipes"].items():
      points = [(m["train_minutes"], overall(m["metrics"], key))
                for m in recipe["marks"]]
      points = [p for p in points if p[1] is not None]
      if points:
        ax.plot(*zip(*points), marker="o", label=name)
    reference = overall(state.get("griffin_lim"), key)
    if reference is not None:
      ax.axhline(reference, color="gray", linestyle="--",
                 label="Griffin-Lim")
    better = "higher" if key in scores.HIGHER_IS_BETTER else "lower"
    ax.set_title(f"{label} ({better} is better)", fontsize=9)
    ax.set_xlabel("training minutes (steps only)", fontsize=8)
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=100)
  plt.close(fig)
  atomic_write_bytes(path, buffer.getvalue())


def write_report(output_dir: str, state: Dict) -> str:
  """OUT/curves.md and OUT/curves.png (atomically); returns the table."""
  text = table(state)
  atomic_write_text(os.path.join(output_dir, CURVES_MD), text)
  plot(state, os.path.join(output_dir, CURVES_PNG))
  return text
