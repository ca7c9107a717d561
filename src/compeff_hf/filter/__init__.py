"""Stage 3: difficulty-based data filtering (method.md section 3)."""
