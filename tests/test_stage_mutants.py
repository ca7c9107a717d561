"""Stage-folder details that mutation testing (`make mutation`) showed no test pinned: ledger flushing and
queries, the summary record, what overwrite keeps, the lock's release, push on finish, and batching."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from compeff_hf.configs import StageConfig
from compeff_hf.errors import CompEffError
from compeff_hf.stage import Ledger, StageDir, iter_batches


@dataclass
class Cfg(StageConfig):
    size: int = 3


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ledger_writes_reach_disk_every_fsync_every_rows(tmp_path):
    path = tmp_path / "deep" / "rows.jsonl"  # the folder is created
    ledger = Ledger(path, fsync_every=2)
    ledger.append({"id": "a"})
    assert [r["id"] for r in _lines(path)] == ["a"]  # in the OS at once (a SIGKILL keeps it); fsync every 2
    ledger.append({"id": "b", "text": "é"})
    assert [r["id"] for r in _lines(path)] == ["a", "b"] and "é" in path.read_text(encoding="utf-8")
    ledger.append({"id": "c"})
    ledger.close()
    ledger.close()  # twice is harmless
    assert [r["id"] for r in _lines(path)] == ["a", "b", "c"]


def test_ledger_queries(tmp_path):
    ledger = Ledger(tmp_path / "r.jsonl")
    ledger.extend([{"id": "a", "status": "ok"}, {"id": "b", "status": "failed"}, {"id": "c", "status": "ok"}])
    assert "a" in ledger and "z" not in ledger and len(ledger) == 3
    assert ledger.done_ids("ok") == {"a", "c"} and ledger.done_ids("failed") == {"b"}
    assert ledger.done_ids() == {"a", "b", "c"}
    assert ledger.get("b") == {"id": "b", "status": "failed"} and ledger.get("z") is None
    assert [r["id"] for r in ledger.rows()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="ledger rows need an 'id'"):
        ledger.append({"status": "ok"})
    ledger.close()
    # extend flushes at once
    assert len(_lines(tmp_path / "r.jsonl")) == 3


def test_a_complete_ledger_is_not_truncated(tmp_path):
    path = tmp_path / "r.jsonl"
    Ledger(path).extend([{"id": "a"}, {"id": "b"}])
    Ledger(path).close()
    assert [r["id"] for r in _lines(path)] == ["a", "b"]


def test_summary_record_and_release(tmp_path):
    stage = StageDir(tmp_path / "out", Cfg(), stage="demo")
    assert stage.summary() is None and not stage.is_done()
    assert stage.prepare() is False
    assert (tmp_path / "out" / ".config_hash").read_text() == stage.hash
    assert (tmp_path / "out" / "config.yaml").exists()
    record = stage.finish(rows_out=5)
    assert record == stage.summary()
    assert record["stage"] == "demo" and record["status"] == "done" and record["config_hash"] == stage.hash
    assert record["rows_out"] == 5 and record["wall_time_s"] >= 0 and record["finished_at"].endswith("Z")
    assert not (tmp_path / "out" / "summary.json.tmp").exists()
    # finish released the lock: another process may claim the folder
    again = StageDir(tmp_path / "out", Cfg(), stage="demo")
    assert again.prepare() is True and again.is_done()
    with StageDir(tmp_path / "out", Cfg(), stage="demo") as third:
        assert third.prepare() is True


def test_a_done_summary_of_another_config_is_not_done(tmp_path):
    stage = StageDir(tmp_path, Cfg(), stage="demo")
    stage.prepare()
    stage.finish()
    other = StageDir(tmp_path, Cfg(size=9), stage="demo")
    assert not other.is_done()
    (tmp_path / "summary.json").write_text(json.dumps({"status": "failed", "config_hash": stage.hash}))
    assert not StageDir(tmp_path, Cfg(), stage="demo").is_done()


def test_overwrite_clears_files_and_folders_but_keeps_the_lock(tmp_path):
    stage = StageDir(tmp_path, Cfg(), stage="demo")
    stage.prepare()
    stage.ledger().extend([{"id": "a"}])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.parquet").write_text("x")
    stage.finish()
    fresh = StageDir(tmp_path, Cfg(size=5), stage="demo")
    assert fresh.prepare(overwrite=True) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config_hash", ".lock", ".stage_files.json", "config.yaml"]
    # the folder is still locked by `fresh`
    with pytest.raises(CompEffError, match="in use"):
        StageDir(tmp_path, Cfg(size=5), stage="demo").prepare()
    fresh.release()


def test_ledgers_are_one_per_name(tmp_path):
    stage = StageDir(tmp_path, Cfg(), stage="demo")
    stage.prepare()
    assert stage.ledger() is stage.ledger("rows") and stage.ledger("other") is not stage.ledger()
    assert stage.ledger("other").path == tmp_path / "_ledger" / "other.jsonl"
    assert stage.dataset_path() == tmp_path / "data" and stage.dataset_path("x") == tmp_path / "x"
    stage.release()


def test_push_on_finish_needs_a_repo_and_pushes_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("compeff_hf.hub.push.push_stage_output", lambda *a: calls.append(a))
    stage = StageDir(tmp_path / "a", Cfg(push_to_hub=True, hub_repo_id="me/data", hub_private=True), Cfg())
    stage.prepare()
    stage.finish()
    assert calls == [(tmp_path / "a", "me/data", None, True)]
    calls.clear()
    # rerun when done: the push happens again (it is idempotent), nothing else
    assert StageDir(tmp_path / "a", Cfg(push_to_hub=True, hub_repo_id="me/data", hub_private=True), Cfg()).prepare()
    assert calls == [(tmp_path / "a", "me/data", None, True)]
    bad = StageDir(tmp_path / "b", Cfg(push_to_hub=True), stage="demo")
    bad.prepare()
    with pytest.raises(CompEffError, match="demo: push_to_hub is set but hub_repo_id is empty"):
        bad.finish()
    calls.clear()
    quiet = StageDir(tmp_path / "c", Cfg())
    quiet.prepare()
    quiet.finish()
    assert calls == []


def test_iter_batches():
    assert list(iter_batches(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(iter_batches([], 3)) == []


@dataclass
class Plain:
    """A config without the push fields (e.g. a library's arguments class)."""

    x: int = 1


@dataclass
class PushOnly:
    push_to_hub: bool = True


def test_ledger_details(tmp_path):
    path = tmp_path / "a" / "b" / "rows.jsonl"  # parents created
    ledger = Ledger(path, fsync_every=2)
    ledger.extend([{"id": "a", "where": tmp_path}])  # not JSON by itself: written as text
    assert _lines(path)[0]["where"] == str(tmp_path)
    ledger.append({"id": "b"})  # every row reaches the OS as it is appended
    assert [r["id"] for r in _lines(path)] == ["a", "b"]
    ledger.append({"id": "c"})
    assert [r["id"] for r in _lines(path)] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"^ledger rows need an 'id'$"):
        ledger.append({})
    ledger.close()


def test_stage_dir_details(tmp_path):
    assert StageDir(tmp_path / "x").hash == "none"
    StageDir(tmp_path / "x").release()  # nothing claimed: nothing to release
    root = tmp_path / "a" / "b"
    stage = StageDir(root, Cfg(size=7), stage="demo")
    stage.prepare()
    assert "size: 7" in (root / "config.yaml").read_text()
    with pytest.raises(CompEffError) as err:
        StageDir(root, Cfg(size=7), stage="demo").prepare()
    assert str(err.value) == f"{root} is in use by another compeff-hf process (lock {root / '.lock'})"
    record = stage.finish(note="café", where=tmp_path)
    assert isinstance(record["wall_time_s"], float) and 0 <= record["wall_time_s"] < 600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["finished_at"])
    text = (root / "summary.json").read_text()
    assert text.startswith('{\n  "stage": "demo"') and '"note": "café"' in text and f'"where": "{tmp_path}"' in text
    with pytest.raises(CompEffError) as err:
        StageDir(root, Cfg(size=8), stage="demo").prepare()
    assert str(err.value) == (
        f"{root} holds output of a different demo config (hash {stage.hash} vs {StageDir(root, Cfg(size=8)).hash}); "
        f"see {root / 'config.yaml'}. Pass --overwrite true to replace it or choose another --output_dir."
    )


def test_push_reads_only_configs_that_ask(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("compeff_hf.hub.push.push_stage_output", lambda *a: calls.append(a))
    stage = StageDir(tmp_path / "a", Plain(), Cfg(), Cfg(push_to_hub=True, hub_repo_id="me/d"), stage="demo")
    stage.prepare()
    stage.finish()
    assert calls == [(tmp_path / "a", "me/d", None, False)]
    bad = StageDir(tmp_path / "b", PushOnly(), stage="demo")
    bad.prepare()
    with pytest.raises(CompEffError, match="hub_repo_id is empty"):
        bad.finish()


@dataclass
class PushRepo:
    push_to_hub: bool = True
    hub_repo_id: str = "me/x"


def test_a_config_without_hub_private_pushes_public(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("compeff_hf.hub.push.push_stage_output", lambda *a: calls.append(a))
    stage = StageDir(tmp_path, PushRepo())
    stage.prepare()
    stage.finish()
    assert calls == [(tmp_path, "me/x", None, False)]


def test_a_corrupt_ledger_line_is_named_by_file_and_line_number(tmp_path):
    """A damaged ledger (not a torn tail: a bad line with good ones after it) stops with where to look."""
    path = tmp_path / "requests.jsonl"
    path.write_text('{"id": "a", "status": "ok"}\n\n{"id": "b", oops\n{"id": "c", "status": "ok"}\n')
    with pytest.raises(CompEffError, match=rf"^{re.escape(str(path))}:3: not valid JSON \(Expecting"):
        Ledger(path)
