"""Export of a multiscale generator with every generator-side recipe lever:
weight norm (folded), Snake (SIN is a builtin TFLite op), band scaling."""

import os

import numpy as np
import tensorflow as tf

from tfvocoder.models.activations import Snake
from tfvocoder.models.layers import WeightNormalization
from vocoder_models import exported, music_mel

LEVERS = dict(gen_weight_norm=True, activation="snake", band_scaling=True)
# Two bands: half the graph of five, so the conversions take half as long.
TWO_BANDS = dict(n_bands=2, band_factors=((4, 4, 4, 4), (4, 4, 4, 2)))


def test_levers_export_with_parity(tmp_path_factory):
  out_dir, report, generator, config = exported(
      tmp_path_factory, "multiscale", **LEVERS, **TWO_BANDS)
  assert all(getattr(config, k) == v for k, v in LEVERS.items())
  layers = generator._flatten_layers()  # pylint: disable=protected-access
  wn = [layer for layer in layers if isinstance(layer, WeightNormalization)]
  assert len(wn) == sum(len(row) + 1 for row in config.band_factors)
  assert any(isinstance(layer, Snake) for layer in layers)
  # The export's own parity checks (SavedModel <= 1e-5, TFLite fp32 and
  # fp16 chunk and stream SNR >= 40 / 30 dB) all pass.
  assert report["parity"] and all(p["ok"] for p in report["parity"].values())
  assert report["parity"]["tflite_fp32"]["chunk_snr_db"] >= 40
  # Folded: a plain kernel and bias per conv, no g; alphas and banks kept.
  assert report["files"]["saved_model"]["variables"] == (
      len(generator.weights) - len(wn))
  assert "SIN" in report["files"]["vocoder_fp32.tflite"]["ops"]
  loaded = tf.saved_model.load(os.path.join(out_dir, "saved_model"))
  mel = music_mel(config, 24, seed=3)[None]
  bands = loaded.signatures["bands"](mel=tf.constant(mel))
  for k, band in enumerate(generator(mel)):
    np.testing.assert_allclose(bands[f"band_{k}"].numpy(), band.numpy(),
                               rtol=0, atol=1e-5 * np.abs(band).max())
