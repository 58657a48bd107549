"""Pure signal functions: TensorFlow ops on the tensor path, numpy constants.

  mel            STFT magnitude and log-mel (the conditioning)
  bands          `band_bins` (which band owns which rFFT bin), split / merge
  builtin_merge  the merge without irfft, for TFLite and SavedModel graphs
  filter_banks   Morlet bank design, frozen-bank analysis / synthesis ops

Shapes: `audio [batch, samples]` float32 at `config.sample_rate` Hz;
`mel [batch, frames, n_mels]` with `frames = samples / hop_length`; bands are
a list of `n_bands` tensors `[batch, samples / 2**k]`, largest band first.
"""

from tfvocoder.dsp.bands import band_bin_ranges, merge_bands, split_bands
from tfvocoder.dsp.filter_banks import (band_filter_bank, filter_bank_analysis,
                                        filter_bank_analysis_polyphase,
                                        filter_bank_synthesis,
                                        filter_bank_synthesis_polyphase,
                                        morlet_filter_bank)
from tfvocoder.dsp.mel import log_mel, mel_basis, stft_magnitude

__all__ = [
    "band_bin_ranges", "band_filter_bank", "filter_bank_analysis",
    "filter_bank_analysis_polyphase", "filter_bank_synthesis",
    "filter_bank_synthesis_polyphase", "log_mel", "mel_basis", "merge_bands",
    "morlet_filter_bank", "split_bands", "stft_magnitude",
]
