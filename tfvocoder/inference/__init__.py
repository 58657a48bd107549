"""Inference: exported models behind one interface, any-length vocoding.

  vocoder          `Vocoder`: chunk planning and stitching (exact or live)
  runtime          SavedModel / LiteRT runners behind one interface
  streaming_merge  the band merge on overlapping windows
  edge_correction  the exact band-edge correction for the streamed merge
  files            vocoding files: input loading, output naming, wav writes
"""

from tfvocoder.inference.vocoder import Chunk, Vocoder, plan_chunks

__all__ = ["Chunk", "Vocoder", "plan_chunks"]
