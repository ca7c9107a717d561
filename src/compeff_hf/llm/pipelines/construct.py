"""The construct stage as a distilabel Pipeline: one step per sub-stage, connected as a DAG.

```
load_texts ─▶ attributes ─▶ vocabulary ─▶ perspectives ─┬▶ analysis_prompts ─────────────────────┐
     │             │                          │         └▶ task_ideas ─▶ task_specs ─▶ demos ──────┤
     │             │                          └─────────────────────────────▲           ▲          ├▶ assemble
     ├─────────────┼──────────────────────────────────────────────────────────────────────┘          │
     └─────────────┴─────────────────────────────────────────────────────────────────────────────────┘
```

Each step wraps one sub-stage of :class:`compeff_hf.construct.pipeline.ConstructRun` (the same code the stage
always ran): its rows come from the predecessor steps, and it writes its datasets and its marker in the stage folder
before passing its main dataset on, so a rerun reuses finished sub-stages and, inside an LLM sub-stage, sends only
requests missing from the ledger. The LLM steps send through our ledger-backed client, or through ``llm`` (one of
distilabel's LLMs) when given.
"""

# No `from __future__ import annotations`: distilabel reads the `StepInput` hints of process() at run time.

import dataclasses
import warnings
from pathlib import Path
from typing import Any, ClassVar

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from distilabel.models.llms.base import LLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import GeneratorStep, GlobalStep, StepInput

from ...errors import CompEffError
from .base import EMPTY, ERROR, clean_rows, make_llm, new_pipeline, record_error


class _ConstructStepMixin:
    """Shared by the construct steps: rebuild the stage's config and a ConstructRun in the worker process."""

    def _construct_run(self, llm: LLM | None = None):
        from ...construct.config import ConstructConfig
        from ...construct.pipeline import ConstructRun
        from ...stage import StageDir

        config = ConstructConfig(**self.config)
        run = ConstructRun(config, StageDir(self.stage_dir, config, stage="construct"))
        run.distilabel_llm = llm
        return run


class LoadTexts(_ConstructStepMixin, GeneratorStep):
    """Sub-stage `texts`: read, clean, deduplicate and sample the user texts (dataset `texts`)."""

    config: dict[str, Any]
    stage_dir: str

    @property
    def outputs(self) -> list[str]:
        return ["id", "text", "domain"]

    def process(self, offset: int = 0):  # type: ignore[override]
        try:
            run = self._construct_run()
            rows = run.substage("texts", run.load_texts)["texts"]
        except Exception as err:
            record_error(self.stage_dir, err)
            rows = [{ERROR: True}]
        yield rows or [{EMPTY: "texts"}], True


class ConstructStep(_ConstructStepMixin, GlobalStep):
    """A construct sub-stage over all rows of its predecessors (in the order they were connected).

    Subclasses set ``substage``, ``needs`` and ``produces`` and implement :meth:`compute` (the predecessors' rows
    in, this step's main dataset out). distilabel hands a global step its predecessors' rows in no fixed order, so
    each input is recognised by its columns (:func:`kind_of`). An error is recorded for :func:`~compeff_hf.llm.pipelines.base.run_pipeline` to re-raise, and later steps
    skip; an empty result travels as one marker row (distilabel hangs on an empty batch).
    """

    config: dict[str, Any]
    stage_dir: str
    llm: LLM | None = None
    substage: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()  # the kinds of rows compute() takes, in its argument order
    produces: ClassVar[str] = ""

    def load(self) -> None:
        super().load()
        if self.llm is not None:
            self.llm.load()

    def unload(self) -> None:
        if self.llm is not None:
            self.llm.unload()
        super().unload()

    def compute(self, run: Any, *inputs: list[dict]) -> list[dict]:
        raise NotImplementedError

    def process(self, *inputs: StepInput):  # type: ignore[override]
        groups: dict[str, list[dict]] = {}
        failed = False
        for rows in inputs:
            rows = list(rows)
            kept, bad = clean_rows(rows)
            failed = failed or bad
            if not bad:
                groups[kind_of(rows)] = kept
        if failed:
            yield [{ERROR: True}]
            return
        try:
            missing = [k for k in self.needs if k not in groups]
            if missing:
                raise CompEffError(f"construct pipeline: step {self.name!r} needs the rows of {missing} upstream")
            run = self._construct_run(self.llm)
            with run._stack:  # closes the endpoint context (checked URL) when the step is done
                rows = self.compute(run, *(groups[k] for k in self.needs))
        except Exception as err:
            record_error(self.stage_dir, err)
            yield [{ERROR: True}]
            return
        yield rows or [{EMPTY: self.produces}]


class EnumerateAttributes(ConstructStep):
    """LLM: each text's sentiment-related attributes as (name, description, value) triplets."""

    substage: ClassVar[str] = "attributes"
    needs: ClassVar[tuple[str, ...]] = ("texts",)
    produces: ClassVar[str] = "attributes"

    @property
    def inputs(self) -> list[str]:
        return ["id", "text"]

    @property
    def outputs(self) -> list[str]:
        return ["text_id", "triplets", "generation"]

    def compute(self, run, texts):
        return run.substage("attributes", lambda: run.enumerate_attributes(texts))["attributes"]


class BuildVocabulary(ConstructStep):
    """Normalise attribute names (official rules), count them, keep the frequent ones."""

    substage: ClassVar[str] = "vocabulary"
    needs: ClassVar[tuple[str, ...]] = ("attributes",)
    produces: ClassVar[str] = "vocabulary"

    @property
    def inputs(self) -> list[str]:
        return ["text_id", "triplets"]

    @property
    def outputs(self) -> list[str]:
        return ["name", "count", "kept", "surface_forms", "top_description", "top_values"]

    def compute(self, run, attrs):
        return run.substage("vocabulary", lambda: run.build_vocabulary(attrs))["attribute_vocabulary"]


class ClusterPerspectives(ConstructStep):
    """Embed the kept names and cluster them (frequency-weighted Affinity Propagation) into perspectives."""

    substage: ClassVar[str] = "perspectives"
    needs: ClassVar[tuple[str, ...]] = ("vocabulary",)
    produces: ClassVar[str] = "perspectives"

    @property
    def inputs(self) -> list[str]:
        return ["name", "count", "kept"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "members", "member_counts", "top_attribute", "top_description", "selected"]

    def compute(self, run, vocab):
        return run.substage("perspectives", lambda: run.cluster(vocab))["perspectives"]


# Columns that tell which sub-stage produced a set of rows (checked in this order; custom steps may add columns).
_SIGNATURES = (
    ("attributes", {"triplets"}),
    ("perspectives", {"members"}),
    ("vocabulary", {"surface_forms"}),
    ("demos", {"task_id", "input", "output"}),
    ("analysis", {"perspective_id", "prompt"}),
    ("tasks", {"task_type", "examples"}),
    ("ideas", {"task_name", "task_description"}),
    ("data", {"messages"}),
    ("texts", {"text"}),
)


def kind_of(rows: list[dict]) -> str:
    """Which sub-stage's rows these are (an empty-output marker names its sub-stage)."""
    if not rows:
        return "unknown"
    if rows[0].get(EMPTY):
        return str(rows[0][EMPTY])
    columns = set(rows[0])
    return next((kind for kind, needed in _SIGNATURES if needed <= columns), "unknown")


def _selected(perspectives: list[dict]) -> list[dict]:
    return [p for p in perspectives if p["selected"]]


class WriteAnalysisPrompts(ConstructStep):
    """LLM: open-ended analysis prompts for each selected perspective."""

    substage: ClassVar[str] = "analysis"
    needs: ClassVar[tuple[str, ...]] = ("perspectives",)
    produces: ClassVar[str] = "analysis"

    @property
    def inputs(self) -> list[str]:
        return ["id", "members", "selected"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "perspective_id", "prompt", "source"]

    def compute(self, run, perspectives):
        sel = _selected(perspectives)
        return run.substage("analysis", lambda: run.write_analysis_prompts(sel))["analysis_prompts"]


class IdeateTasks(ConstructStep):
    """LLM: single-text task ideas for each selected perspective."""

    substage: ClassVar[str] = "ideas"
    needs: ClassVar[tuple[str, ...]] = ("perspectives",)
    produces: ClassVar[str] = "ideas"

    @property
    def inputs(self) -> list[str]:
        return ["id", "top_attribute", "selected"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "perspective_id", "task_name", "task_description"]

    def compute(self, run, perspectives):
        sel = _selected(perspectives)
        return run.substage("ideas", lambda: run.ideate(sel))["task_ideas"]


class SpecifyTasks(ConstructStep):
    """LLM: a normalised spec per idea (two-text tasks dropped, seed tasks for short perspectives).

    Predecessors: task ideas, perspectives.
    """

    substage: ClassVar[str] = "tasks"
    needs: ClassVar[tuple[str, ...]] = ("ideas", "perspectives")
    produces: ClassVar[str] = "tasks"

    @property
    def inputs(self) -> list[str]:
        return ["id", "perspective_id"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "perspective_id", "task_name", "task_type", "description", "labels", "examples"]

    def compute(self, run, ideas, perspectives):
        sel = _selected(perspectives)
        return run.substage("tasks", lambda: run.specify(ideas, sel))["tasks"]


class SynthesiseDemos(ConstructStep):
    """LLM: demonstrations per task in the style of real texts. Predecessors: tasks, texts."""

    substage: ClassVar[str] = "demos"
    needs: ClassVar[tuple[str, ...]] = ("tasks", "texts")
    produces: ClassVar[str] = "demos"

    @property
    def inputs(self) -> list[str]:
        return ["id"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "task_id", "input", "output"]

    def compute(self, run, task_rows, texts):
        references = run.references(texts)
        return run.substage("demos", lambda: run.synthesise_demos(task_rows, references))["demos"]


class AssembleInstructions(ConstructStep):
    """Pair texts with instructions (dataset `data`, column `messages`).

    Predecessors: texts, attributes, perspectives, analysis prompts, tasks, demos.
    """

    substage: ClassVar[str] = "assemble"
    needs: ClassVar[tuple[str, ...]] = ("texts", "attributes", "perspectives", "analysis", "tasks", "demos")
    produces: ClassVar[str] = "data"

    @property
    def inputs(self) -> list[str]:
        return ["id"]

    @property
    def outputs(self) -> list[str]:
        return ["id", "text_id", "text", "perspective_id", "task_id", "instruction_type", "messages"]

    def compute(self, run, texts, attrs, perspectives, prompts_, task_rows, demo_rows):
        sel = _selected(perspectives)
        return run.substage(
            "assemble", lambda: run.assemble_instructions(texts, attrs, sel, prompts_, task_rows, demo_rows)
        )["data"]


STEP_NAMES = (
    "load_texts", "attributes", "vocabulary", "perspectives", "analysis_prompts", "task_ideas", "task_specs",
    "demos", "assemble",
)  # fmt: skip


def build_construct_pipeline(config: Any, *, stage_dir: str | Path | None = None, llm: LLM | None = None) -> Pipeline:
    """The construct stage as a distilabel :class:`~distilabel.pipeline.Pipeline` (not run).

    Args:
        config: a :class:`~compeff_hf.construct.config.ConstructConfig`.
        stage_dir: where the sub-stage datasets, markers and ledgers go (default: the config's output folder).
            :func:`compeff_hf.construct.pipeline.main` claims the folder first; a pipeline you run yourself
            writes there too.
        llm: a distilabel LLM for the generation steps; default: the recipe's ``llm_class`` (``compeff``: our
            ledger-backed client).

    The steps are reachable by name (``pipeline.dag.get_step(name)["step"]``): ``STEP_NAMES``. Add your own with
    ``>>`` inside ``with pipeline:`` (see docs/construct.md).
    """
    stage_dir = str(Path(stage_dir or config.resolved_output_dir()))
    llm = llm if llm is not None else make_llm(config)
    common = {"config": dataclasses.asdict(config), "stage_dir": stage_dir}
    pipeline = new_pipeline("compeff-construct", config, stage_dir, "CompEffDist attribute-based instructions")
    with pipeline:
        texts = LoadTexts(name="load_texts", batch_size=1_000_000, **common)
        attrs = EnumerateAttributes(name="attributes", llm=llm, **common)
        vocab = BuildVocabulary(name="vocabulary", **common)
        persp = ClusterPerspectives(name="perspectives", **common)
        analysis = WriteAnalysisPrompts(name="analysis_prompts", llm=llm, **common)
        ideas = IdeateTasks(name="task_ideas", llm=llm, **common)
        specs = SpecifyTasks(name="task_specs", llm=llm, **common)
        demos = SynthesiseDemos(name="demos", llm=llm, **common)
        assemble = AssembleInstructions(name="assemble", **common)
        texts >> attrs >> vocab >> persp
        persp >> analysis
        persp >> ideas
        ideas >> specs
        persp >> specs
        specs >> demos
        texts >> demos
        for source in (texts, attrs, persp, analysis, specs, demos):
            source >> assemble
    return pipeline
