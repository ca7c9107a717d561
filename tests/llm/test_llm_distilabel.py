"""run_task: a distilabel Task over our client; no row is ever lost, parse errors are kept with their reason."""

from __future__ import annotations

import pytest
from faulty_server import FaultyServer, Schedule

from compeff_hf.errors import DataError, ParseError
from compeff_hf.llm.config import EndpointArgs
from compeff_hf.llm.distilabel import CompEffLLM, run_task
from compeff_hf.stage import Ledger


def _format(row: dict) -> list[dict]:
    return [{"role": "user", "content": f"label {row['n']}"}]


def _parse(text: str, row: dict) -> dict:
    number = int(text.rsplit(" ", 1)[-1])
    if number % 5 == 0:
        raise ParseError(f"multiples of five are unparseable here (got {number})")
    return {"label": number * 10}


def test_every_row_comes_back_ok_or_failed_and_rerun_sends_only_failures(tmp_path):
    rows = [{"id": f"r{i}", "n": i} for i in range(40)]
    with FaultyServer(Schedule(seed=3, fault_rate=0.3, kinds=("500",))) as server:
        ep = EndpointArgs(endpoint_url=server.url, model="m", max_retries=1, retry_backoff_s=0.01, max_failure_rate=1)
        ledger = Ledger(tmp_path / "l.jsonl")
        res = run_task("label", rows, format_input=_format, parse_output=_parse, endpoint=ep, ledger=ledger)
        assert len(res.ok) + len(res.failed) == 40
        assert {r["id"] for r in res.ok} | {r["id"] for r in res.failed} == {r["id"] for r in rows}
        request_failed = [r for r in res.failed if r["error"]]
        parse_failed = [r for r in res.failed if r["parse_error"]]
        assert request_failed and parse_failed
        assert all(r["generation"] is None and "HTTP 500" in r["error"] for r in request_failed)
        assert all("multiples of five" in r["parse_error"] and r["generation"] for r in parse_failed)
        assert all(r["label"] == r["n"] * 10 and r["generation"] == f"echo: label {r['n']}" for r in res.ok)
        assert all(r["request_id"] and r["completion_tokens"] for r in res.ok)
        assert res.stats["rows"] == 40 and res.stats["ok"] == len(res.ok)
        assert res.stats["failed"] == len(request_failed) and res.stats["parse_failed"] == len(parse_failed)

        server.schedule = Schedule()
        server.reset_log()
        again = run_task("label", rows, format_input=_format, parse_output=_parse, endpoint=ep, ledger=ledger)
        assert len(server.log.entries) == len(request_failed)
        assert len(again.ok) == 32 and all("multiples" in r["parse_error"] for r in again.failed)


def test_rows_need_ids_and_the_llm_is_a_distilabel_llm(tmp_path):
    ep = EndpointArgs(endpoint_url="http://127.0.0.1:9", model="m")
    with pytest.raises(DataError, match="no 'id'"):
        run_task(
            "t", [{"n": 1}], format_input=_format, parse_output=_parse, endpoint=ep, ledger=Ledger(tmp_path / "x")
        )
    from distilabel.models.llms.base import LLM

    llm = CompEffLLM(endpoint=ep)
    assert isinstance(llm, LLM) and llm.model_name == "m"


def test_construct_tasks_spread_over_generator_replicas(tmp_path):
    # construct's generator shares the endpoint settings: several URLs work there as for the teacher
    rows = [{"id": f"r{i}", "n": i} for i in range(1, 30) if i % 5]
    with FaultyServer(Schedule(delay_s=0.01)) as a, FaultyServer(Schedule(delay_s=0.01)) as b:
        ep = EndpointArgs(endpoint_url=f"{a.url},{b.url}", model="m", max_concurrency=4)
        res = run_task(
            "label", rows, format_input=_format, parse_output=_parse, endpoint=ep, ledger=Ledger(tmp_path / "l")
        )
        assert len(a.log.entries) > 0 and len(b.log.entries) > 0
        assert len(a.log.entries) + len(b.log.entries) == len(rows)
    assert sorted(r["label"] for r in res.ok) == sorted(r["n"] * 10 for r in rows) and not res.failed
