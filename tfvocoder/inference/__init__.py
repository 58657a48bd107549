"""Inference: exported models behind one interface, any-length vocoding.

  vocoder          `Vocoder`: stitching chunk outputs (exact or live)
  chunks           `plan_chunks`: generator calls with their receptive field
  live             `LiveEngine`: mel frames in, audio blocks at a fixed latency
  streaming        `StreamingVocoder`: live push/flush of a few frames at a time
  runtime          SavedModel / LiteRT runners behind one interface
  streaming_merge  the band merge on overlapping windows
  edge_correction  the exact band-edge correction for the streamed merge
  files            vocoding files: input loading, output naming, wav writes
"""

from tfvocoder.inference.chunks import Chunk, plan_chunks
from tfvocoder.inference.streaming import StreamingVocoder, stream_mel
from tfvocoder.inference.vocoder import Vocoder

__all__ = ["Chunk", "StreamingVocoder", "Vocoder", "plan_chunks",
           "stream_mel"]
