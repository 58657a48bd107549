"""tfvocoder: a TensorFlow/Keras music vocoder (log-mel -> 22 050 Hz audio)."""

from tfvocoder.config import VocoderConfig

__all__ = ["VocoderConfig"]
__version__ = "0.1.0"
