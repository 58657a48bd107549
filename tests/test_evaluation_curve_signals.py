"""The learning-curve runner never leaves train.py running on its own: a
SIGTERM to the runner reaches train.py as the SIGINT it checkpoints on."""

import os
import signal
import subprocess
import sys
import time

# Stands in for train.py: says it is ready, then on SIGINT writes a file
# (train.py checkpoints there) and exits.
CHILD = """
import signal, sys, time
def stop(*_):
  open(sys.argv[1], "w").write("checkpointed")
  sys.exit(0)
signal.signal(signal.SIGINT, stop)
print("ready", flush=True)
time.sleep(60)
sys.exit(5)
"""

# Stands in for the runner: waits on the child as `train_to` does.
RUNNER = """
import subprocess, sys
from tfvocoder.evaluation import learning_curve
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]],
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
try:
  learning_curve._wait(child)
except learning_curve.CurveInterrupted as e:
  print("interrupted:", e, "child status", child.returncode, flush=True)
  sys.exit(3)
sys.exit(4)
"""


def test_sigterm_to_the_runner_stops_train_py_with_sigint(tmp_path):
  marker = tmp_path / "marker"
  runner = subprocess.Popen(
      [sys.executable, "-c", RUNNER, CHILD, str(marker)],
      stdout=subprocess.PIPE, text=True,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  child_pid = int(runner.stdout.readline())
  time.sleep(0.2)   # the runner is inside process.wait()
  runner.send_signal(signal.SIGTERM)
  out, _ = runner.communicate(timeout=60)
  assert runner.returncode == 3, out
  assert "rerun the same command to resume" in out
  assert "child status 0" in out
  assert marker.read_text() == "checkpointed"
  # The child is gone, not orphaned.
  assert not os.path.exists(f"/proc/{child_pid}")
