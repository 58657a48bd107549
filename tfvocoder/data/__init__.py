"""Data: audio files -> TFRecord shards -> tf.data batches.

  audio_io   decode / mix to mono / resample / validate one file (no TF)
  shards     the shard record format and the shard writer
  prepare    `python -m tfvocoder.data.prepare`: files -> shards + manifest
  synthetic  the built-in seeded synthetic music dataset
  pipeline   `make_dataset(...)`: shards -> {"mel", "audio", "bands"} batches

Nothing is imported here, so worker processes that import `audio_io` or
`prepare` never load TensorFlow.
"""
