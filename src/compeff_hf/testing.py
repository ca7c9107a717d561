"""Tiny, randomly initialised models with a real (locally trained) tokenizer, for tests and benchmarks.

Nothing here downloads anything: the BPE tokenizer is trained in ~0.1 s on text written for the project, and the
models are built from a config with a couple of layers. Each architecture gets its family's REAL chat template
(Gemma-3-it, Qwen3, Llama-3.2), read at run time from the copies TRL ships in ``trl/chat_templates/``, so tests see
exactly what the released instruct models render (Qwen3's thinking block, Llama's dated system header).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

ARCHS: dict[str, dict[str, Any]] = {
    "gemma3": {"template": "gemma3.jinja", "bos": "<bos>", "eos": "<eos>", "eot": "<end_of_turn>"},
    "qwen3": {"template": "qwen3.jinja", "bos": None, "eos": "<|im_end|>", "eot": "<|im_end|>"},
    "llama": {"template": "llama3_2.jinja", "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "eot": "<|eot_id|>"},
}
SPECIAL_TOKENS = [
    "<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>",
    "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
]  # fmt: skip
# Tokens the real templates write that are not special in the released tokenizers (Qwen3's thinking block).
PLAIN_ADDED_TOKENS = ["<think>", "</think>"]


def family_chat_template(arch: str) -> str:
    """The released chat template of ``arch``'s instruct family, as shipped by the installed TRL package."""
    return resources.files("trl").joinpath("chat_templates", ARCHS[arch]["template"]).read_text(encoding="utf-8")


_CORPUS = [
    "The food was delicious and the staff were friendly, but the wait was far too long.",
    "I loved this movie: the acting is superb and the plot keeps you guessing until the end.",
    "Terrible product. It broke after two days and customer service never answered my emails.",
    "Great value for the price; the battery lasts all day and the screen is bright.",
    "Not sure how I feel about the new policy, it seems rushed and poorly explained.",
    "Please analyze the sentiment of this text and identify the aspects that are praised or criticised.",
    'Sentence: the pasta was cold. Label: negative. Output: [{"aspect_term": "pasta", "sentiment": "negative"}]',
    "Task: classify the emotion as anger, joy, sadness or optimism. Input: What a wonderful day! Output: joy",
    "Rate the intensity from 1 to 5. Irony, stance, intimacy, polarity, positive, negative, neutral, favor, against.",
]


def build_tokenizer(out_dir: str | Path, arch: str = "gemma3", vocab_size: int = 512) -> Path:
    """Train a byte-level BPE tokenizer (any text is encodable) and save it with the arch's chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    spec = ARCHS[arch]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec["bos"],
        eos_token=spec["eos"],
        pad_token="<pad>",
        unk_token="<unk>",
    )
    fast.add_tokens(PLAIN_ADDED_TOKENS)
    fast.chat_template = family_chat_template(arch)
    out = Path(out_dir)
    fast.save_pretrained(str(out))
    return out


def build_model(
    out_dir: str | Path,
    arch: str = "gemma3",
    num_layers: int = 2,
    hidden_size: int = 64,
    seed: int = 0,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Save a randomly initialised causal LM of the given family (plus its tokenizer) to ``out_dir``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    out = Path(out_dir)
    if tokenizer_dir is None:
        build_tokenizer(out, arch)
        tokenizer = AutoTokenizer.from_pretrained(str(out))
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        tokenizer.save_pretrained(str(out))
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2,
        "num_hidden_layers": num_layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": hidden_size // 4,
        "max_position_embeddings": 4096,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": True,
    }
    if arch == "gemma3":
        config = AutoConfig.for_model("gemma3_text", sliding_window=64, query_pre_attn_scalar=16, **common)
    elif arch == "qwen3":
        config = AutoConfig.for_model("qwen3", **common)
    elif arch == "llama":
        config = AutoConfig.for_model("llama", **common)
    else:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHS)}")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    eot = tokenizer.convert_tokens_to_ids(ARCHS[arch]["eot"])
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=sorted({tokenizer.eos_token_id, eot}),
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(str(out), safe_serialization=True)
    return out
