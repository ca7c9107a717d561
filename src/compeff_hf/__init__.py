"""compeff-hf: comprehensive and efficient distillation of sentiment analysis, the Hugging Face way."""

__version__ = "0.1.0"
