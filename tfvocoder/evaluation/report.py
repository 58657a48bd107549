"""The evaluation report: one static HTML page with relative assets.

`write_report(output_dir, result, examples, outputs, config)` writes

  OUT/report.html          no script, no network: inline CSS, <img>, <audio>
  OUT/assets/ex<i>_mel.png               conditioning log-mel of example i
  OUT/assets/ex<i>_<system>.wav          16-bit PCM, real and every system
  OUT/assets/ex<i>_<system>.png          its spectrogram (dB, band edges)
  OUT/assets/chart_<metric>.png          bar chart per metric
  OUT/assets/chart_curve.png             each model's training curve (its
                                         TensorBoard logs), when it has any

`result` is `tfvocoder.evaluation.run.evaluate`'s dict (systems with their
mean metrics, speed and cost); `examples` its
`tfvocoder.evaluation.examples.Example`s (real audio `[samples]` and mel
`[frames, n_mels]`), `outputs` {system slug: per example `[samples]`}
(`tfvocoder.evaluation.systems`). The assets are written to a staging dir and
swapped in by renames, and the page is written last (atomically), so a
reader never sees a page whose files are missing.
"""

import html
import os
import shutil
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np
import soundfile as sf

from tfvocoder.config import VocoderConfig
from tfvocoder.evaluation import metrics, phase, scores
from tfvocoder.evaluation.examples import Example
from tfvocoder.evaluation.plots import bar_chart, curve_chart, pyplot
from tfvocoder.io_utils import atomic_write_text

ASSETS = "assets"
SPEC_RANGE_DB = 90.0      # spectrogram colour range below 0 dB full scale
DISTANCES = (("log_mel_l1", "log-mel L1", "log10 units"),
             ("mr_stft", "MR-STFT (SC + log mag)", ""),
             ("lsd_db", "log-spectral distance", "dB"))
PHASE = ("phase_coherence", "band-edge phase excess", "rad")
PHASE_KEYS = ("overall", "edge", "flank", "elsewhere")
VISQOL_RANGE = "higher is better, 1-~4.73"   # MOS-LQO; 4.73: identical
CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222;max-width:110em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}
th:first-child,td:first-child{text-align:left}
.row{display:flex;flex-wrap:wrap;gap:.8em}
.cell{border:1px solid #ddd;padding:.4em}
.cell h4{margin:.1em 0 .3em}
audio{width:100%}
.charts img{max-width:32em;margin:.3em}
.note{color:#666;font-size:.9em}
"""


def _fmt(value, digits=3) -> str:
  if value is None:
    return "-"
  if isinstance(value, (int, np.integer)):
    return f"{value:,}"
  return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


# ---------------------------------------------------------------------------
# Images and sound
# ---------------------------------------------------------------------------
def spectrogram_db(audio: np.ndarray, config: VocoderConfig) -> np.ndarray:
  """|STFT| in dB re a full-scale sinusoid `[bins, frames]`, n_fft /
  hop_length of the config, clipped to [-SPEC_RANGE_DB, 0]."""
  spec = np.abs(metrics.stft(audio, config.n_fft, config.hop_length)).T
  db = 20 * np.log10(np.maximum(spec, 1e-9) / (config.n_fft / 4))
  return np.clip(db, -SPEC_RANGE_DB, 0.0)


def _save_image(path, data, config, title, ylabel, extent, edges=()):
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(4.6, 2.4), dpi=80)
  ax.imshow(data, origin="lower", aspect="auto", extent=extent,
            cmap="magma", interpolation="nearest")
  for edge in edges:
    ax.axhline(edge, color="#6cf", lw=0.6, ls="--")
  ax.set_title(title, fontsize=9)
  ax.set_xlabel("s", fontsize=8)
  ax.set_ylabel(ylabel, fontsize=8)
  ax.tick_params(labelsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _write_wav(path, audio, config):
  sf.write(path, np.clip(np.asarray(audio, np.float32), -1, 1),
           config.sample_rate, subtype="PCM_16")


def _example_assets(stage, i, example: Example, outputs, systems, real_slug,
                    config) -> Dict:
  """Writes example i's images and wav files; returns their names."""
  seconds = len(example.audio) / config.sample_rate
  files = {"mel": f"ex{i}_mel.png", "wav": {}, "spectrogram": {}}
  _save_image(os.path.join(stage, files["mel"]), np.asarray(example.mel).T,
              config, f"conditioning log-mel ({example.name})", "mel channel",
              (0, seconds, 0, config.n_mels))
  signals = [(real_slug, "real", example.audio)] + [
      (s["slug"], s["name"], outputs[s["slug"]][i]) for s in systems]
  for slug, name, audio in signals:
    files["wav"][slug] = f"ex{i}_{slug}.wav"
    files["spectrogram"][slug] = f"ex{i}_{slug}.png"
    _write_wav(os.path.join(stage, files["wav"][slug]), audio, config)
    _save_image(os.path.join(stage, files["spectrogram"][slug]),
                spectrogram_db(audio, config), config, name, "Hz",
                (0, seconds, 0, config.sample_rate / 2),
                metrics.internal_edges_hz(config))
  return files


def _band_labels(config) -> List[str]:
  return [f"{lo:.0f}-{hi:.0f} Hz" for lo, hi in config.band_edges_hz]


def _charts(stage, result, config) -> Dict[str, str]:
  systems = result["systems"]
  names = [s["name"] for s in systems]
  charts = {}
  for key, title, unit in DISTANCES:
    groups = ["overall"] + _band_labels(config)
    values = [[s["metrics"][key]["overall"]] + s["metrics"][key]["bands"]
              for s in systems]
    charts[key] = f"chart_{key}.png"
    bar_chart(os.path.join(stage, charts[key]), f"{title}, per band "
               "(lower is better)", unit, groups, names, values)
  key, title, unit = PHASE
  edges = systems[0]["metrics"][key]["edges_hz"]
  values = [[s["metrics"][key][k] for k in PHASE_KEYS]
            + s["metrics"][key]["edges_excess"] for s in systems]
  charts[key] = f"chart_{key}.png"
  bar_chart(os.path.join(stage, charts[key]), "group-delay error (rad); "
             "excess = edge zones - flanks", unit,
             ["excess", "edge zones", "flanks", "elsewhere"] +
             [f"excess@{e:.0f}" for e in edges], names, values)
  if any(_visqol(s["metrics"]) is not None for s in systems):
    charts[scores.VISQOL] = f"chart_{scores.VISQOL}.png"
    bar_chart(os.path.join(stage, charts[scores.VISQOL]),
               f"ViSQOL MOS-LQO ({VISQOL_RANGE})", "MOS", ["overall"], names,
               [[_visqol(s["metrics"])] for s in systems])
  speed = [_speeds(s) for s in systems]
  charts["speed"] = "chart_speed.png"
  bar_chart(os.path.join(stage, charts["speed"]), "x real time (higher is "
             "better)", "x", ["Keras / librosa", "TFLite fp32"], names, speed)
  if curve_chart(os.path.join(stage, "chart_curve.png"), systems):
    charts["curve"] = "chart_curve.png"
  charts["cost"] = "chart_cost.png"
  bar_chart(os.path.join(stage, charts["cost"]), "generator size and cost",
             "", ["M parameters", "GFLOP per audio s"], names,
             [[None if s["parameters"] is None else
               s["parameters"]["total"] / 1e6, s["gflops_per_audio_second"]]
              for s in systems])
  return charts


def _visqol(system_metrics) -> Optional[float]:
  """The ViSQOL MOS-LQO of one `scores.all_metrics` dict (or mean), None
  when not measured (`--novisqol`)."""
  return system_metrics.get(scores.VISQOL, {}).get("overall")


def _speeds(system) -> List[Optional[float]]:
  speed = system.get("speed", {})
  main = speed.get("keras", speed.get("librosa", {}))
  return [main.get("x_real_time"),
          speed.get("tflite_fp32", {}).get("x_real_time")]


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
def _table(header: List[str], rows: List[List[str]]) -> str:
  head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                 + "</tr>" for row in rows)
  return f"<table><tr>{head}</tr>{body}</table>"


def summary_rows(result) -> List[List[str]]:
  rows = []
  for s in result["systems"]:
    m, (x_main, x_lite) = s["metrics"], _speeds(s)
    lite_error = s.get("speed", {}).get("tflite_fp32", {}).get("error")
    params = s["parameters"]
    rows.append([s["name"], "-" if params is None else _fmt(params["total"]),
                 _fmt(s["gflops_per_audio_second"]), _fmt(x_main),
                 "n/a" if lite_error else _fmt(x_lite),
                 _fmt(m["log_mel_l1"]["overall"]),
                 _fmt(m["mr_stft"]["overall"]), _fmt(m["lsd_db"]["overall"]),
                 _fmt(m["phase_coherence"]["overall"]),
                 _fmt(_visqol(m))])
  return rows


SUMMARY_HEADER = ["system", "params", "GFLOP/audio s", "x RT (Keras/librosa)",
                  "x RT TFLite fp32", "log-mel L1", "MR-STFT", "LSD dB",
                  "phase excess rad", "ViSQOL"]


def summary_table(result) -> str:
  """The summary as aligned plain text (what `evaluate` prints)."""
  rows = [SUMMARY_HEADER] + summary_rows(result)
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths)))
                   for r in rows)


def visqol_note(result) -> str:
  """One line on the ViSQOL column: its scale, or that it was not measured
  (printed under the summary, shown on the page)."""
  measured = any(_visqol(s["metrics"]) is not None
                 for s in result["systems"])
  if not measured:
    return "ViSQOL: not measured (--novisqol)"
  return (f"ViSQOL: MOS-LQO of ViSQOL v3, audio mode, at 48 kHz "
          f"({VISQOL_RANGE}: 4.73 for identical audio); no bands")


def _tables(result, config) -> str:
  systems = result["systems"]
  parts = ["<h2>Summary (mean over examples)</h2>",
           _table(SUMMARY_HEADER, summary_rows(result))]
  notes = [f"{s['name']}: TFLite {s['speed']['tflite_fp32']['error']}"
           for s in systems if s.get("speed", {}).get("tflite_fp32", {})
           .get("error")]
  notes.append(visqol_note(result))
  parts.append("<p class=note>" + "<br>".join(html.escape(n) for n in notes)
               + "</p>")
  bands = _band_labels(config)
  for key, title, unit in DISTANCES:
    parts.append(f"<h3>{html.escape(title)} per band"
                 f"{' (' + unit + ')' if unit else ''}</h3>")
    parts.append(_table(["system", "overall"] + bands, [
        [s["name"]] + [_fmt(v) for v in [s["metrics"][key]["overall"]] +
                       s["metrics"][key]["bands"]] for s in systems]))
  key = PHASE[0]
  edges = systems[0]["metrics"][key]["edges_hz"]
  width = phase.PHASE_EDGE_HZ
  parts.append("<h3>Cross-band phase coherence: group-delay error (rad)</h3>"
               f"<p class=note>Edge zones: within {width:g} Hz of a band "
               f"edge; flanks: {width:g}-{3 * width:g} Hz from it; excess = "
               "edge zones - flanks; read it against Griffin-Lim's, a "
               "vocoder without bands, on the same examples.</p>")
  parts.append(_table(
      ["system", "excess", "edge zones", "flanks", "elsewhere"] +
      [f"excess at {e:.0f} Hz" for e in edges],
      [[s["name"]] + [_fmt(s["metrics"][key][k]) for k in PHASE_KEYS] +
       [_fmt(v) for v in s["metrics"][key]["edges_excess"]]
       for s in systems]))
  return "\n".join(parts)


def _example_html(i, entry, files, systems, real_slug) -> str:
  cells = [f"<div class=cell><h4>conditioning mel</h4>"
           f"<img src='{ASSETS}/{files['mel']}' alt='mel {i}'></div>"]
  for slug, name in [(real_slug, "real")] + [(s["slug"], s["name"])
                                              for s in systems]:
    metrics = entry["metrics"].get(slug)
    line = "" if metrics is None else (
        f"<div class=note>log-mel L1 {_fmt(metrics['log_mel_l1']['overall'])}"
        f", LSD {_fmt(metrics['lsd_db']['overall'])} dB"
        + ("" if _visqol(metrics) is None else
           f", ViSQOL {_fmt(_visqol(metrics))}") + "</div>")
    cells.append(
        f"<div class=cell><h4>{html.escape(name)}</h4>"
        f"<img src='{ASSETS}/{files['spectrogram'][slug]}' alt='{slug} {i}'>"
        f"<audio controls preload=metadata "
        f"src='{ASSETS}/{files['wav'][slug]}'></audio>{line}</div>")
  return (f"<h3>Example {i + 1}: {html.escape(entry['name'])}</h3>"
          f"<div class=note>{html.escape(str(entry['source']))}</div>"
          f"<div class=row>{''.join(cells)}</div>")


def skipped_lines(result) -> List[str]:
  """One line per example left out of the evaluation (`result["skipped"]`:
  a silent reference), naming it and why."""
  return [f"skipped {s['name']} ({s['source']}): {s['reason']}"
          for s in result.get("skipped", [])]


def _skipped_html(result) -> str:
  lines = skipped_lines(result)
  if not lines:
    return ""
  return (f"<p class=note>{len(lines)} example(s) left out of every figure:"
          "<br>" + "<br>".join(html.escape(l) for l in lines) + "</p>")


def render_html(result, assets, charts, config) -> str:
  systems = result["systems"]
  data = result["data"]
  chart_imgs = "".join(f"<img src='{ASSETS}/{f}' alt='{k}'>"
                       for k, f in charts.items())
  examples = "\n".join(_example_html(i, e, f, systems, result["real"])
                       for i, (e, f) in enumerate(zip(result["examples"],
                                                      assets)))
  source = data["data_dir"] or ", ".join(data["audio_files"])
  return f"""<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8>
<title>tfvocoder evaluation</title><style>{CSS}</style></head><body>
<h1>tfvocoder evaluation</h1>
<p>{len(result['examples'])} examples from {html.escape(str(source))}
(split {html.escape(data['split'])}, seed {data['seed']}); speed on
{result['speed_audio_seconds']:.1f} s of audio, {result['threads']} threads.
Distances: lower is better, 0 for identical audio; bands by
<code>band_edges_hz</code>; see
<code>tfvocoder/evaluation/metrics.py</code>. ViSQOL (MOS-LQO):
{VISQOL_RANGE}; see <code>tfvocoder/evaluation/visqol.py</code>.</p>
{_skipped_html(result)}
{_tables(result, config)}
<h2>Charts</h2><div class=charts>{chart_imgs}</div>
<h2>Examples</h2>
<p class=note>Spectrograms: dB re full scale, dashed lines at the band
edges.</p>
{examples}
</body></html>
"""


def write_report(output_dir: str, result: Dict, examples: Sequence[Example],
                 outputs: Dict[str, List[np.ndarray]],
                 config: VocoderConfig) -> List[Dict]:
  """Writes the assets and report.html (see the module docstring).

  Args:
    output_dir: OUT, created if missing; a previous report is replaced.
    result: what metrics.json holds (`result["examples"]` in the order of
      `examples`).
    examples: the evaluated examples.
    outputs: {system slug: `[samples]` audio per example}.
    config: the signal settings.
  Returns:
    per example its asset file names (relative to OUT/assets):
    {"mel", "wav": {slug: name}, "spectrogram": {slug: name}}.
  """
  os.makedirs(output_dir, exist_ok=True)
  stage = os.path.join(output_dir, f".{ASSETS}-new-{os.getpid()}")
  shutil.rmtree(stage, ignore_errors=True)
  os.makedirs(stage)
  try:
    systems = result["systems"]
    assets = []
    for i, example in enumerate(examples):
      logging.info("report: example %d/%d", i + 1, len(examples))
      assets.append(_example_assets(stage, i, example, outputs, systems,
                                    result["real"], config))
    charts = _charts(stage, result, config)
    page = render_html(result, assets, charts, config)
    final = os.path.join(output_dir, ASSETS)
    old = os.path.join(output_dir, f".{ASSETS}-old-{os.getpid()}")
    if os.path.exists(final):
      os.replace(final, old)
    os.replace(stage, final)
    atomic_write_text(os.path.join(output_dir, "report.html"), page)
    shutil.rmtree(old, ignore_errors=True)
  finally:
    shutil.rmtree(stage, ignore_errors=True)
  return assets
