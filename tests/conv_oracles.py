"""Plain numpy convolutions: independent oracles for the model tests.

Single examples, channels last (`[time, channels]`), float64, written from
the textbook definitions (explicit loops over taps), sharing no code with
tfvocoder or Keras.
"""

import numpy as np


def leaky_relu(x, slope=0.2):
  return np.where(x >= 0, x, slope * x)


def pad(x, left, right, mode="constant"):
  return np.pad(x, ((left, right), (0, 0)), mode=mode)


def same_padding(kernel, stride, dilation=1):
  """TensorFlow SAME padding (left, right) for a length divisible by stride."""
  total = max((kernel - 1) * dilation + 1 - stride, 0)
  return total // 2, total - total // 2


def conv1d(x, w, b, stride=1, dilation=1, groups=1):
  """'valid' convolution: y[i, o] = b[o] + sum_j,c x[i*stride + j*dilation, c]
  w[j, c, o], channel groups contiguous. `w`: `[k, in / groups, out]`."""
  k, group_in, out = w.shape
  steps = (x.shape[0] - (k - 1) * dilation - 1) // stride + 1
  group_out = out // groups
  y = np.zeros((steps, out))
  for g in range(groups):
    xs = x[:, g * group_in:(g + 1) * group_in]
    ws = w[:, :, g * group_out:(g + 1) * group_out]
    for j in range(k):
      start = j * dilation
      y[:, g * group_out:(g + 1) * group_out] += (
          xs[start:start + stride * (steps - 1) + 1:stride] @ ws[j])
  return y + b


def conv_transpose1d(x, w, b, stride, crop_left, length):
  """Transposed convolution: input t adds x[t] w[j] to output t*stride + j,
  then `crop_left` samples are dropped and `length` kept (PyTorch's
  `padding`). `w`: `[k, out, in]` (Keras's layout)."""
  k = w.shape[0]
  full = np.zeros(((x.shape[0] - 1) * stride + k, w.shape[1]))
  for t in range(x.shape[0]):
    full[t * stride:t * stride + k] += np.einsum("c,koc->ko", x[t], w)
  return full[crop_left:crop_left + length] + b


def analysis(x, bank):
  """y[t, c] = sum_j x[t - taps//2 + j] bank[c, j] (zero outside)."""
  taps = bank.shape[1]
  left = taps // 2
  return np.stack([np.convolve(x, f[::-1])[taps - 1 - left:
                                            taps - 1 - left + len(x)]
                   for f in bank], axis=-1)


def synthesis(y, bank):
  """The adjoint of `analysis`:
  s[n] = sum_c,j bank[c, j] y[n + taps//2 - j, c]."""
  left = bank.shape[1] // 2
  total = sum(np.convolve(y[:, c], bank[c]) for c in range(bank.shape[0]))
  return total[left:left + y.shape[0]]


def weight_norm(v, g, transpose=False):
  """g * v / ||v||, the norm per output channel (axis 2 of a conv kernel,
  axis 1 of a transposed one)."""
  axes = (0, 2) if transpose else (0, 1)
  norm = np.sqrt(np.sum(v ** 2, axis=axes, keepdims=True))
  shape = (1, -1, 1) if transpose else (1, 1, -1)
  return v * np.reshape(g, shape) / norm


def avg_pool(x, pool, stride):
  """Average over the window [i*stride - left, ... + pool) clipped to the
  signal (padding not counted), TensorFlow SAME placement."""
  left = same_padding(pool, stride)[0]
  steps = -(-x.shape[0] // stride)
  out = np.zeros((steps, x.shape[1]))
  for i in range(steps):
    lo = max(i * stride - left, 0)
    hi = min(i * stride - left + pool, x.shape[0])
    out[i] = x[lo:hi].mean(axis=0)
  return out
