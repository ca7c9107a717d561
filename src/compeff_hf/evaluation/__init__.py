"""Stage 5: SentiBench evaluation with the published protocol."""

from .report import markdown_table, model_index_results

__all__ = ["markdown_table", "model_index_results"]
