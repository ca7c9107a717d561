"""The stages as distilabel Pipelines: the DAG, custom steps, distilabel's own LLMs, pipeline.yaml, the defects.

Real servers on 127.0.0.1: the scripted construct generator (OpenAI chat API) and the fault-injecting server.
"""

# No `from __future__ import annotations`: distilabel reads the `StepInput` hints of process() at run time.

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from distilabel.steps import GeneratorStep, GlobalStep, StepInput, step

sys.path.insert(0, str(Path(__file__).parents[1] / "construct"))
from faulty_server import FaultyServer, Schedule
from scripted_llm import ScriptedLLM

from compeff_hf.construct.config import ConstructConfig
from compeff_hf.data import load_rows, read_jsonl
from compeff_hf.errors import RecipeError
from compeff_hf.teacher import TeacherConfig

CONSTRUCT_DAG = {
    "load_texts": ["attributes", "demos", "assemble"],
    "attributes": ["vocabulary", "assemble"],
    "vocabulary": ["perspectives"],
    "perspectives": ["analysis_prompts", "task_ideas", "task_specs", "assemble"],
    "analysis_prompts": ["assemble"],
    "task_ideas": ["task_specs"],
    "task_specs": ["demos", "assemble"],
    "demos": ["assemble"],
    "assemble": [],
}


def _construct_config(out: Path, url: str, **overrides) -> ConstructConfig:
    values = {
        "output_dir": str(out), "endpoint_url": url, "max_texts": 12, "min_attribute_count": 1,
        "ap_preference_percentile": 10.0, "analysis_prompts_per_perspective": 2, "tasks_per_perspective": 2,
        "demo_requests_per_task": 1, "max_perspectives": 2, "min_tasks_per_perspective": 1,
        "instructions_per_text": 1, "k_demos": 1, "max_concurrency": 4,
    }  # fmt: skip
    values.update(overrides)
    return ConstructConfig(**values)


def _successors(pipeline) -> dict[str, list[str]]:
    return {name: sorted(pipeline.dag.get_step_successors(name)) for name in pipeline.dag}


def test_construct_pipeline_is_the_documented_dag(tmp_path):
    from compeff_hf.llm.pipelines import build_construct_pipeline

    pipeline = build_construct_pipeline(_construct_config(tmp_path, "http://127.0.0.1:9"))
    assert _successors(pipeline) == {k: sorted(v) for k, v in CONSTRUCT_DAG.items()}
    steps = {name: pipeline.dag.get_step(name)["step"] for name in pipeline.dag}
    assert type(steps["load_texts"]).__mro__[1].__name__ == "_ConstructStepMixin"
    assert all(steps[n].is_global for n in CONSTRUCT_DAG if n != "load_texts")
    assert steps["attributes"].inputs == ["id", "text"] and "triplets" in steps["attributes"].outputs


def test_pipeline_recipe_fields_are_checked():
    with pytest.raises(RecipeError, match="pipeline_backend"):
        ConstructConfig(pipeline_backend="spark")
    with pytest.raises(RecipeError, match="llm_kwargs must be a JSON object"):
        ConstructConfig(llm_kwargs="[1, 2]")
    from compeff_hf.llm.pipelines.base import make_llm

    with pytest.raises(RecipeError, match="no such distilabel LLM"):
        make_llm(ConstructConfig(llm_class="NoSuchLLM"))
    llm = make_llm(ConstructConfig(llm_class="OpenAILLM", endpoint_url="http://127.0.0.1:9", model="m"))
    assert type(llm).__name__ == "OpenAILLM" and llm.base_url == "http://127.0.0.1:9/v1" and llm.model == "m"


def test_ray_backend_is_selected_by_the_recipe(tmp_path):
    """pipeline_backend: ray turns the same DAG into distilabel's RayPipeline (running it needs `pip install ray`)."""
    from compeff_hf.llm.pipelines import build_construct_pipeline

    config = _construct_config(tmp_path, "http://127.0.0.1:9", pipeline_backend="ray", ray_address="ray://h:10001")
    ray_pipeline = build_construct_pipeline(config).ray(ray_head_node_url=config.ray_address)
    assert type(ray_pipeline).__name__ == "RayPipeline"
    assert _successors(ray_pipeline) == {k: sorted(v) for k, v in CONSTRUCT_DAG.items()}
    assert ray_pipeline._ray_head_node_url == "ray://h:10001"


@step(inputs=["messages"], outputs=["n_chars"])
def CountChars(inputs: StepInput):
    """A custom step (module level: pipeline workers import it by name)."""
    for row in inputs:
        row["n_chars"] = len(row["messages"][0]["content"])
    yield inputs


def _fail_some_attribute_requests(prompt: str) -> bool:
    return prompt.startswith("Instruction: Given the following input") and len(prompt) % 3 == 0


@pytest.mark.slow
def test_construct_with_a_distilabel_llm_counts_failed_requests_and_runs_a_custom_step(tmp_path):
    """distilabel's InferenceEndpointsLLM against a local OpenAI-API server: None generations are failed rows, counted.

    Also: the documented extension, a custom step appended after `assemble`, runs inside the same pipeline.
    """
    from compeff_hf.llm.pipelines import build_construct_pipeline
    from compeff_hf.llm.pipelines.base import run_pipeline

    out = tmp_path / "c"
    with ScriptedLLM(fail=_fail_some_attribute_requests) as llm:
        config = _construct_config(out, llm.url, llm_class="InferenceEndpointsLLM", attribute_decoding="sample")
        pipeline = build_construct_pipeline(config)
        with pipeline:
            pipeline.dag.get_step("assemble")["step"] >> CountChars(name="count_chars")
        distiset = run_pipeline(pipeline, config, out)
        failed_requests = llm.failed["attributes"]
    assert failed_requests > 0
    attempts = read_jsonl(out / "_ledger" / "llm_attributes.jsonl")
    failed = [r for r in attempts if r["status"] == "failed"]
    assert len(failed) == failed_requests  # every failed request is a ledger row, none dropped
    assert all("InferenceEndpointsLLM returned no generation" in r["error"] for r in failed)
    marks = {m["id"]: m for m in read_jsonl(out / "_ledger" / "substages.jsonl")}
    stats = marks["attributes"]["llm"]["attributes"]
    assert stats["failed"] == failed_requests and stats["ok"] + stats["failed"] + stats["parse_failed"] == 12
    rejected = load_rows(out / "rejected_attributes").to_list()
    assert sum(r["kind"] == "request" for r in rejected) == failed_requests
    rows = distiset["default"]["train"].to_list()
    assert rows and all(r["n_chars"] == len(r["messages"][0]["content"]) for r in rows)
    assert len(rows) == len(load_rows(out / "data"))


def _instructions(path: Path, n: int) -> Path:
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"ins{i}", "messages": [{"role": "user", "content": f"review {i}"}]}) + "\n")
    return path


def test_teacher_runs_as_a_pipeline_streaming_batches_and_keeps_pipeline_yaml(tmp_path):
    from compeff_hf.cli import main as cli_main
    from compeff_hf.llm.pipelines import build_teacher_pipeline

    data = _instructions(tmp_path / "ins.jsonl", 7)
    out = tmp_path / "teacher"
    with FaultyServer(Schedule()) as server:
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(out)]
        assert cli_main([*args, "--pipeline_batch_size", "3"]) == 0
        assert len(server.log.entries) == 7
    config = TeacherConfig(input=str(data), output_dir=str(out), pipeline_batch_size=3)
    pipeline = build_teacher_pipeline(config)
    assert _successors(pipeline) == {"load_instructions": ["teacher_generation"], "teacher_generation": []}
    dumped = yaml.safe_load((out / "pipeline.yaml").read_text())
    names = [s["name"] for s in dumped["pipeline"]["steps"]]
    assert names == ["load_instructions", "teacher_generation"]
    assert {"from": "load_instructions", "to": ["teacher_generation"]} in dumped["pipeline"]["connections"]
    assert sorted(load_rows(out)["id"]) == sorted(f"ins{i}" for i in range(7))


def test_teacher_pipeline_reraises_the_failure_budget_and_a_rerun_sends_only_what_failed(tmp_path, capsys):
    from compeff_hf.cli import main as cli_main

    data = _instructions(tmp_path / "ins.jsonl", 30)
    out = tmp_path / "teacher"
    with FaultyServer(Schedule(seed=3, fault_rate=0.6, kinds=("500",))) as server:
        args = ["teacher", "--input", str(data), "--endpoint_url", server.url, "--output_dir", str(out)]
        args += ["--max_retries", "0", "--max_concurrency", "2"]
        assert cli_main(args) != 0  # a step's error reaches the stage (distilabel alone would not report it)
        assert "more than the failure budget" in capsys.readouterr().err
        answered = {r["id"] for r in read_jsonl(out / "_ledger" / "requests.jsonl") if r["status"] == "ok"}
        server.schedule = Schedule()
        server.reset_log()
        assert cli_main(args) == 0
        assert len(server.log.entries) == 30 - len(answered)  # nothing answered is asked again


_EMPTY_GLOBAL_STEP_HANGS = textwrap.dedent(
    """
    import warnings; warnings.simplefilter("ignore")
    from distilabel.pipeline import Pipeline
    from distilabel.steps import GeneratorStep, GlobalStep, StepInput

    class Gen(GeneratorStep):
        @property
        def outputs(self): return ["id"]
        def process(self, offset: int = 0):
            yield [{"id": "1"}], True

    class Empty(GlobalStep):
        @property
        def inputs(self): return ["id"]
        @property
        def outputs(self): return ["e"]
        def process(self, inputs: StepInput):
            yield []

    class Last(GlobalStep):
        @property
        def inputs(self): return ["id"]
        def process(self, *inputs: StepInput):
            yield [{"id": "done"}]

    with Pipeline(name="defect", cache_dir=__import__("sys").argv[1]) as p:
        g, e, last = Gen(name="g"), Empty(name="e"), Last(name="last")
        g >> e >> last
        g >> last
    p.run(use_cache=False)
    print("FINISHED")
    """
)


@pytest.mark.slow
def test_distilabel_defect_an_empty_global_step_output_hangs_the_pipeline(tmp_path):
    """Why our steps never yield an empty batch (base.EMPTY). If this test fails, distilabel fixed it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _EMPTY_GLOBAL_STEP_HANGS, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=25)
    except subprocess.TimeoutExpired:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return  # hung, as documented
    pytest.fail(f"distilabel no longer hangs on an empty global step (rc={proc.returncode}, {out[-200:]!r})")


class OneRow(GeneratorStep):
    @property
    def outputs(self):
        return ["id"]

    def process(self, offset: int = 0):
        yield [{"id": "1"}], True


class Boom(GlobalStep):
    """Fails, the way our steps do: the error recorded for run_pipeline, a marker row yielded."""

    stage_dir: str = ""

    @property
    def inputs(self):
        return ["id"]

    def process(self, inputs: StepInput):
        from compeff_hf.llm.pipelines.base import ERROR, record_error

        try:
            raise ValueError("boom in a step")
        except ValueError as err:
            record_error(self.stage_dir, err)
        yield [{ERROR: True}]


def test_a_failing_step_is_reraised_by_our_runner(tmp_path):
    """A global step that raises makes distilabel 1.5.3 hang (or log it and exit 0): our steps record the error
    and yield a marker row instead, and run_pipeline re-raises it in the caller."""
    import warnings

    from distilabel.pipeline import Pipeline

    from compeff_hf.llm.pipelines.base import run_pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Pipeline(name="failing", cache_dir=tmp_path / "cache") as pipeline:
            OneRow(name="g") >> Boom(name="boom", stage_dir=str(tmp_path))
    with pytest.raises(ValueError, match="boom in a step"):
        run_pipeline(pipeline, TeacherConfig(), tmp_path)
    assert "ValueError: boom in a step" in (tmp_path / "_ledger" / "pipeline_error.log").read_text()
