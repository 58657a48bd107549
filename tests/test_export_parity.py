"""`tfvocoder.export.parity`: the figures the export report gives."""

import numpy as np

from tfvocoder.export import parity


def test_boundary_errors_split_near_and_far_from_block_edges():
  hop = 4
  reference = np.zeros(5 * hop)
  estimate = reference.copy()
  estimate[7] = 0.5           # within one frame of the boundary at frame 2
  estimate[17] = -0.25        # 9 samples past it: elsewhere
  errors = parity.boundary_errors(reference, estimate, [2], hop)
  assert errors == {"boundary_max_abs_diff": 0.5, "other_max_abs_diff": 0.25}
  # The zone is [frame - 1, frame + 1) frames: sample 12 is outside it.
  estimate[7], estimate[12] = 0.0, 1.0
  errors = parity.boundary_errors(reference, estimate, [2], hop)
  assert errors == {"boundary_max_abs_diff": 0.0, "other_max_abs_diff": 1.0}


def test_boundary_errors_without_boundaries():
  errors = parity.boundary_errors(np.ones(8), np.array([1.0] * 7 + [3.0]),
                                  [], 4)
  assert errors == {"boundary_max_abs_diff": 0.0, "other_max_abs_diff": 2.0}
