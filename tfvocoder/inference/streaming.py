"""Live streaming: log-mel frames in a few at a time, final audio out.

A model upstream produces mel frames a few at a time, and audio must start
playing before the whole mel exists:

  streamer = StreamingVocoder("exported/vocoder_fp32.tflite")
  for frames in upstream:                  # [n, n_mels] float32 log10-mel
    play(streamer.push(frames))            # 1-D float32 at 22 050 Hz
  play(streamer.flush())

Latency rule: after `k` frames have been pushed in all (in any pieces, 0
frames included), exactly `max(0, k - latency_frames) * hop_length` samples
have been returned in all: frame f's audio comes out with the push that
brings frame `f + latency_frames`. `flush()` returns the other
`k * hop_length - returned` samples. So past the first `latency_frames`
frames every push of n frames returns n frames of audio.

The audio is `Vocoder(path, live=True).vocode(mel)` of the whole mel, bit
for bit however the mel is cut into pushes (both run `live.LiveEngine`).
For MelGAN that is the exact output (equal to one-shot generation); for the
multiscale model it is the live merge, which leaves out the exact
band-edge correction that needs the whole input (see
`tfvocoder.inference.streaming_merge`).

Work is done in blocks: the push that completes a block (a multiscale merge
core, `merge_frames / 2` frames; MelGAN: what a chunk keeps, `chunk_frames
- 2 R`) runs one generator chunk (and one merge window); the other pushes
only hand out audio computed before. Latency is set by the export's chunk
sizes: multiscale `3/4 merge_frames + R - 1` frames, MelGAN
`chunk_frames - 1` (R the receptive field; `latency_ms` in milliseconds).
Memory is bounded however long the stream runs: a chunk of mel, a merge
window of bands and a block of audio (`buffer_bytes`).
"""

from typing import Iterator, List, Optional

import numpy as np

from tfvocoder.inference.live import LiveEngine
from tfvocoder.inference.vocoder import Vocoder


class StreamingVocoder:
  """Vocodes a log-mel pushed a few frames at a time (module docstring).

  Args:
    model_path: `.tflite` file (with its export_config.json), SavedModel
      dir or export dir, as for `Vocoder`.
    num_threads: TFLite interpreter threads.
    chunk_frames, merge_frames, merge_core_frames: as for `Vocoder` (a
      TFLite file fixes the first two).
  """

  def __init__(self, model_path: str, num_threads: int = 2,
               chunk_frames: Optional[int] = None,
               merge_frames: Optional[int] = None,
               merge_core_frames: Optional[int] = None):
    self.vocoder = Vocoder(model_path, num_threads=num_threads,
                           chunk_frames=chunk_frames,
                           merge_frames=merge_frames,
                           merge_core_frames=merge_core_frames, live=True)
    self.config = self.vocoder.config
    self.reset()

  # --- properties ----------------------------------------------------------
  @property
  def sample_rate(self) -> int:
    return self.config.sample_rate

  @property
  def hop_length(self) -> int:
    """Audio samples per mel frame."""
    return self.config.hop_length

  @property
  def latency_frames(self) -> int:
    """Frames the audio lags the pushed mel (the latency rule above)."""
    return self._engine.latency_frames

  @property
  def latency_ms(self) -> float:
    """`latency_frames` in milliseconds of audio (algorithmic latency)."""
    return 1000.0 * self.latency_frames * self.hop_length / self.sample_rate

  @property
  def buffer_bytes(self) -> int:
    """Bytes of mel, bands and audio held between pushes (bounded)."""
    chunks, merge = self._engine.chunks, self._engine.merge
    arrays = [chunks.mel, *chunks.pieces, *self._ready]
    arrays += merge.buffer if merge is not None else []
    return sum(a.nbytes for a in arrays)

  # --- streaming -------------------------------------------------------------
  def reset(self) -> None:
    """Starts a new stream (the model stays loaded)."""
    self._engine = LiveEngine(self.vocoder)
    self._ready: List[np.ndarray] = []     # computed audio not yet returned
    self.frames_pushed = 0
    self.samples_returned = 0
    self.flushed = False

  def push(self, frames) -> np.ndarray:
    """Takes the next mel frames; returns the audio now final.

    Args:
      frames: `[n, n_mels]` or `[1, n, n_mels]` log10-mel frames, n >= 0,
        finite, float32 (any real dtype is converted). Copied: the caller
        may reuse its buffer.
    Returns:
      float32 audio `[samples]`, 1-D: `max(0, k - latency_frames) *
      hop_length` samples in all after k frames (module docstring).
    Raises:
      ValueError: a bad shape, dtype or value (nothing is taken), or a push
        after `flush` (until `reset`).
    """
    if self.flushed:
      raise ValueError("push after flush: the stream has ended; call "
                       "reset() to start a new one")
    x = self._checked(frames)
    self._ready += self._engine.feed(x)
    self.frames_pushed += len(x)
    due = max(0, self.frames_pushed - self.latency_frames) * self.hop_length
    return self._release(due - self.samples_returned)

  def flush(self) -> np.ndarray:
    """Ends the stream; returns the rest of the audio, float32 `[samples]`
    (`frames_pushed * hop_length - samples_returned` samples)."""
    if self.flushed:
      raise ValueError("flush after flush: the stream has ended; call "
                       "reset() to start a new one")
    self.flushed = True
    self._ready += self._engine.finish()
    return self._release(
        self.frames_pushed * self.hop_length - self.samples_returned)

  def _checked(self, frames) -> np.ndarray:
    """`frames` as a float32 copy `[n, n_mels]`; ValueError if unfit."""
    n_mels = self.config.n_mels
    expected = (f"mel frames must be a finite real [n, {n_mels}] or "
                f"[1, n, {n_mels}] array")
    try:
      x = np.asarray(frames)
    except (ValueError, TypeError) as e:
      raise ValueError(f"{expected}; got {type(frames).__name__} ({e})")
    if x.dtype.kind not in "fiu":
      raise ValueError(f"{expected}; got dtype {x.dtype}")
    if x.ndim == 3 and x.shape[0] == 1:
      x = x[0]
    if x.ndim != 2 or x.shape[1] != n_mels:
      raise ValueError(f"{expected}; got shape {tuple(np.shape(frames))}")
    x = np.array(x, np.float32)
    bad = ~np.all(np.isfinite(x), axis=1)
    if bad.any():
      raise ValueError(f"{expected}; got NaN/inf in frame "
                       f"{self.frames_pushed + int(np.argmax(bad))} of the "
                       "stream")
    return x

  def _release(self, samples: int) -> np.ndarray:
    """The next `samples` samples of computed audio, 1-D float32."""
    out, have = [], 0
    while have < samples:
      block = self._ready.pop(0)
      if have + len(block) > samples:
        block, rest = block[:samples - have], block[samples - have:]
        self._ready.insert(0, rest)
      out.append(block)
      have += len(block)
    self.samples_returned += samples
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def stream_mel(streamer: StreamingVocoder, mel, push_frames: int = 1
               ) -> Iterator[np.ndarray]:
  """Pushes `mel` to `streamer` `push_frames` frames at a time, then
  flushes: a live stream simulated from a whole mel.

  Args:
    streamer: a fresh (or `reset`) stream.
    mel: `[frames, n_mels]` log-mel, any array with random access (e.g. a
      memory-mapped `.npy`: memory stays flat).
    push_frames: frames per push, >= 1.
  Yields:
    What each push and the flush return (1-D float32, empty ones skipped);
    concatenated: `Vocoder(path, live=True).vocode(mel)`.
  """
  if push_frames < 1:
    raise ValueError(f"push_frames must be >= 1; got {push_frames}")
  for start in range(0, len(mel), push_frames):
    audio = streamer.push(mel[start:start + push_frames])
    if len(audio):
      yield audio
  audio = streamer.flush()
  if len(audio):
    yield audio
