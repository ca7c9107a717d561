"""Stage 5: SentiBench evaluation with the published protocol."""
