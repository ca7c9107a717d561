"""`make mutation` (scripts/mutation.sh) runs each core module against its own tests; a module whose test file the
selection misses scores low for the wrong reason (its mutants meet no test), so the selection is checked here."""

from __future__ import annotations

import glob
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[tuple[str, str, list[str]]]:
    text = (ROOT / "scripts" / "mutation.sh").read_text()
    block = re.search(r'^MODULES="\n(.*?)^"', text, re.S | re.M).group(1)
    rows = []
    for line in block.strip().splitlines():
        name, module, tests, *_ = line.split("|")
        rows.append((name, module, tests.split()))
    return rows


def test_every_listed_module_exists_and_every_test_file_named_after_it_is_selected():
    rows = _modules()
    assert {r[0] for r in rows} == {"select", "scores", "scoring", "metrics", "parsers", "client", "stage", "redact"}
    for name, module, patterns in rows:
        files = glob.glob(str(ROOT / module))
        assert files, f"{name}: {module} matches no file"
        selected = {Path(f).resolve() for p in patterns for f in glob.glob(str(ROOT / p))}
        assert all(glob.glob(str(ROOT / p)) for p in patterns), f"{name}: a test pattern matches nothing"
        stem = Path(module.rstrip("/*")).stem  # select, scores, scoring, metrics, parsers, client, stage, redact
        # tests mirror src/: the test folder of src/compeff_hf/<package>/... is tests/<package>/
        rel = Path(module.rstrip("/*")).relative_to("src/compeff_hf")
        folder = ROOT / "tests" / (rel.parts[0] if len(rel.parts) > 1 else "")
        named = {p.resolve() for p in folder.glob(f"test_*{stem}*.py")}
        assert named <= selected, f"{name}: not selected: {sorted(str(p.relative_to(ROOT)) for p in named - selected)}"
