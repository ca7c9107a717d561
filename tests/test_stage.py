import json
from dataclasses import dataclass

import pytest

from compeff_hf.configs import StageConfig
from compeff_hf.errors import CompEffError
from compeff_hf.stage import Ledger, StageDir


@dataclass
class Cfg(StageConfig):
    size: int = 3


def test_ledger_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    ledger = Ledger(path)
    ledger.extend([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    ledger.close()
    with path.open("a") as fh:
        fh.write('{"id": "c", "v"')  # SIGKILL mid-write
    again = Ledger(path)
    assert again.done_ids() == {"a", "b"}
    again.append({"id": "c", "v": 3})
    again.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def test_ledger_later_line_wins(tmp_path):
    ledger = Ledger(tmp_path / "r.jsonl")
    ledger.extend([{"id": "a", "status": "failed"}, {"id": "a", "status": "ok"}])
    ledger.close()
    assert Ledger(tmp_path / "r.jsonl").get("a")["status"] == "ok"


def test_stage_dir_skip_resume_and_conflict(tmp_path):
    import datasets

    root = tmp_path / "out"
    stage = StageDir(root, Cfg(), stage="demo")
    assert stage.prepare() is False
    stage.ledger().extend([{"id": "x"}])
    stage.release()  # killed before finishing

    resumed = StageDir(root, Cfg(), stage="demo")
    assert resumed.prepare() is False
    assert resumed.ledger().done_ids() == {"x"}
    resumed.save_dataset(datasets.Dataset.from_list(resumed.ledger().rows()))
    resumed.finish(rows_out=1)

    assert StageDir(root, Cfg(), stage="demo").prepare() is True  # done: skip
    with pytest.raises(CompEffError, match="different demo config"):
        StageDir(root, Cfg(size=4), stage="demo").prepare()
    fresh = StageDir(root, Cfg(size=4), stage="demo")
    assert fresh.prepare(overwrite=True) is False
    assert not (root / "summary.json").exists()
    fresh.release()


def test_stage_dir_lock_refuses_second_writer(tmp_path):
    first = StageDir(tmp_path, Cfg(), stage="demo")
    first.prepare()
    with pytest.raises(CompEffError, match="in use"):
        StageDir(tmp_path, Cfg(), stage="demo").prepare()
    first.release()


def test_ledger_holds_only_status_and_offsets_and_reads_rows_back(tmp_path):
    from compeff_hf.stage import Ledger

    path = tmp_path / "l.jsonl"
    ledger = Ledger(path, fsync_every=1000)
    ledger.append({"id": "a", "status": "failed", "output": None})
    ledger.append({"id": "b", "status": "ok", "output": "é ünïcode"})  # multi-byte: offsets are in bytes
    ledger.append({"id": "a", "status": "ok", "output": "retried"})  # a later line for the same id wins
    assert ledger.get("a") == {"id": "a", "status": "ok", "output": "retried"}  # still in the write buffer
    assert ledger.status("b") == "ok" and ledger.status("zz") is None and ledger.get("zz") is None
    ledger.flush()
    data = path.read_bytes()
    for rid, (status, offset) in ledger._index.items():  # only status and byte offset stay in memory
        assert json.loads(data[offset:].split(b"\n", 1)[0]) == ledger.get(rid) and status == ledger.get(rid)["status"]
    assert [o for _, o in ledger._index.values()] == [data.rindex(b'{"id": "a"'), data.index(b'{"id": "b"')]
    ledger.close()
    assert ledger.get("b")["output"] == "é ünïcode"  # readable after close
    with path.open("ab") as fh:
        fh.write(b'{"id": "c", "status": "o')  # a kill mid-write
    again = Ledger(path)
    assert len(again) == 2 and again.done_ids("ok") == {"a", "b"} and "c" not in again
    assert [r["id"] for r in again.rows()] == ["a", "b"] and again.get("a")["output"] == "retried"
    again.append({"id": "c", "status": "ok"})
    again.close()
    assert Ledger(path).get("c") == {"id": "c", "status": "ok"}
    assert path.read_bytes().count(b"\n") == 4


# ------------------------------------------------------------------------------------- issue #15: ownership, durability


@dataclass
class Tokened(StageConfig):
    hub_token: str | None = None
    endpoint_url: str | None = None


def _names(root):
    return sorted(p.name for p in root.iterdir())


def test_ledger_rows_reach_the_os_before_they_count(tmp_path):
    path = tmp_path / "r.jsonl"
    ledger = Ledger(path, fsync_every=1000)
    ledger.append({"id": "a", "status": "ok"})
    # Read through another handle without flushing or closing: a SIGKILL now would keep this row.
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a"]
    assert "a" in ledger and len(ledger) == 1 and ledger.get("a") == {"id": "a", "status": "ok"}
    ledger.close()


def test_ledger_fsyncs_at_a_bounded_interval(tmp_path, monkeypatch):
    import os

    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    ledger = Ledger(tmp_path / "r.jsonl", fsync_every=3)
    for i in range(7):
        ledger.append({"id": str(i)})
    assert len(calls) == 2  # after rows 3 and 6
    ledger.extend([{"id": "x"}])
    assert len(calls) == 3
    ledger.close()
    with pytest.raises(ValueError, match="id"):
        Ledger(tmp_path / "s.jsonl").append({"status": "ok"})


def test_ledger_queries(tmp_path):
    ledger = Ledger(tmp_path / "r.jsonl")
    ledger.extend([{"id": "a", "status": "ok"}, {"id": "b", "status": "failed"}, {"id": "c", "status": "ok"}])
    assert ledger.done_ids("ok") == {"a", "c"} and ledger.done_ids("failed") == {"b"}
    assert ledger.done_ids() == {"a", "b", "c"} and "z" not in ledger and ledger.get("z") is None
    assert [r["id"] for r in ledger.rows()] == ["a", "b", "c"]
    ledger.close()


def test_a_torn_tail_is_cut_before_new_rows_are_appended(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "v"')
    ledger = Ledger(path)
    assert path.read_text() == '{"id": "a"}\n'
    ledger.append({"id": "c"})
    ledger.close()
    assert path.read_text() == '{"id": "a"}\n{"id": "c"}\n'
    whole = tmp_path / "w.jsonl"
    whole.write_text('{"id": "a"}\n')
    Ledger(whole).close()
    assert whole.read_text() == '{"id": "a"}\n'


def test_the_manifest_lists_what_the_stage_wrote(tmp_path):
    import datasets

    root = tmp_path / "out"
    root.mkdir()
    (root / "mine.txt").write_text("user file")
    stage = StageDir(root, Cfg(), stage="demo")
    assert stage.prepare() is False
    stage.ledger().append({"id": "x"})
    stage.save_dataset(datasets.Dataset.from_list([{"id": "x"}]))
    stage.save_dataset(datasets.Dataset.from_list([{"id": "y"}]), "failed")
    (root / "results.json").write_text("{}")  # a stage writing into its root directly
    stage.finish(rows=1)
    manifest = json.loads((root / ".stage_files.json").read_text())
    assert manifest["stage"] == "demo"
    assert manifest["files"] == sorted(
        [
            ".config_hash",
            ".stage_files.json",
            "_ledger",
            "config.yaml",
            "data",
            "failed",
            "results.json",
            "summary.json",
        ]
    )
    assert StageDir(root, Cfg(), stage="demo").owned() == {*manifest["files"], ".lock"}


def test_overwrite_removes_only_the_stage_files_and_refuses_others(tmp_path):
    import datasets

    root = tmp_path / "out"
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.save_dataset(datasets.Dataset.from_list([{"id": "x"}]))
    stage.finish()
    again = StageDir(root, Cfg(size=9), stage="demo")
    assert again.prepare(overwrite=True) is False
    assert _names(root) == [".config_hash", ".lock", ".stage_files.json", "config.yaml"]
    again.release()
    # A file the stage did not write: --overwrite refuses and deletes nothing, naming it.
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare(overwrite=True)
    stage.save_dataset(datasets.Dataset.from_list([{"id": "x"}]))
    stage.release()
    (root / "notes.txt").write_text("mine")
    (root / "src").mkdir()
    before = _names(root)
    with pytest.raises(CompEffError, match=r"did not write \(notes.txt, src\)"):
        StageDir(root, Cfg(size=5), stage="demo").prepare(overwrite=True)
    assert _names(root) == before
    # The lock was given back: the folder is usable once the user moves the files away.
    (root / "notes.txt").unlink()
    (root / "src").rmdir()
    last = StageDir(root, Cfg(size=5), stage="demo")
    assert last.prepare(overwrite=True) is False
    last.release()


def test_overwrite_refusal_names_at_most_five_entries(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    for i in range(7):
        (root / f"f{i}").write_text("x")
    with pytest.raises(CompEffError, match=r"\(f0, f1, f2, f3, f4 and 2 more\)"):
        StageDir(root, Cfg(), stage="demo").prepare(overwrite=True)


def test_a_folder_without_manifest_owns_only_the_fixed_layout(tmp_path):
    root = tmp_path / "old"
    (root / "_ledger").mkdir(parents=True)
    (root / ".config_hash").write_text("deadbeef")
    (root / "summary.json").write_text("{}")
    (root / "data").mkdir()
    with pytest.raises(CompEffError, match=r"\(data\)"):
        StageDir(root, Cfg(), stage="demo").prepare(overwrite=True)
    (root / "data").rmdir()
    stage = StageDir(root, Cfg(), stage="demo")
    assert stage.prepare(overwrite=True) is False
    assert "summary.json" not in _names(root) and "_ledger" not in _names(root)
    stage.release()


def test_a_start_that_did_no_work_gives_the_folder_back(tmp_path):
    root = tmp_path / "fresh"
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.ledger()  # opened, nothing written: a start that failed on bad input
    stage.release()
    assert not root.exists()  # we made it, and nothing of ours is left
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("x")
    stage = StageDir(existing, Cfg(), stage="demo")
    stage.prepare()
    stage.release()
    assert _names(existing) == [".lock", "keep.txt"]
    # The corrected command (another config) is not refused.
    corrected = StageDir(existing, Cfg(size=8), stage="demo")
    assert corrected.prepare() is False
    corrected.ledger().append({"id": "row"})
    corrected.release()
    assert (existing / ".config_hash").read_text() == corrected.hash  # work done: the claim stays
    with pytest.raises(CompEffError, match="different demo config"):
        StageDir(existing, Cfg(size=1), stage="demo").prepare()


def test_a_claim_left_by_a_killed_start_does_not_block_another_config(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    (root / ".config_hash").write_text("0123456789abcdef")  # killed after claiming, before any row
    (root / "config.yaml").write_text("size: 1\n")
    (root / "_ledger").mkdir()
    (root / "_ledger" / "rows.jsonl").write_text("")
    stage = StageDir(root, Cfg(), stage="demo")
    assert stage.prepare() is False
    assert (root / ".config_hash").read_text() == stage.hash
    stage.release()


def test_has_work(tmp_path):
    root = tmp_path / "out"
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    assert not stage.has_work()
    stage.ledger("a")
    assert not stage.has_work()  # an empty ledger file
    stage.ledger("a").append({"id": "1"})
    assert stage.has_work()
    stage.release()
    other = tmp_path / "o2"
    s2 = StageDir(other, Cfg(), stage="demo")
    s2.prepare()
    (other / "results.md").write_text("x")
    assert s2.has_work()  # anything beyond the claim files counts
    s2.release()
    assert (other / "results.md").exists() and (other / ".config_hash").exists()


def test_remove_dataset_only_touches_the_stage_own(tmp_path):
    import datasets

    root = tmp_path / "out"
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.save_dataset(datasets.Dataset.from_list([{"id": "x"}]), "failed")
    assert "failed" in stage.owned()
    stage.remove_dataset("failed")
    assert not (root / "failed").exists() and "failed" not in stage.owned()
    stage.remove_dataset("failed")  # nothing there: no error
    stage.release()
    (root / "theirs").mkdir(parents=True)
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.remove_dataset("theirs")
    assert (root / "theirs").is_dir()
    stage.release()


def test_config_and_summary_hold_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_stagesecret000000")
    cfg = Tokened(hub_token="opaque-tok", endpoint_url="https://bob:pw-77@host/v1?api_key=k-9")
    stage = StageDir(tmp_path / "o", cfg, stage="demo")
    stage.prepare()
    record = stage.finish(note="sent with hf_stagesecret000000", endpoint=cfg.endpoint_url)
    text = (tmp_path / "o" / "config.yaml").read_text() + (tmp_path / "o" / "summary.json").read_text()
    for secret in ("opaque-tok", "pw-77", "k-9", "hf_stagesecret000000"):
        assert secret not in text
    assert "https://host/v1" in text
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["stage"] == "demo" and summary["status"] == "done" and summary["config_hash"] == stage.hash
    assert summary["note"] == "sent with <redacted>" and isinstance(summary["wall_time_s"], float)
    assert summary["finished_at"].endswith("Z") and record["note"].startswith("sent with")
    assert stage.summary() == summary and stage.is_done()


def test_is_done_needs_status_done_and_the_same_hash(tmp_path):
    root = tmp_path / "o"
    stage = StageDir(root, Cfg(), stage="demo")
    assert stage.summary() is None and not stage.is_done()
    root.mkdir()
    (root / "summary.json").write_text(json.dumps({"status": "running", "config_hash": stage.hash}))
    assert not stage.is_done()
    (root / "summary.json").write_text(json.dumps({"status": "done", "config_hash": "other"}))
    assert not stage.is_done()
    (root / "summary.json").write_text(json.dumps({"status": "done", "config_hash": stage.hash}))
    assert stage.is_done()


def test_push_to_hub_without_repo_is_refused(tmp_path):
    @dataclass
    class Pushing(StageConfig):
        pass

    stage = StageDir(tmp_path / "o", Pushing(push_to_hub=True), stage="demo")
    stage.prepare()
    with pytest.raises(CompEffError, match="hub_repo_id"):
        stage.finish()


def test_iter_batches():
    from compeff_hf.stage import iter_batches

    assert list(iter_batches([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(iter_batches([], 3)) == []


# --------------------------------------------------------------------------------- pinned details (mutation testing)


@pytest.fixture
def stage_log(caplog):
    import logging

    logger = logging.getLogger("compeff_hf.stage")
    logger.addHandler(caplog.handler)  # the package logger may not propagate once log.setup() ran
    caplog.handler.setLevel(logging.INFO)
    old = logger.level
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(old)


def test_ledger_writes_utf8_json_lines_in_a_new_folder(tmp_path):
    from pathlib import Path

    path = tmp_path / "a" / "b" / "r.jsonl"
    ledger = Ledger(path)
    ledger.append({"id": "é", "where": Path("/x/y")})
    ledger.close()
    assert ledger._fh.closed
    assert path.read_bytes() == '{"id": "é", "where": "/x/y"}\n'.encode()
    assert Ledger(path).get("é") == {"id": "é", "where": "/x/y"}


def test_a_stage_dir_before_prepare(tmp_path):
    import datasets

    root = tmp_path / "x" / "y"
    stage = StageDir(root, stage="demo")
    assert stage.hash == "none" and not stage.has_work() and stage.owned() >= {"_ledger", "summary.json"}
    stage.release()  # nothing claimed: nothing to do, no error
    stage.save_dataset(datasets.Dataset.from_list([{"id": "a"}]))
    assert not (root / ".stage_files.json").exists()  # only a claimed folder keeps a manifest
    nested = StageDir(tmp_path / "n1" / "n2" / "out", Cfg(), stage="demo")
    assert nested.prepare() is False and (tmp_path / "n1" / "n2" / "out" / "config.yaml").is_file()
    nested.release()


def test_a_folder_that_existed_is_kept_after_a_start_that_did_nothing(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.release()
    assert root.is_dir() and _names(root) == [".lock"]


def test_config_yaml_holds_the_resolved_config(tmp_path):
    import yaml

    stage = StageDir(tmp_path / "o", Cfg(size=7), stage="demo")
    stage.prepare()
    saved = yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())
    assert saved["size"] == 7 and saved["seed"] == 42
    assert (tmp_path / "o" / ".config_hash").read_text() == stage.hash
    stage.release()


def test_resume_and_skip_are_logged(tmp_path, stage_log):
    root = tmp_path / "o"
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    stage.ledger().append({"id": "a"})
    stage.release()
    StageDir(root, Cfg(), stage="demo").prepare()
    assert f"demo: resuming partial output in {root}" in stage_log.text
    done = StageDir(root, Cfg(), stage="demo")
    done.finish()
    assert StageDir(root, Cfg(), stage="demo").prepare() is True
    assert f"demo: finished output for this config exists in {root}; skipping" in stage_log.text


def test_summary_json_is_utf8_and_serialises_any_value(tmp_path):
    import re
    import time
    from pathlib import Path

    stage = StageDir(tmp_path / "o", Cfg(), stage="demo")
    stage.prepare()
    stage.started = time.time() - 2.0
    stage.finish(note="café", where=Path("/data/x"))
    raw = (tmp_path / "o" / "summary.json").read_text(encoding="utf-8")
    assert '"note": "café"' in raw and '"where": "/data/x"' in raw
    summary = json.loads(raw)
    assert 2.0 <= summary["wall_time_s"] < 60
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", summary["finished_at"])
    assert summary["finished_at"][:4] == time.strftime("%Y", time.gmtime())


@pytest.mark.parametrize(("count", "shown"), [(5, "(f0, f1, f2, f3, f4)"), (6, "(f0, f1, f2, f3, f4 and 1 more)")])
def test_overwrite_refusal_lists_the_foreign_entries(tmp_path, count, shown):
    root = tmp_path / "out"
    root.mkdir()
    for i in range(count):
        (root / f"f{i}").write_text("x")
    with pytest.raises(CompEffError) as err:
        StageDir(root, Cfg(), stage="demo").prepare(overwrite=True)
    assert shown in str(err.value) and "Choose another --output_dir, or move those files away" in str(err.value)


def test_has_work_reads_the_manifest_and_ignores_foreign_files(tmp_path):
    root = tmp_path / "o"
    (root / "data").mkdir(parents=True)
    (root / ".stage_files.json").write_text(json.dumps({"stage": "demo", "files": ["data", ".config_hash"]}))
    (root / ".config_hash").write_text("abc")
    assert StageDir(root, Cfg(), stage="demo").has_work()  # a dataset the manifest lists
    (root / "data").rmdir()
    (root / "notes.txt").write_text("user file")
    assert not StageDir(root, Cfg(), stage="demo").has_work()  # a user's file is not the stage's work


def test_giving_back_a_claim_keeps_unexpected_ledger_files(tmp_path):
    root = tmp_path / "o"
    root.mkdir()
    stage = StageDir(root, Cfg(), stage="demo")
    stage.prepare()
    (root / "_ledger").mkdir()
    (root / "_ledger" / "notes.bin").write_bytes(b"not a ledger")
    stage.release()
    assert (root / "_ledger" / "notes.bin").exists() and not (root / ".config_hash").exists()


def test_push_to_hub_when_asked(tmp_path, monkeypatch, stage_log):
    import compeff_hf.hub.push as push

    calls = []
    monkeypatch.setattr(push, "push_stage_output", lambda *a: calls.append(a))

    @dataclass
    class Quiet(StageConfig):
        pass

    root = tmp_path / "o"
    pushing = Quiet(push_to_hub=True, hub_repo_id="me/data", hub_private=True)
    also = Quiet(push_to_hub=True, hub_repo_id="me/other")
    stage = StageDir(root, Quiet(), pushing, also, stage="demo")
    stage.prepare()
    stage.finish()
    assert calls == [(root, "me/data", None, True)]  # the first asking config, once
    assert f"demo: pushing {root} to the Hub repo me/data" in stage_log.text
    calls.clear()
    assert StageDir(root, Quiet(), pushing, also, stage="demo").prepare() is True  # done: pushed again, idempotent
    assert calls == [(root, "me/data", None, True)]
    calls.clear()
    quiet = StageDir(tmp_path / "p", Quiet(), stage="demo")
    quiet.prepare()
    quiet.finish()
    assert calls == []
    public = StageDir(tmp_path / "q", Quiet(push_to_hub=True, hub_repo_id="me/pub"), stage="demo")
    public.prepare()
    public.finish()
    assert calls == [(tmp_path / "q", "me/pub", None, False)]


def test_push_reads_only_the_fields_a_config_has(tmp_path, monkeypatch):
    import compeff_hf.hub.push as push

    calls = []
    monkeypatch.setattr(push, "push_stage_output", lambda *a: calls.append(a))

    @dataclass
    class NoHubFields:  # e.g. the train stage's ModelArguments
        lora_r: int = 8

    @dataclass
    class PushOnly:
        push_to_hub: bool = True
        hub_repo_id: str = "me/x"

    @dataclass
    class NoRepo:
        push_to_hub: bool = True

    stage = StageDir(tmp_path / "a", NoHubFields(), stage="demo")
    stage.prepare()
    stage.finish()
    assert calls == []
    stage = StageDir(tmp_path / "b", PushOnly(), stage="demo")
    stage.prepare()
    stage.finish()
    assert calls == [(tmp_path / "b", "me/x", None, False)]  # no hub_private field: public
    stage = StageDir(tmp_path / "c", NoRepo(), stage="demo")
    stage.prepare()
    with pytest.raises(CompEffError, match="hub_repo_id is empty"):
        stage.finish()


def test_dataset_path():
    from pathlib import Path

    assert StageDir("/r", stage="demo").dataset_path() == Path("/r/data")
    assert StageDir("/r", stage="demo").dataset_path("failed") == Path("/r/failed")
