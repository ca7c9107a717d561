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
