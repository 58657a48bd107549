"""Griffin-Lim: the non-learned baseline vocoder any user could pick.

librosa's `feature.inverse.mel_to_audio` made explicit (so the random
phase initialisation can be seeded): the mel is inverted to a linear
magnitude spectrogram by non-negative least squares against the same Slaney
basis (`librosa.feature.inverse.mel_to_stft`, power 1.0: our mel is of the
*magnitude* STFT), then `librosa.griffinlim` runs `n_iter` iterations with
the config's n_fft, win_length, hop_length and Hann window.

Frame alignment: our log-mel frame t covers samples
`[t hop - pad, t hop - pad + n_fft)` with `pad = (n_fft - hop) / 2` (reflect
padding, no centring), which is librosa's `center=False` framing of the
padded signal, so Griffin-Lim runs with `center=False` and the result is
cropped by `pad` on both sides: exactly `frames * hop` samples, aligned
with the real audio.
"""

import librosa
import numpy as np

from tfvocoder.config import VocoderConfig

N_ITER = 32


def griffin_lim(log_mel: np.ndarray, config: VocoderConfig,
                n_iter: int = N_ITER, seed: int = 0) -> np.ndarray:
  """Vocode one log10-mel with Griffin-Lim.

  Args:
    log_mel: `[frames, n_mels]` float, `dsp.log_mel` of the audio.
    n_iter: Griffin-Lim iterations.
    seed: seeds the random initial phase (deterministic output).
  Returns:
    float32 `[frames * hop_length]` audio at `config.sample_rate`, clipped to
    [-1, 1].
  """
  log_mel = np.asarray(log_mel, np.float64)
  if log_mel.ndim != 2 or log_mel.shape[1] != config.n_mels:
    raise ValueError(f"log_mel must be [frames, {config.n_mels}]; got "
                     f"{log_mel.shape}")
  frames = log_mel.shape[0]
  magnitude = librosa.feature.inverse.mel_to_stft(
      (10.0 ** log_mel).T, sr=config.sample_rate, n_fft=config.n_fft,
      power=1.0, fmin=config.fmin, fmax=config.mel_fmax, htk=False,
      norm="slaney")
  pad = config.mel_padding
  audio = librosa.griffinlim(
      magnitude, n_iter=n_iter, hop_length=config.hop_length,
      win_length=config.win_length, n_fft=config.n_fft, window="hann",
      center=False, length=frames * config.hop_length + 2 * pad,
      random_state=np.random.default_rng(seed))
  audio = audio[pad:pad + frames * config.hop_length]
  return np.clip(audio, -1.0, 1.0).astype(np.float32)
