"""Speed, memory and quality benchmarks; each prints ratios against a
baseline measured in the same process (the machine is noisy).

`python -m benchmarks` runs them all (see benchmarks/__main__.py).
"""

import os
import subprocess
from typing import Optional


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
