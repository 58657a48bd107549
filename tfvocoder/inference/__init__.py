"""Inference: exported models behind one interface, any-length vocoding.

  vocoder          `Vocoder`: chunk planning and stitching (exact or live)
  streaming        `StreamingVocoder`: live push/flush of a few frames at a time
  runtime          SavedModel / LiteRT runners behind one interface
  streaming_merge  the band merge on overlapping windows
  edge_correction  the exact band-edge correction for the streamed merge
  files            vocoding files: input loading, output naming, wav writes
"""

from tfvocoder.inference.streaming import StreamingVocoder, stream_mel
from tfvocoder.inference.vocoder import Chunk, Vocoder, plan_chunks

__all__ = ["Chunk", "StreamingVocoder", "Vocoder", "plan_chunks",
           "stream_mel"]
