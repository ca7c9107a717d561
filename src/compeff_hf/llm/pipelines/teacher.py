"""The teacher stage as a distilabel Pipeline: instructions stream in batches into a generation Task.

```
load_instructions (GeneratorStep, batches of `pipeline_batch_size`) ─▶ teacher_generation (Task, LLM)
```

The Task's LLM is our ledger-backed client (:class:`~compeff_hf.llm.distilabel.CompEffLLM`) by default, or one
of distilabel's LLMs wrapped in :class:`~compeff_hf.llm.distilabel.LedgerLLM` (recipe field ``llm_class``). Either
way every answer lands in the stage's request ledger (``_ledger/requests.jsonl``) as it completes, which is what
the teacher stage reads afterwards: a killed run resumes without sending an answered request again, and no row
is held in memory beyond one batch.
"""

# No `from __future__ import annotations`: distilabel reads the `StepInput` hints of process() at run time.

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from distilabel.models.llms.base import LLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import GeneratorStep, StepInput
    from distilabel.steps.tasks.base import Task

from .base import ERROR, make_llm, new_pipeline, record_error


def iter_instruction_rows(config: Any, batch_size: int) -> Iterator[list[dict]]:
    """The teacher's input as batches of ``{id, messages}`` rows, read lazily (never the whole dataset at once)."""
    from ...data import load_rows, row_id
    from ...teacher import _messages

    ds = load_rows(config.input, columns=["messages"], what="teacher input")
    n = len(ds) if config.limit is None else min(config.limit, len(ds))
    for start in range(0, n, batch_size):
        batch = ds.select(range(start, min(start + batch_size, n))).to_list()
        rows = []
        for offset, row in enumerate(batch):
            messages = _messages(row, start + offset, config.input)
            rows.append({"id": row.get("id") or row_id("instruction", messages), "messages": messages})
        yield rows


class LoadInstructions(GeneratorStep):
    """The instructions dataset, ``batch_size`` rows at a time (``id``, ``messages``: the turns to answer)."""

    config: dict[str, Any]
    stage_dir: str

    @property
    def outputs(self) -> list[str]:
        return ["id", "messages"]

    def process(self, offset: int = 0):  # type: ignore[override]
        from ...teacher import TeacherConfig

        sent = False
        try:
            batches = iter_instruction_rows(TeacherConfig(**self.config), self.batch_size)
            current = next(batches, None)
            while current is not None:  # one batch of look-ahead tells distilabel which batch is the last
                following = next(batches, None)
                yield current, following is None
                sent, current = True, following
        except Exception as err:
            record_error(self.stage_dir, err)
            yield [{ERROR: True}], True
            return
        if not sent:  # nothing to answer: the stage reports it (an empty batch would hang distilabel)
            yield [{ERROR: True}], True


class TeacherGeneration(Task):
    """The teacher answers each instruction (one generation per row) through the stage's request ledger."""

    stage_dir: str

    @property
    def inputs(self) -> list[str]:
        return ["messages"]

    @property
    def outputs(self) -> list[str]:
        return ["generation", "model_name"]

    def load(self) -> None:
        from ...stage import Ledger

        super().load()
        self.llm.bind(Ledger(Path(self.stage_dir) / "_ledger" / "requests.jsonl"))

    def format_input(self, input: dict[str, Any]) -> list[dict]:
        return input["messages"]

    def format_output(self, output: str | None, input: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"generation": output}

    def process(self, inputs: StepInput):  # type: ignore[override]
        if getattr(self, "_failed", False) or any(r.get(ERROR) for r in inputs):
            yield [{ERROR: True}]
            return
        # Each ledger row names the instruction it answers (meta.row_id), as on the direct client path.
        self.llm._metas = [{"row_id": r.get("id")} for r in inputs]
        try:
            yield from super().process(inputs)
        except Exception as err:  # e.g. the failure budget: stop here, the stage re-raises it
            record_error(self.stage_dir, err)
            object.__setattr__(self, "_failed", True)
            yield [{ERROR: True}]


def build_teacher_pipeline(
    config: Any, *, stage_dir: str | Path | None = None, endpoint: Any = None, llm: LLM | None = None
) -> Pipeline:
    """The teacher stage as a distilabel :class:`~distilabel.pipeline.Pipeline` (not run).

    Args:
        config: a :class:`~compeff_hf.teacher.TeacherConfig` (``input``, ``limit``, endpoint fields, ``llm_class``).
        stage_dir: the stage folder holding ``_ledger/requests.jsonl`` (default: the config's output folder).
        endpoint: the :class:`~compeff_hf.llm.config.EndpointArgs` to send to (default: ``config``; the stage
            passes the embedded server's URL when it started one).
        llm: a distilabel LLM instead of the recipe's ``llm_class``.
    """
    from ..distilabel import CompEffLLM, LedgerLLM

    stage_dir = str(Path(stage_dir or config.resolved_output_dir()))
    endpoint = endpoint or config
    ep = EndpointSnapshot.of(endpoint)
    llm = llm if llm is not None else make_llm(config)
    task_llm = CompEffLLM(endpoint=ep, desc="teacher") if llm is None else LedgerLLM(inner=llm, endpoint=ep)
    pipeline = new_pipeline("compeff-teacher", config, stage_dir, "CompEffDist teacher responses")
    with pipeline:
        load = LoadInstructions(
            name="load_instructions",
            batch_size=config.pipeline_batch_size,
            config=dataclasses.asdict(config),
            stage_dir=stage_dir,
        )
        generate = TeacherGeneration(
            name="teacher_generation",
            llm=task_llm,
            stage_dir=stage_dir,
            input_batch_size=config.pipeline_batch_size,
            add_raw_output=False,
            add_raw_input=False,
        )
        load >> generate
    return pipeline


class EndpointSnapshot:
    """The endpoint fields as a plain EndpointArgs (a stage config carries many more fields than the LLM needs)."""

    @staticmethod
    def of(endpoint: Any):
        from ..config import EndpointArgs

        names = {f.name for f in dataclasses.fields(EndpointArgs)}
        return EndpointArgs(**{k: v for k, v in dataclasses.asdict(endpoint).items() if k in names})


def run_teacher_pipeline(config: Any, stage_dir: str | Path, endpoint: Any) -> None:
    """Run the teacher pipeline: every answer lands in the stage's request ledger (read it back with request ids)."""
    from ..distilabel import ENDPOINT_STATS
    from .base import run_pipeline

    (Path(stage_dir) / "_ledger" / ENDPOINT_STATS).unlink(missing_ok=True)
    run_pipeline(build_teacher_pipeline(config, stage_dir=stage_dir, endpoint=endpoint), config, stage_dir)


def read_endpoint_stats(stage_dir: str | Path) -> dict[str, dict[str, int]]:
    """Per-endpoint counts (sent, ok, errors) of the last teacher pipeline run; empty for distilabel's own LLMs."""
    import json

    from ..distilabel import ENDPOINT_STATS

    path = Path(stage_dir) / "_ledger" / ENDPOINT_STATS
    return json.loads(path.read_text()) if path.is_file() else {}
