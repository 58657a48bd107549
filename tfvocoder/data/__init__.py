"""Data: audio files -> TFRecord shards -> tf.data batches.

  audio_io   decode / mix to mono / resample / validate one file (no TF)
  music      the built-in seeded synthetic music generator (numpy): a score
             (`score_parts`: bass, chords, melody, counter, drums) played
             by `instruments` and `drums` (built from `synth`'s
             primitives) in a room (`rooms`)
  sources    what to prepare: file trees, MusicNet folders, synthetic
             music; their splits; `prepare_dir`, `ensure_synthetic_dataset`
  shards     the shard record format and the shard writer
  build      the resumable engine: source specs -> shards + manifest
  worker_pool  the spawn decode pool (no TensorFlow), results in order
  prepare    the command line, `python -m tfvocoder.data.prepare`
  pipeline   `make_dataset(...)`: shards -> {"mel", "audio", "bands"} batches

Imports run one way: prepare -> sources -> build -> shards, audio_io,
worker_pool;
sources -> music -> score_parts, instruments, drums, rooms -> synth.
Nothing is imported here, and only `pipeline` (and the shard writer, when it
is created) imports TensorFlow, so `prepare`'s worker processes never load
it.
"""
