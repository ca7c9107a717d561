"""Assembly of instructions: formats, ids, routing by a text's own attributes, reproducibility."""

from __future__ import annotations

from compeff_hf.construct.assemble import assemble

TEXTS = [{"id": f"t{i}", "text": f"user text {i}", "domain": "tweet"} for i in range(6)]
PERSPECTIVES = [
    {"id": "pA", "members": ["tone", "mood"]},
    {"id": "pB", "members": ["anger", "rage"]},
    {"id": "pC", "members": ["price"]},  # no instruction: never used
]
PROMPTS = [
    {"id": "a1", "perspective_id": "pA", "prompt": "Analyze the tone of this text."},
    {"id": "a2", "perspective_id": "pA", "prompt": "What mood does this text convey?"},
]
TASKS = [
    {
        "id": "k1",
        "perspective_id": "pB",
        "task_name": "Anger Rating",
        "task_type": "rating",
        "description": "Rate the anger of the text from 1 to 5.",
        "labels": [],
        "output_format": "an integer",
        "examples": [{"input": "I am furious!", "output": "5"}],
    }
]
DEMOS = [{"id": f"d{i}", "task_id": "k1", "input": f"demo {i}", "output": str(i)} for i in range(4)]


def _run(**kw):
    args = {"instructions_per_text": 2, "analysis_fraction": 0.5, "k_demos": 2, "seed": 3}
    args.update(kw)
    return assemble(TEXTS, PERSPECTIVES, PROMPTS, TASKS, DEMOS, **args)


def test_rows_schema_formats_and_ids():
    rows = _run()
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    for r in rows:
        content = r["messages"][0]["content"]
        if r["instruction_type"] == "task":
            assert r["perspective_id"] == "pB" and r["task_id"] == "k1" and r["task_name"] == "Anger Rating"
            assert content.startswith("Rate the anger of the text from 1 to 5.\nOutput format: an integer\n\n")
            assert content.endswith(f"Input: {r['text']}\nOutput:")
            assert content.count("Input: ") == 3 and len(r["demo_ids"]) == 2  # k demos + the user text
        else:
            assert r["perspective_id"] == "pA" and r["task_id"] is None and r["task_name"] == "analysis"
            assert content.endswith(f"\n\nInput: {r['text']}") and r["demo_ids"] == []
    assert _run() == rows  # seeded per text


def test_routing_by_attributes_and_uniform_fallback():
    index = {"t0": {"rage"}, "t1": {"tone"}, "t2": {"unknown"}}
    rows = _run(routing="attributes", text_attributes=index, instructions_per_text=1)
    by_text = {r["text_id"]: r for r in rows}
    assert by_text["t0"]["perspective_id"] == "pB"
    assert by_text["t1"]["perspective_id"] == "pA"
    assert by_text["t2"]["perspective_id"] in ("pA", "pB")  # no matching cluster: uniform


def test_analysis_fraction_extremes_and_no_repeats():
    only_tasks = _run(analysis_fraction=0.0, instructions_per_text=1)
    assert {r["instruction_type"] for r in only_tasks} <= {"task", "analysis"}
    all_analysis = _run(
        analysis_fraction=1.0, routing="attributes", text_attributes={t["id"]: {"tone"} for t in TEXTS}
    )
    assert {r["instruction_type"] for r in all_analysis} == {"analysis"}
    for tid in {r["text_id"] for r in all_analysis}:
        ids = [r["instruction_id"] for r in all_analysis if r["text_id"] == tid]
        assert len(ids) == len(set(ids)) == 2  # the two analysis prompts, never the same one twice


def test_spec_examples_join_the_demo_pool_and_k_is_capped():
    rows = assemble(TEXTS[:1], PERSPECTIVES, [], TASKS, [], instructions_per_text=1, analysis_fraction=0.0, k_demos=5)
    (row,) = rows
    assert "Input: I am furious!\nOutput: 5\n\n" in row["messages"][0]["content"]
    assert len(row["demo_ids"]) == 1


def test_nothing_to_assemble():
    assert assemble(TEXTS, PERSPECTIVES, [], [], [], instructions_per_text=2, analysis_fraction=0.5, k_demos=2) == []
