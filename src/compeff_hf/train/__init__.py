"""Stage 4: TRL distillation (supervised fine-tuning on teacher responses)."""
