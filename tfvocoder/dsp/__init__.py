"""Pure signal functions: TensorFlow ops on the tensor path, numpy constants.

  mel            STFT magnitude and log-mel (the conditioning)
  bands          `band_bins` (which band owns which rFFT bin), split / merge
  builtin_merge  the merge without irfft, for TFLite and SavedModel graphs
  filter_banks   Morlet bank design, frozen-bank analysis / synthesis ops

Shapes: `audio [batch, samples]` float32 at `config.sample_rate` Hz;
`mel [batch, frames, n_mels]` with `frames = samples / hop_length`; bands are
a list of `n_bands` tensors `[batch, samples / 2**k]`, largest band first.

The names below (`dsp.log_mel`, ...) load their module on first use, so that
`tfvocoder.dsp.bands` can serve the TFLite runtime without TensorFlow.
"""

import importlib

# Public name -> the module of this package that defines it.
_OWNERS = {
    "band_bin_ranges": "bands", "band_bins": "bands",
    "merge_bands": "bands", "split_bands": "bands",
    "band_filter_bank": "filter_banks",
    "filter_bank_analysis": "filter_banks",
    "filter_bank_analysis_polyphase": "filter_banks",
    "filter_bank_synthesis": "filter_banks",
    "filter_bank_synthesis_polyphase": "filter_banks",
    "morlet_filter_bank": "filter_banks",
    "log_mel": "mel", "log_mel_blocks": "mel", "mel_basis": "mel",
    "stft_magnitude": "mel",
}

__all__ = sorted(_OWNERS)


def __getattr__(name: str):
  """`dsp.<name>` for the names of `__all__` and the submodules (PEP 562)."""
  if name in _OWNERS:
    value = getattr(importlib.import_module(f"{__name__}.{_OWNERS[name]}"),
                    name)
  elif name in ("bands", "builtin_merge", "filter_banks", "mel"):
    value = importlib.import_module(f"{__name__}.{name}")
  else:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(__all__))
