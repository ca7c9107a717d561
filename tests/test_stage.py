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
