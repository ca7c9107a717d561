"""`compeff-hf run` end to end on a tiny configuration: a clean run, and a run SIGKILLed in several stages.

The tiny random model plays generator, teacher, scorer and student, served by the embedded server; everything is
greedy so that two runs must agree. The killed run is resumed until it finishes and must end with the same
outputs as the clean run, with no teacher request sent twice for a finished row.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from compeff_hf.construct.pipeline import sample_texts_path

REPO = Path(__file__).resolve().parents[1]
HELD_OUT = 3

pytestmark = pytest.mark.slow


def run_args(out: Path, model: Path, sentibench: Path) -> list[str]:
    # A held-out set holding 3 of the built-in sample texts: construct must drop them before sampling its 6 texts.
    heldout = out.parent / "heldout.jsonl"
    heldout.write_text("".join(sample_texts_path().read_text().splitlines(keepends=True)[:HELD_OUT]))
    overrides = [
        f"construct.model={model}",
        "construct.max_texts=6",
        "construct.temperature=0",
        "construct.attribute_max_new_tokens=24",
        "construct.analysis_max_new_tokens=24",
        "construct.ideation_max_new_tokens=24",
        "construct.spec_max_new_tokens=24",
        "construct.demo_max_new_tokens=24",
        "construct.min_attribute_count=1",
        "construct.min_attributes=4",
        "construct.max_perspectives=2",
        "construct.demo_requests_per_task=1",
        f"construct.decontaminate_eval_sets={heldout}",
        f"teacher.model={model}",
        "teacher.temperature=0",
        "teacher.max_new_tokens=12",
        f"filter.scorer_model={model}",
        "filter.keep_ratio=0.5",
        f"train.model_name_or_path={model}",
        "train.num_train_epochs=1",
        "train.max_length=512",
        "train.per_device_train_batch_size=2",
        f"eval.data_dir={sentibench}",
        "eval.datasets=sst2 atsa_rest16",
        "eval.limit=2",
        "eval.seeds=42",
        "eval.batch_size=4",
    ]
    return [
        sys.executable, "-m", "compeff_hf.cli", "run", "--config", "recipes/quickstart/run.yaml",
        "--output_dir", str(out), "--overrides", *overrides,
    ]  # fmt: skip


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(PYTHONUNBUFFERED="1", COMPEFF_HF_NO_PROGRESS="1")
    return e


def start(args: list[str], log: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    # A new session, so SIGKILL to the group takes the embedded server down too, as a machine crash would.
    return subprocess.Popen(
        args,
        cwd=REPO,
        env={**env(), **(extra_env or {})},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


# A kill point planted in every process of the run (the stages' distilabel workers too, through a sitecustomize
# module on PYTHONPATH): the run SIGKILLs its own process group (the embedded server too) right after the Nth ledger
# row of a stage is written in one process, or right after a stage claims its folder. The kill point is an event of
# the run itself, not a timer, so it can never race the stage finishing.
_KILL_AT = """
import os
spec = os.environ.get("COMPEFF_HF_TEST_KILL_AT")
if spec:
    import signal
    from compeff_hf import stage
    kind, target, n = spec.split(":")
    if kind == "rows":
        append, seen = stage.Ledger.append, [0]
        def killing_append(self, row):
            append(self, row)
            if f"/{target}/_ledger/" in str(self.path):
                seen[0] += 1
                if seen[0] >= int(n):
                    os.killpg(0, signal.SIGKILL)
        stage.Ledger.append = killing_append
    else:
        prepare = stage.StageDir.prepare
        def killing_prepare(self, overwrite=False):
            skip = prepare(self, overwrite)
            if self.root.name == target and not skip:
                os.killpg(0, signal.SIGKILL)
            return skip
        stage.StageDir.prepare = killing_prepare
"""


def run_killed_at(args: list[str], log: Path, kind: str, target: str, n: int = 1) -> None:
    """Run with a kill point (see _KILL_AT); fails if the run ends without reaching it."""
    hook = log.parent / "killpoint"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_KILL_AT)
    extra = {"COMPEFF_HF_TEST_KILL_AT": f"{kind}:{target}:{n}"}
    extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p)
    proc = start(args, log, extra)
    assert proc.wait(timeout=1500) == -signal.SIGKILL, f"kill point {kind} {target} never reached"


def ledger_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def rows(folder: Path) -> list[dict]:
    import datasets

    files = sorted(str(p) for p in folder.glob("*.parquet"))
    return datasets.load_dataset("parquet", data_files=files, split="train").to_list() if files else []


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, tiny_gemma, sentibench_dir):
    out = tmp_path_factory.mktemp("clean") / "run"
    log = out.parent / "log.txt"
    proc = start(run_args(out, tiny_gemma, sentibench_dir), log)
    assert proc.wait(timeout=1500) == 0, log.read_text()[-4000:]
    return out


def test_clean_run_writes_every_stage_and_the_report(clean_run):
    manifest = json.loads((clean_run / "manifest.json").read_text())
    assert [s for s, v in manifest["stages"].items() if v["status"] == "done"] == [
        "construct", "teacher", "filter", "eval_base", "train", "eval",
    ]  # fmt: skip
    instructions = rows(clean_run / "construct" / "data")
    assert instructions and all(r["messages"] for r in instructions)
    answered = rows(clean_run / "teacher" / "data")
    assert len(answered) == len(instructions)
    assert 0 < len(rows(clean_run / "filter" / "data")) < len(answered)
    assert (clean_run / "train" / "model.safetensors").exists()
    assert json.loads((clean_run / "eval" / "results.json").read_text())
    report = (clean_run / "report.md").read_text()
    for section in ("## Stages", "## Perspectives", "## Difficulty and selection", "## Training", "## SentiBench"):
        assert section in report
    assert "has not run" not in report
    # the pinned distilabel's import-time pydantic noise stays out of the user's console, worker processes included
    assert "UnsupportedFieldAttributeWarning" not in (clean_run.parent / "log.txt").read_text()
    # noise-aware: every before/after change has its paired-bootstrap interval, verdict and item count (issue #18)
    changes = [line for line in report.splitlines() if line.startswith(("| sst2 |", "| atsa_rest16 |", "| average |"))]
    assert len(changes) == 3 and all(line.count(" to ") == 1 for line in changes), changes
    assert changes[-1].endswith("| 4 |") and "paired bootstrap" in report


def summaries(run: Path) -> dict[str, dict]:
    return {
        s: json.loads((run / s / "summary.json").read_text())
        for s in json.loads((run / "manifest.json").read_text())["stages"]
    }


def test_stage_counts_agree_with_each_other_and_with_the_data(clean_run):
    s = summaries(clean_run)
    construct, teacher, filt, train = s["construct"], s["teacher"], s["filter"], s["train"]
    instructions, answered = rows(clean_run / "construct" / "data"), rows(clean_run / "teacher" / "data")
    texts = construct["substages"]["texts"]
    assert texts["texts"] == len(rows(clean_run / "construct" / "texts")) == 6  # construct.max_texts=6
    assert construct["rows"] == construct["substages"]["assemble"]["data"] == len(instructions)
    assert {r["text_id"] for r in instructions} <= {t["id"] for t in rows(clean_run / "construct" / "texts")}
    checked = construct["decontamination"]["phases"]
    assert checked["texts"]["rows_dropped"] == checked["texts"]["per_test_set"]["heldout"] == HELD_OUT
    assert sum(r["kind"] == "contamination" for r in rows(clean_run / "construct" / "rejected")) == HELD_OUT
    assert (
        checked["texts"]["rows_checked"] == texts["read"] - texts["rejected_texts"] + checked["texts"]["rows_dropped"]
    )
    assert checked["instructions"]["rows_checked"] == construct["rows"] + checked["instructions"]["rows_dropped"]
    assert teacher["rows_in"] == teacher["rows_out"] == len(answered) == len(instructions) and teacher["failed"] == 0
    assert {r["id"] for r in answered} == {r["id"] for r in instructions}
    dropped = filt["decontamination"]["rows_dropped"]
    assert filt["rows_in"] + dropped == len(answered) == filt["decontamination"]["phases"]["rows"]["rows_checked"]
    scored, kept = rows(clean_run / "filter" / "scored"), rows(clean_run / "filter" / "data")
    assert len(scored) == filt["rows_in"] and sum(r["selected"] for r in scored) == filt["rows_kept"] == len(kept)
    assert sum(h["n"] for h in filt["histograms"].values()) == filt["rows_in"]
    assert sum(h["kept"] for h in filt["histograms"].values()) == filt["rows_kept"]
    assert train["rows"] == train["data_stats"]["rows_in"] == len(kept)
    for stage in ("eval_base", "eval"):
        results = json.loads((clean_run / stage / "results.json").read_text())
        assert results["n_items"] == {"sst2": 2, "atsa_rest16": 2}  # eval.limit=2 over the two named datasets
        assert results["protocol"]["seeds"] == [42] and results["protocol"]["limit"] == 2
        means = {n: d["mean"] for n, d in results["scores"]["datasets"].items()}
        for d in results["scores"]["datasets"].values():
            assert d["mean"] == pytest.approx(100 * d["per_seed"]["42"]["score"]) and 0 <= d["mean"] <= 100
        assert results["scores"]["average"] == pytest.approx(sum(means.values()) / 2)
        assert s[stage]["average"] == round(results["scores"]["average"], 2) and s[stage]["datasets"] == 2


def test_report_figures_equal_the_stage_summaries(clean_run):
    from compeff_hf.decontaminate.render import headline

    s = summaries(clean_run)
    report = (clean_run / "report.md").read_text()
    teacher = s["teacher"]
    assert f"| teacher | {teacher['wall_time_s']:.0f} s | {teacher['requests']} | " in report
    assert f"| {teacher['prompt_tokens'] + teacher['completion_tokens']} |" in report.split("| teacher |", 1)[1]
    assert f"| train | {s['train']['wall_time_s']:.0f} s | 0 | {s['train']['train_tokens']} |" in report
    for kind, h in s["filter"]["histograms"].items():
        assert f"| {kind} | {h['n']} | {h['kept']} |" in report
    assert f"Loss went from {s['train']['first_loss']:.3f}" in report
    assert f"to {s['train']['final_loss']:.3f}" in report
    before, after = (
        json.loads((clean_run / st / "results.json").read_text())["scores"] for st in ("eval_base", "eval")
    )
    table = report.split("## SentiBench", 1)[1]
    for name in ("sst2", "atsa_rest16", "average"):
        b = before["average"] if name == "average" else before["datasets"][name]["mean"]
        a = after["average"] if name == "average" else after["datasets"][name]["mean"]
        cells = [
            c.strip() for c in next(line for line in table.splitlines() if line.startswith(f"| {name} |")).split("|")
        ]
        assert cells[2].split()[0] == f"{b:.1f}" and cells[3].split()[0] == f"{a:.1f}", cells
    decontamination = report.split("## Decontamination", 1)[1]
    for stage in ("construct", "filter"):
        assert f"- **{stage}**: {headline(s[stage]['decontamination'])}." in decontamination
    phases = s["construct"]["decontamination"]["phases"]
    assert (
        f"checked {phases['texts']['rows_checked']} texts, {phases['instructions']['rows_checked']} instructions"
        in (decontamination)
    )
    assert (
        f"checked {s['filter']['decontamination']['phases']['rows']['rows_checked']} rows against 12"
        in decontamination
    )


def test_rerun_is_a_no_op(clean_run, tiny_gemma, sentibench_dir):
    teacher_ledger = clean_run / "teacher" / "_ledger"
    before = {p.name: p.read_bytes() for p in teacher_ledger.glob("*.jsonl")}
    out = subprocess.run(
        run_args(clean_run, tiny_gemma, sentibench_dir), cwd=REPO, env=env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "skipping" in out.stdout + out.stderr
    assert {p.name: p.read_bytes() for p in teacher_ledger.glob("*.jsonl")} == before


def test_sigkill_in_each_stage_resumes_to_the_same_outputs(clean_run, tmp_path, tiny_gemma, sentibench_dir):
    out = tmp_path / "run"
    log = tmp_path / "log.txt"
    args = run_args(out, tiny_gemma, sentibench_dir)

    run_killed_at(args, log, "rows", "construct", 3)
    run_killed_at(args, log, "rows", "teacher", 2)
    run_killed_at(args, log, "claim", "train")
    run_killed_at(args, log, "claim", "eval")
    final = start(args, log)
    assert final.wait(timeout=1500) == 0, log.read_text()[-4000:]

    # Every finished teacher request is in the ledger exactly once: a rerun never asked for it again.
    for ledger in (out / "teacher" / "_ledger").glob("*.jsonl"):
        counts = Counter(r["id"] for r in ledger_lines(ledger) if r.get("status") == "ok")
        assert counts and max(counts.values()) == 1, ledger
    key = lambda r: r["id"]  # noqa: E731
    for stage in ("construct", "teacher", "filter"):
        got = sorted(rows(out / stage / "data"), key=key)
        want = sorted(rows(clean_run / stage / "data"), key=key)
        assert [r["id"] for r in got] == [r["id"] for r in want], stage
        if stage == "teacher":
            assert [r["output"] for r in got] == [r["output"] for r in want]
    assert (out / "train" / "model.safetensors").exists()
    assert (out / "report.md").exists()


def test_data_efficiency_mode_trains_each_ratio_and_plots(clean_run, tiny_gemma, sentibench_dir):
    args = run_args(clean_run, tiny_gemma, sentibench_dir)
    args += ["--data_efficiency", "true", "--data_efficiency_ratios", "0.5", "1.0"]
    out = subprocess.run(args, cwd=REPO, env=env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    points = json.loads((clean_run / "efficiency" / "results.json").read_text())
    assert sorted((p["method"], p["keep_ratio"]) for p in points) == [
        ("hard", 0.5), ("hard", 1.0), ("random", 0.5), ("random", 1.0),
    ]  # fmt: skip
    scored = sum(1 for r in rows(clean_run / "filter" / "scored") if r["score"] == r["score"])  # not NaN
    full = [p for p in points if p["keep_ratio"] == 1.0]
    assert all(p["rows"] == scored for p in full)  # ratio 1.0 keeps every scorable row, whatever the method
    assert all(p["average"] is not None for p in points)
    assert "## Data efficiency" in (clean_run / "report.md").read_text()
    assert (clean_run / "report" / "efficiency.png").exists()
