"""Stage 6: publishing datasets and students to the Hub with cards."""
