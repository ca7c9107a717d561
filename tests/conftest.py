"""Shared fixtures: tiny random models with a real tokenizer, the embedded model, the SentiBench data."""

from __future__ import annotations

import os
from pathlib import Path

# Before any Hugging Face import: no telemetry, and a Hub endpoint that refuses at once, so a test that would
# reach the real Hub fails fast instead of retrying for a minute. Never HF_HUB_OFFLINE: it also blocks
# InferenceClient calls to servers on 127.0.0.1.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("COMPEFF_HF_NO_PROGRESS", "1")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# construct and filter decontaminate against SentiBench by default; they find it where the fixture below does.
if (REPO_ROOT.parent / "shared" / "sentibench").is_dir():
    os.environ.setdefault("SENTIBENCH_DIR", str(REPO_ROOT.parent / "shared" / "sentibench"))


def missing_prerequisite(message: str) -> None:
    """Skip locally; under CI=true fail, so that a missing prerequisite cannot pass as a green run."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing in CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def tiny_model_factory(tmp_path_factory):
    """Build (once per session and arch) a 2-layer random model: arch in {'gemma3', 'qwen3', 'llama'}."""
    from compeff_hf.testing import build_model

    cache: dict[str, Path] = {}

    def make(arch: str = "gemma3") -> Path:
        if arch not in cache:
            cache[arch] = build_model(tmp_path_factory.mktemp(f"tiny-{arch}"), arch=arch)
        return cache[arch]

    return make


@pytest.fixture(scope="session")
def tiny_gemma(tiny_model_factory) -> Path:
    return tiny_model_factory("gemma3")


@pytest.fixture(scope="session")
def tiny_qwen(tiny_model_factory) -> Path:
    return tiny_model_factory("qwen3")


@pytest.fixture(scope="session")
def tiny_llama(tiny_model_factory) -> Path:
    return tiny_model_factory("llama")


@pytest.fixture(scope="session")
def gemma_270m() -> Path:
    """The embedded Gemma-3-270M as a safetensors folder (converted once into the user cache)."""
    from compeff_hf.models import resolve_model

    return Path(resolve_model("gemma-3-270m"))


@pytest.fixture(scope="session")
def sentibench_dir() -> Path:
    """The real SentiBench data beside the checkout (../shared/sentibench), or $SENTIBENCH_DIR."""
    path = Path(os.environ.get("SENTIBENCH_DIR", REPO_ROOT.parent / "shared" / "sentibench"))
    if not (path / "MANIFEST.tsv").exists():
        missing_prerequisite(f"SentiBench data not found at {path}: run `make sentibench` or set SENTIBENCH_DIR")
    return path
