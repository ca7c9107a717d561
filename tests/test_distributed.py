"""The rank helper: one process behaves as plain Python; two gloo processes agree on barrier, broadcast, gather."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from compeff_hf import distributed as dist
from compeff_hf.distributed import World


def test_single_process_is_main_and_collectives_are_identity(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist.world() == World(0, 0, 1) and dist.is_main_process() and not dist.is_distributed()
    dist.barrier()
    assert dist.gather_object({"a": 1}) == [{"a": 1}]
    assert dist.broadcast_object(5) == 5
    assert dist.on_main(lambda x: x + 1, 1) == 2


def test_world_is_read_from_the_launcher_environment_before_any_process_group(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.world() == World(rank=3, local_rank=1, size=4)
    assert not dist.is_main_process() and dist.is_distributed()


@pytest.mark.parametrize("n,size", [(0, 2), (1, 2), (7, 2), (10, 3), (5, 8)])
def test_shards_cover_every_index_once_in_order(n, size):
    blocks = [dist.shard(n, World(rank=r, size=size)) for r in range(size)]
    assert [i for b in blocks for i in b] == list(range(n))
    assert max(len(b) for b in blocks) - min(len(b) for b in blocks) <= 1


SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from compeff_hf import distributed as dist
    from compeff_hf.errors import CompEffError

    w = dist.world()
    rows = list(range(11))
    got = dist.gather_list([r * 10 for r in (rows[i] for i in dist.shard(len(rows)))])
    main_value = dist.broadcast_object("from-main" if w.is_main else None)
    decided = dist.on_main(lambda: f"decided-by-{dist.world().rank}")
    try:
        dist.on_main(lambda: (_ for _ in ()).throw(CompEffError("folder in use")))
        error = None
    except CompEffError as err:
        error = str(err)
    dist.barrier()
    out = {"rank": w.rank, "size": w.size, "got": got, "main": main_value, "decided": decided, "error": error}

    # A stage folder: claimed and finished by the main process only, the same answers on every rank.
    from dataclasses import dataclass
    from compeff_hf.stage import StageDir

    @dataclass
    class Probe:
        x: int = 1

    root = os.path.join(sys.argv[1], "stage")
    stage = StageDir(root, Probe(), stage="probe")
    out["first_prepare"] = stage.prepare()
    out["holds_lock"] = stage._lock is not None
    dist.barrier()
    if w.rank == 1:
        import time
        time.sleep(0.05)  # a later call on rank 1: its own summary would carry another wall time
    out["record"] = stage.finish(rows=3)
    out["second_prepare"] = StageDir(root, Probe(), stage="probe").prepare()  # done: skipped on every rank
    try:
        StageDir(root, Probe(x=2), stage="probe").prepare()
        out["other_config"] = None
    except CompEffError as err:
        out["other_config"] = str(err)
    with open(os.path.join(sys.argv[1], f"rank{w.rank}.json"), "w") as fh:
        json.dump(out, fh)
    dist.shutdown()
    """
)


def torchrun(script, *args, nproc=2, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script)]
    return subprocess.run([*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)


def test_two_processes_gather_in_order_and_share_the_main_decision(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    proc = torchrun(script, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for r, res in enumerate(results):
        assert res["rank"] == r and res["size"] == 2
        assert res["got"] == [i * 10 for i in range(11)]  # gathered in the original order on every rank
        assert res["main"] == "from-main"
        assert res["decided"] == "decided-by-0"  # ran on the main process only, result shared
        assert res["error"] == "folder in use"  # the main's failure reaches rank 1 instead of a hang
        assert res["first_prepare"] is False and res["second_prepare"] is True and res["record"]["rows"] == 3
        assert res["record"] == results[0]["record"]  # one summary, written by the main, returned everywhere
        assert res["holds_lock"] is (r == 0)  # only the main process claims the folder
        assert "different probe config" in res["other_config"] and "--overwrite" in res["other_config"]
    files = sorted(p.name for p in (tmp_path / "stage").iterdir())
    assert files == [".config_hash", ".lock", ".stage_files.json", "config.yaml", "summary.json"]
