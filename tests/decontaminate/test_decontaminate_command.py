"""`compeff-hf decontaminate` on planted copies of real SentiBench test items: exact counts per test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compeff_hf.cli import main as cli
from compeff_hf.data import load_rows
from compeff_hf.evaluation.tasks import TASKS

CLEAN = [
    "The battery lasts all day, but the screen scratches far too easily.",
    "Our waiter was friendly and the soup arrived hot; we will come back for the dumplings.",
    "Two hours of my life I will never get back, and the popcorn was stale as well.",
]


def test_items(sentibench_dir: Path, name: str) -> list[str]:
    path = sentibench_dir / TASKS[name].path / "test.json"
    return [r["sentence"] for r in json.loads(path.read_text(encoding="utf-8-sig"))]


test_items.__test__ = False  # a helper, not a test


def planted_rows(sentibench_dir: Path) -> tuple[list[dict], dict[str, int]]:
    """Rows with planted copies of SentiBench test items (ids say what each is) and the counts they must give."""
    imdb, sst2 = test_items(sentibench_dir, "imdb"), test_items(sentibench_dir, "sst2")
    yelp2, pstance = test_items(sentibench_dir, "yelp2"), test_items(sentibench_dir, "pstance")
    twitter = test_items(sentibench_dir, "twitter")
    short = next(s for s in sst2 if s == "moot point .")
    wrapped = "\n".join(" ".join(yelp2[2].split()[i : i + 4]) for i in range(0, len(yelp2[2].split()), 4))
    near = " ".join(w if i % 10 else "zzz" for i, w in enumerate(imdb[5].split()))
    changed = twitter[2].split()
    changed[3] = "elephant"
    rows = [
        {"id": "exact-imdb", "text": imdb[4]},
        {"id": "case-punct-sst2", "text": sst2[1].upper().replace(" ,", ";").replace(" .", "!!")},
        {"id": "rewrapped-yelp2", "text": CLEAN[0], "output": wrapped},
        {"id": "embedded-pstance", "messages": [{"role": "user", "content": f"Input: Fine. {pstance[6]} Ok."}]},
        {"id": "short-exact-sst2", "text": "Moot point!"},
        {"id": "short-inside-twitter", "text": f"Someone wrote: {twitter[5]} -- thoughts?"},
        {"id": "two-sst2", "text": f"{sst2[3]} Also: {sst2[6]}"},
        {"id": "near-every-10th-word", "text": near},
        {"id": "near-12-words", "text": "So " + " ".join(imdb[2].split()[20:32]) + " indeed."},
        {"id": "near-tiny-inside", "text": f"It is a {short} Nothing more to add."},
        {"id": "near-short-changed", "text": " ".join(changed)},
        *({"id": f"clean-{i}", "text": t, "output": "positive"} for i, t in enumerate(CLEAN)),
    ]
    counts = dict.fromkeys(TASKS, 0) | {"imdb": 1, "sst2": 3, "yelp2": 1, "pstance": 1, "twitter": 1}
    return rows, counts


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_planted_sentibench_copies_are_dropped_and_counted_per_test_set(tmp_path, sentibench_dir, capsys):
    rows, counts = planted_rows(sentibench_dir)
    data = _write(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "out"
    args = ["decontaminate", "--input", str(data), "--output_dir", str(out)]
    assert cli([*args, "--decontaminate_sentibench", str(sentibench_dir)]) == 0
    kept = load_rows(out / "data").to_list()
    assert sorted(r["id"] for r in kept) == sorted(r["id"] for r in rows if r["id"].startswith(("near", "clean")))
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows_in"], summary["rows_out"]) == (len(rows), len(kept))
    d = summary["decontamination"]
    assert d["per_test_set"] == counts and list(d["per_test_set"]) == list(TASKS)
    assert (d["rows_matched"], d["rows_dropped"], d["ngram"], d["min_words"]) == (7, 7, 13, 8)
    assert d["phases"]["rows"]["by_kind"] == {"ngram": 5, "contained": 1, "exact": 1}
    assert d["phases"]["rows"]["fields"] == ["text", "messages", "output"]
    assert sum(d["eval_sets"].values()) == sum(
        len(test_items(sentibench_dir, name)) for name in TASKS
    )  # every test item of the 12 sets is indexed
    examples = {e["row_id"]: e for e in d["phases"]["rows"]["examples"]}
    assert examples["rewrapped-yelp2"]["field"] == "output" and examples["short-exact-sst2"]["kind"] == "exact"
    assert "7 rows matched and dropped (imdb 1, yelp2 1, sst2 3, twitter 1, pstance 1)" in capsys.readouterr().out


def test_flag_only_keeps_every_row_with_the_matched_sets(tmp_path, sentibench_dir):
    rows, counts = planted_rows(sentibench_dir)
    out = tmp_path / "out"
    args = ["decontaminate", "--input", str(_write(tmp_path / "rows.jsonl", rows)), "--output_dir", str(out)]
    assert cli([*args, "--decontaminate_sentibench", str(sentibench_dir), "--decontaminate_action", "flag"]) == 0
    flags = {r["id"]: r["contamination"] for r in load_rows(out / "data").to_list()}
    assert len(flags) == len(rows)
    assert {k: v for k, v in flags.items() if v} == {
        "exact-imdb": "imdb", "case-punct-sst2": "sst2", "rewrapped-yelp2": "yelp2", "embedded-pstance": "pstance",
        "short-exact-sst2": "sst2", "short-inside-twitter": "twitter", "two-sst2": "sst2",
    }  # fmt: skip
    d = json.loads((out / "summary.json").read_text())["decontamination"]
    assert (d["action"], d["rows_matched"], d["rows_dropped"], d["per_test_set"]) == ("flag", 7, 0, counts)


def test_named_eval_sets_from_a_local_file_without_sentibench(tmp_path):
    # A JSON array with a byte-order mark (the SentiBench file format) and a JSON-lines file with its column named.
    bench = tmp_path / "my_bench.json"
    bench.write_text(json.dumps([{"sentence": CLEAN[1]}, {"sentence": "Meh."}]), encoding="utf-8-sig")
    other = _write(tmp_path / "other.jsonl", [{"review": CLEAN[2]}])
    rows = [{"id": i, "text": t} for i, t in enumerate([CLEAN[1].lower(), "meh", CLEAN[2], CLEAN[0]])]
    out = tmp_path / "out"
    args = ["decontaminate", "--input", str(_write(tmp_path / "rows.jsonl", rows)), "--output_dir", str(out)]
    args += ["--decontaminate_sentibench", "none", "--decontaminate_eval_sets", str(bench), f"{other}::review"]
    assert cli(args) == 0
    assert [r["id"] for r in load_rows(out / "data").to_list()] == [3]
    d = json.loads((out / "summary.json").read_text())["decontamination"]
    assert d["per_test_set"] == {"my_bench": 2, "other": 1} and d["eval_sets"] == {"my_bench": 2, "other": 1}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--decontaminate_ngram", "0"], "decontaminate_ngram must be >= 1"),
        (["--decontaminate_min_words", "20"], "decontaminate_min_words must lie in"),
        (["--fields", "body"], "none of the fields ['body'] is a column"),
        (["--decontaminate_eval_sets", "EVAL::body"], "no text column (body)"),
        (["--decontaminate_sentibench", "/nonexistent/sentibench"], "--decontaminate_sentibench"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys, flags, message):
    data = _write(tmp_path / "rows.jsonl", [{"id": 1, "text": CLEAN[0]}])
    eval_set = _write(tmp_path / "eval.jsonl", [{"text": CLEAN[0]}])
    flags = [f.replace("EVAL", str(eval_set)) for f in flags]
    out = tmp_path / "out"
    assert cli(["decontaminate", "--input", str(data), "--output_dir", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_named_eval_set_from_the_hub(tmp_path):
    """A Hub dataset id as evaluation set (its `test` split), served by the local Hub on 127.0.0.1."""
    import os
    import subprocess
    import sys

    from huggingface_hub import HfApi

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
    from hub_server import DEFAULT_TOKENS, HubServer

    token = next(iter(DEFAULT_TOKENS))
    server = HubServer().start()
    try:
        api = HfApi(endpoint=server.url, token=token)
        api.create_repo("me/heldout", repo_type="dataset")
        held = _write(tmp_path / "test.jsonl", [{"text": CLEAN[0]}, {"text": CLEAN[1]}])
        api.upload_file(
            path_or_fileobj=str(held), path_in_repo="test.jsonl", repo_id="me/heldout", repo_type="dataset"
        )
        rows = [{"id": i, "text": t} for i, t in enumerate([CLEAN[0].upper(), CLEAN[2]])]
        out = tmp_path / "out"
        env = {
            **os.environ,
            "HF_ENDPOINT": server.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf_home"),
        }
        args = ["decontaminate", "--input", str(_write(tmp_path / "rows.jsonl", rows)), "--output_dir", str(out)]
        args += ["--decontaminate_sentibench", "none", "--decontaminate_eval_sets", "me/heldout"]
        done = subprocess.run([sys.executable, "-m", "compeff_hf.cli", *args], env=env, capture_output=True, text=True)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    d = json.loads((out / "summary.json").read_text())["decontamination"]
    assert d["per_test_set"] == {"me/heldout": 1} and d["eval_sets"] == {"me/heldout": 2}
    assert [r["id"] for r in load_rows(out / "data").to_list()] == [1]
