"""Speed, memory and quality benchmarks; each prints ratios against a
baseline measured in the same process (the machine is noisy).

`python -m benchmarks` runs them all (see benchmarks/__main__.py).
"""

import json
import os
import subprocess
from typing import Optional

from tfvocoder.io_utils import atomic_write_text


def debian_music_dir() -> Optional[str]:
  """The music folder of the installed hyperrogue-music package, or None."""
  try:
    listing = subprocess.run(["dpkg", "-L", "hyperrogue-music"],
                             capture_output=True, text=True, check=True)
  except (OSError, subprocess.CalledProcessError):
    return None
  folders = {os.path.dirname(p) for p in listing.stdout.split()
             if p.endswith(".ogg") and "/music/" in p}
  return sorted(folders)[0] if folders else None


def report_json(value, json_path: Optional[str]) -> None:
  """Writes `value` as indented JSON to `json_path` atomically, or prints
  it when no path is given."""
  text = json.dumps(value, indent=2)
  if json_path:
    atomic_write_text(json_path, text + "\n")
  else:
    print(text)
