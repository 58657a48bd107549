"""The evaluation report: a static page whose every link resolves, rendered
without console errors by headless Chromium (skipped without chromium)."""

import html.parser
import json
import os
import re
import shutil
import subprocess

import pytest

import eval_fixtures
from tfvocoder.evaluation import report
from tfvocoder.training import summaries

# Injected into a copy of the page: records script errors and resources that
# fail to load, then on `load` (which waits for every <img> and for every
# <audio preload=metadata>'s metadata or error) writes what it saw into the
# DOM for --dump-dom.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(e.message ||
                       (e.target && (e.target.src || e.target.tagName)));
}, true);
window.addEventListener('load', function () {
  var bad = [];
  Array.from(document.images).forEach(function (i) {
    if (!(i.complete && i.naturalWidth > 0)) bad.push(i.getAttribute('src'));
  });
  var audios = Array.from(document.querySelectorAll('audio'));
  audios.forEach(function (a) {
    if (a.error || a.readyState < 1 || !(a.duration > 0)) {
      bad.push(a.getAttribute('src'));
    }
  });
  var out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({images: document.images.length,
      audios: audios.length, bad: bad, errors: window.__errors});
  document.body.appendChild(out);
});
</script>"""


def _chromium():
  for name in ("chromium", "chromium-browser", "google-chrome"):
    path = shutil.which(name)
    if path:
      return path
  return None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return eval_fixtures.shared_run(tmp_path_factory)


class _Links(html.parser.HTMLParser):
  def __init__(self):
    super().__init__()
    self.tags, self.links = [], []

  def handle_starttag(self, tag, attrs):
    self.tags.append(tag)
    for name, value in attrs:
      if name in ("src", "href"):
        self.links.append((tag, value))


def _expected_counts(result):
  systems = len(result["systems"])
  examples = len(result["examples"])
  visqol = "visqol" in result["systems"][0]["metrics"]
  # A model trained by train.py has TensorBoard logs: its learning curve.
  curve = any(summaries.read_scalars(s["model_dir"], ["g_mel_l1"])
              for s in result["systems"] if s.get("model_dir"))
  charts = len(report.DISTANCES) + 3 + visqol + curve  # phase, speed, cost
  return examples * (2 + systems) + charts, examples * (1 + systems)


def test_every_link_is_a_local_file(run):
  out = run["output_dir"]
  with open(os.path.join(out, "report.html")) as f:
    parser = _Links()
    parser.feed(f.read())
  assert "script" not in parser.tags and "link" not in parser.tags
  images = [v for t, v in parser.links if t == "img"]
  audios = [v for t, v in parser.links if t == "audio"]
  assert (len(images), len(audios)) == _expected_counts(run["result"])
  for tag, link in parser.links:
    assert not re.match(r"^[a-z]+:", link), link         # relative, no network
    path = os.path.join(out, link)
    assert os.path.isfile(path) and os.path.getsize(path) > 0, link
    with open(path, "rb") as f:
      magic = f.read(4)
    assert magic == (b"\x89PNG" if tag == "img" else b"RIFF"), link


def test_summary_table_lists_every_system(run):
  text = report.summary_table(run["result"])
  for system in run["result"]["systems"]:
    assert system["name"] in text
  assert len(text.splitlines()) == 1 + len(run["result"]["systems"])
  # The ViSQOL column: each system's mean (3 digits), "-" when not measured.
  rows = report.summary_rows(run["result"])
  column = report.SUMMARY_HEADER.index("ViSQOL")
  for row, system in zip(rows, run["result"]["systems"]):
    assert row[column] == f"{system['metrics']['visqol']['overall']:.3g}"
  unscored = json.loads(json.dumps(run["result"]))
  for system in unscored["systems"]:
    del system["metrics"]["visqol"]
  assert {r[column] for r in report.summary_rows(unscored)} == {"-"}
  assert report.visqol_note(unscored) == "ViSQOL: not measured (--novisqol)"
  assert "higher is better, 1-~4.73" in report.visqol_note(run["result"])


def test_renders_in_headless_chromium(run, tmp_path):
  chromium = _chromium()
  if chromium is None:
    pytest.skip("chromium is not installed (Debian: apt-get install -y "
                "chromium); the page was only checked for local links")
  page_dir = tmp_path / "page"
  shutil.copytree(run["output_dir"], page_dir)
  source = (page_dir / "report.html").read_text()
  (page_dir / "probed.html").write_text(
      source.replace("<head>", "<head>" + PROBE, 1))
  command = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--mute-audio",
             f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--window-size=1400,2000"]
  done = subprocess.run(
      command + ["--dump-dom", (page_dir / "probed.html").as_uri()],
      capture_output=True, text=True, timeout=60)
  found = re.search(r'<pre id="__probe">(.*?)</pre>', done.stdout, re.S)
  assert found, f"no probe output; stderr:\n{done.stderr[-2000:]}"
  probe = json.loads(found.group(1).replace("&quot;", '"')
                     .replace("&amp;", "&"))
  assert (probe["images"], probe["audios"]) == _expected_counts(run["result"])
  assert probe["bad"] == [] and probe["errors"] == [], probe
  console = [line for line in done.stderr.splitlines()
             if ":CONSOLE" in line or "Uncaught" in line]
  assert not console, console
  # The unmodified page renders too (a screenshot is written).
  shot = tmp_path / "report.png"
  done = subprocess.run(command + [f"--screenshot={shot}",
                                   (page_dir / "report.html").as_uri()],
                        capture_output=True, text=True, timeout=60)
  assert shot.is_file() and shot.stat().st_size > 10_000, done.stderr[-2000:]
  assert not [line for line in done.stderr.splitlines()
              if ":CONSOLE" in line or "Uncaught" in line]
