"""Distil a teacher into a student by supervised fine-tuning on its responses (CompEffDist, sequence level).

Usage, one GPU or many (accelerate configs in recipes/accelerate_configs/):

    accelerate launch --config_file recipes/accelerate_configs/zero3.yaml recipes/sft.py \
        --config recipes/qwen3-4b/sft/config_full.yaml

On a laptop CPU, in minutes, with the embedded Gemma-3-270M:

    python recipes/sft.py --config recipes/quickstart/sft.yaml

Same as `compeff-hf train --config ...`. Every YAML key is a field of ScriptArguments, ModelArguments (TRL's
ModelConfig) or TrainConfig (TRL's SFTConfig with the paper's defaults); flags override the YAML.
"""

from __future__ import annotations

import sys

from compeff_hf import log
from compeff_hf.configs import RecipeParser
from compeff_hf.errors import CompEffError
from compeff_hf.train.config import train_config_classes
from compeff_hf.train.sft import main


def make_parser() -> RecipeParser:
    """The recipe parser: --config recipe.yaml plus one flag per dataclass field."""
    return RecipeParser(train_config_classes(), prog="recipes/sft.py", description=__doc__)


if __name__ == "__main__":
    log.setup()
    parser = make_parser()
    if "-h" in sys.argv or "--help" in sys.argv:
        parser.print_help()
        sys.exit(0)
    try:
        sys.exit(main(*parser.parse()))
    except CompEffError as err:
        print(f"recipes/sft.py: error: {err}", file=sys.stderr)
        sys.exit(2)
