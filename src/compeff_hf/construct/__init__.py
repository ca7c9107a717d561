"""Stage 1: attribute-based automatic instruction construction (method.md section 2)."""
