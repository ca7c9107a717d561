"""Parsers of every LLM answer the construct stage reads: well-formed, malformed and adversarial outputs."""

from __future__ import annotations

import pytest

from compeff_hf.construct import analysis, attributes, demos, tasks
from compeff_hf.errors import ParseError

# ----------------------------------------------------------------------------------------------- attributes

OFFICIAL = """Here are the attributes:
1. **Tone**: Attribute Description - The overall attitude of the writer. Attribute Value - Sarcastic.
2. **Emotional Intensity**: Attribute Description - How strongly feelings are expressed. Attribute Value - High
3. **Use of Humor**: Attribute Description - Whether jokes are used. Attribute Value - Yes.
"""


def test_attributes_official_format():
    triplets = attributes.parse_triplets(OFFICIAL)
    assert [t.name for t in triplets] == ["Tone", "Emotional Intensity", "Use of Humor"]
    assert triplets[0].description == "The overall attitude of the writer"
    assert triplets[0].value == "Sarcastic"
    assert triplets[1].value == "High"


def test_attributes_sub_bullets_and_headers():
    text = """1. **Overall Sentiment**
   - Attribute Description: the general polarity
   - Attribute Value: negative
Attribute: Frustration Level
Description: how annoyed the writer is
Value: high
- Target: the battery"""
    triplets = attributes.parse_triplets(text)
    names = [t.name for t in triplets]
    assert names[0] == "Overall Sentiment" and triplets[0].value == "negative"
    assert triplets[0].description == "the general polarity"
    assert "Frustration Level" in names
    target = triplets[names.index("Target")]
    assert target.value == "the battery" and target.description == ""


@pytest.mark.parametrize("junk", [None, "", "   \n", "I cannot help with that.", "<eos><eos>", "{}" * 50])
def test_attributes_junk_raises(junk):
    with pytest.raises(ParseError):
        attributes.parse_triplets(junk)


def test_attributes_adversarial_run_on_is_capped_and_fields_truncated():
    text = "\n".join(
        f"{i}. **Attr{i}**: Attribute Description - d. Attribute Value - " + "x" * 5000 for i in range(500)
    )
    triplets = attributes.parse_triplets(text, max_items=40)
    assert len(triplets) == 40
    assert all(len(t.value) <= 300 for t in triplets)


def test_attributes_sentence_without_name_is_skipped():
    triplets = attributes.parse_triplets("1. the text is kind of sad overall\n2. **Mood**: gloomy")
    assert [(t.name, t.value) for t in triplets] == [("Mood", "gloomy")]


# ------------------------------------------------------------------------------------------------ analysis


def test_analysis_numbered_with_headers_and_continuation():
    text = """Analyze how the writer's tone shifts between the opening and the end of this text.
2. **Tone markers**: Identify the words that signal sarcasm in this text.
3) What emotions does this text convey, and how intense are they?
4. Short.
5. What emotions does this text convey, and how intense are they?
Some closing remark that is not numbered."""
    prompts = analysis.parse_prompts(text, max_prompts=10)
    assert prompts == [
        "Analyze how the writer's tone shifts between the opening and the end of this text.",
        "Identify the words that signal sarcasm in this text.",
        "What emotions does this text convey, and how intense are they?",
    ]


def test_analysis_keeps_colon_inside_question():
    prompts = analysis.parse_prompts("1. What does the phrase 'never again: ever' reveal about this text?")
    assert prompts[0].startswith("What does the phrase")


@pytest.mark.parametrize("junk", [None, "", "1. ok\n2. no", "####"])
def test_analysis_junk_raises(junk):
    with pytest.raises(ParseError):
        analysis.parse_prompts(junk)


# -------------------------------------------------------------------------------------------------- ideas


def test_ideas_json_in_fence_with_trailing_comma():
    text = """Sure! ```json
[{"task_name": "Tone Classification", "task_description": "Classify the tone as positive, negative or neutral."},
 {"Task Name": "Frustration Rating", "Task Description": "Rate frustration from 1 to 5 for the text."},]
```"""
    ideas = tasks.parse_ideas(text)
    assert [i["task_name"] for i in ideas] == ["Tone Classification", "Frustration Rating"]


def test_ideas_truncated_json_recovers_complete_items():
    text = '[{"task_name": "A Task", "task_description": "Label the tone of the text."}, {"task_name": "B", "task_desc'
    ideas = tasks.parse_ideas(text)
    assert [i["task_name"] for i in ideas] == ["A Task"]


def test_ideas_markdown_list_fallback_and_dedup():
    text = "1. **Tone Detection**: Detect the tone of the review text.\n2. Tone Detection: again the same task here"
    ideas = tasks.parse_ideas(text)
    assert len(ideas) == 1 and ideas[0]["task_description"] == "Detect the tone of the review text."
    # the same description under another name is the same task
    text = (
        "1. Rate A | Estimate the risk of buying.\n2. Rate B | Estimate the  risk of buying.\n3. C | Find the cause."
    )
    assert [i["task_name"] for i in tasks.parse_ideas(text)] == ["Rate A", "C"]


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "",
        "[]",
        '[{"task_name": 3}]',
        "[[[[",
        "no tasks here",
        "- closed-set classification (a fixed label set);",
    ],
)
def test_ideas_junk_raises(junk):
    with pytest.raises(ParseError):
        tasks.parse_ideas(junk)


def test_close_brackets_ignores_brackets_inside_strings():
    assert tasks.close_brackets('{"a": "x]"') == '{"a": "x]"}'
    assert tasks.close_brackets('["a", {"b": "c') == '["a", {"b": "c"}]'


# --------------------------------------------------------------------------------------------------- specs

SPEC = """Task Name: **Tone Classification**
Task Type: classification
Task Description: Classify the overall tone of the text into one of the given labels.
Labels: positive, negative, neutral
Output Format: a single label
Task Examples:
1. Input: "I loved every minute of it." Output: positive
2. **Input:** The food was cold.
   **Output:** negative
Input: It is fine.
Output: neutral
Input: dangling input without output
"""


def test_spec_well_formed():
    spec = tasks.parse_spec(SPEC, max_examples=7)
    assert spec["name"] == "Tone Classification"
    assert spec["type"] == "classification"
    assert spec["labels"] == ["positive", "negative", "neutral"]
    assert spec["examples"] == [
        {"input": "I loved every minute of it.", "output": "positive"},
        {"input": "The food was cold.", "output": "negative"},
        {"input": "It is fine.", "output": "neutral"},
    ]


def test_spec_examples_capped_and_type_inferred():
    body = "Task Description: Rate the frustration of the text on a scale from 1 to 5.\nTask Examples:\n"
    body += "".join(f"Input: text number {i}\nOutput: {i % 5 + 1}\n" for i in range(12))
    spec = tasks.parse_spec(body, max_examples=7)
    assert len(spec["examples"]) == 7 and spec["type"] == "rating" and spec["labels"] == []


def test_spec_truncated_json_output_is_closed():
    body = 'Task Description: Extract the aspects and their sentiment as JSON.\nExamples:\nInput: Great pizza\nOutput: {"aspects": ["pizza"'
    spec = tasks.parse_spec(body)
    assert spec["examples"][0]["output"] == '{"aspects": ["pizza"]}'
    assert spec["type"] == "structured"


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "",
        "Task Name: X",
        "Task Description: too short\nOutput Format: a label",
        "Task Description: " + "word " * 9,
    ],
)
def test_spec_junk_raises(junk):
    with pytest.raises(ParseError):
        tasks.parse_spec(junk)


def _ex(*inputs: str) -> list[dict]:
    return [{"input": i, "output": "1"} for i in inputs]


@pytest.mark.parametrize(
    ("task", "marker"),
    [
        # official rule (6_extract_task_prompts.py): both members of a pair, in the examples
        ({"name": "x", "description": "d", "examples": _ex("Review 1: good. Review 2: bad.")}, "review 1|review 2"),
        ({"name": "x", "description": "d", "examples": _ex("Text A: good.", "Text B: bad.")}, "text a|text b"),
        # one member only, or only outside the examples: a single-text task, kept
        ({"name": "Compare", "description": "Is Review 1 or Review 2 better?", "examples": _ex("Nice.")}, None),
        ({"name": "Score", "description": "Assign the text a score", "examples": _ex("Text a bit long.")}, None),
        ({"name": "Rate", "description": "Give the review a rating", "examples": _ex("Review a good one.")}, None),
        ({"name": "x", "description": "d", "examples": [{"input": "Nice.", "output": "sentence 1"}]}, None),
        ({"name": "x", "description": "d", "examples": _ex("Text 1 only, no second one.")}, None),
        ({"name": "Tone", "description": "d", "examples": _ex("see text 10 and text 20")}, None),
    ],
)
def test_two_text_markers(task, marker):
    from compeff_hf.construct.config import DEFAULT_TWO_TEXT_MARKERS

    assert tasks.two_text_marker(task, DEFAULT_TWO_TEXT_MARKERS) == marker


def test_spec_output_drops_two_text_task_only_on_its_examples():
    parse = tasks.spec_output(7, ["text 1|text 2"])
    body = "Task Description: Decide whether Text 1 is happier than Text 2 overall.\nOutput Format: 1 or 2"
    assert parse(body, {"task_name": "Compare"})["spec"]["description"].startswith("Decide")
    with pytest.raises(ParseError, match="two-text"):
        parse(body + "\nTask Examples:\nInput: Text 1: yay. Text 2: meh.\nOutput: 1", {"task_name": "Compare"})


def test_seed_specs_use_attribute_values_as_labels():
    specs = tasks.seed_specs("tone", ["sarcastic", "positive", "a very long value phrase here"])
    assert specs[0]["labels"] == ["sarcastic", "positive"]
    assert {s["type"] for s in specs} == {"classification", "rating", "extraction", "structured"}
    assert tasks.seed_specs("tone", [])[0]["labels"] == ["positive", "negative", "neutral"]


# --------------------------------------------------------------------------------------------------- demos

TASK = {
    "id": "t1",
    "task_name": "Tone",
    "task_type": "classification",
    "description": "Classify the tone.",
    "labels": ["positive", "negative"],
    "output_format": "one label",
    "examples": [{"input": "Nice!", "output": "positive"}],
}


def test_demos_exact_count_and_validation():
    parse = demos.parse_output({"t1": TASK}, n_instances=2, exact=True)
    row = {"task_id": "t1", "reference_texts": ["The soup was cold and the waiter rude."]}
    out = parse(
        "Input: Loved the fries.\nOutput: Positive\n\nInput: The soup was cold and the waiter rude.\nOutput: negative",
        row,
    )
    assert out["demos"] == [{"input": "Loved the fries.", "output": "Positive"}]
    assert out["demo_rejects"][0]["reason"] == "input copies a reference text"
    with pytest.raises(ParseError, match="exactly 2"):
        parse("Input: a\nOutput: positive", row)


@pytest.mark.parametrize(
    ("generation", "reason"),
    [
        ("Input: Like the reference text, great.\nOutput: positive\nInput: ok\nOutput: positive", "reference"),
        ("Input: Meh.\nOutput: mixed\nInput: Bad.\nOutput: angry", "not one of the labels"),
        ("Input: Nice!\nOutput: positive\nInput: <a text like the references>\nOutput: x", "no instance passed"),
        ("", "empty"),
        ("just chatter", "no 'Input"),
    ],
)
def test_demos_rejections(generation, reason):
    parse = demos.parse_output({"t1": TASK}, n_instances=2, exact=False)
    row = {"task_id": "t1", "reference_texts": []}
    try:
        out = parse(generation, row)
    except ParseError as err:
        assert reason in str(err)
    else:
        assert any(reason in r["reason"] for r in out["demo_rejects"])


def test_demo_requests_are_reproducible():
    refs = [{"id": str(i), "text": f"text {i}"} for i in range(20)]
    a = demos.build_requests([TASK], refs, per_task=4, n_refs=2, seed=1)
    b = demos.build_requests([TASK], refs, per_task=4, n_refs=2, seed=1)
    c = demos.build_requests([TASK], refs, per_task=4, n_refs=2, seed=2)
    assert a == b and a != c
    assert len({r["id"] for r in a}) == 4 and all(len(r["reference_ids"]) == 2 for r in a)


def test_demo_requests_draw_two_spec_examples_at_random_per_request():
    """Official 7_task_specific_prompt_stage3.py: 2 examples sampled per request (1 if the task has one)."""
    task = {**TASK, "examples": [{"input": f"Example {i}.", "output": "positive"} for i in range(7)]}
    refs = [{"id": str(i), "text": f"reference text number {i}"} for i in range(20)]
    rows = demos.build_requests([task], refs, per_task=16, n_refs=2, seed=3)
    fmt = demos.format_input({"t1": task}, 2, "chat")
    shown = [tuple(i for i in range(7) if f"Example {i}." in fmt(r)[0]["content"]) for r in rows]
    assert all(len(s) == 2 for s in shown)  # always two, never one
    assert len(set(shown)) > 4  # varied across requests, not always the first examples
    assert {i for s in shown for i in s} - {0, 1}  # later examples are shown too
    assert rows == demos.build_requests([task], refs, per_task=16, n_refs=2, seed=3)  # seeded
    assert rows != demos.build_requests([task], refs, per_task=16, n_refs=2, seed=4)
    one = demos.build_requests([TASK], refs, per_task=3, n_refs=2, seed=3)
    assert all(r["example_indices"] == [0] for r in one)


# --------------------------------------------------------------------------- completion prompts (base models)


def test_chat_attribute_prompt_is_the_official_facet_analysis_wording_without_hints():
    content = attributes.format_input("chat")({"text": "Great food, slow service."})[0]["content"]
    assert content.startswith("Instruction: Given the following input, what kind of sentiment-related attributes")
    assert "5. Feel free to ignore the tedious and specific content." in content
    assert content.endswith("\n\nInput: Great food, slow service.\n\nAttribute: ")
    # no worked example or hint list pushing names up the vocabulary counts
    for hint in ("Overall Sentiment", "Frustration Level", "Recommendation", "tone, emotion"):
        assert hint not in content
    # base models keep the few-shot completion document
    assert "Overall Sentiment" in attributes.format_input("completion")({"text": "Great food."})


def test_attribute_requests_decode_greedily_by_default_and_record_it():
    from compeff_hf.construct.config import ConstructConfig
    from compeff_hf.construct.pipeline import decoding
    from compeff_hf.errors import RecipeError

    cfg = ConstructConfig(temperature=0.8)
    assert cfg.attribute_decoding == "greedy"
    assert decoding(cfg) == {"attributes": "greedy", "other": "sample (temperature=0.8, top_p=None)"}
    assert decoding(ConstructConfig(attribute_decoding="sample"))["attributes"].startswith("sample")
    with pytest.raises(RecipeError, match="attribute_decoding"):
        ConstructConfig(attribute_decoding="beam")


def test_every_template_renders_in_both_styles_and_completion_ends_in_an_open_slot():
    from compeff_hf.construct import prompts

    text_row = {"text": "Great food, slow service."}
    assert isinstance(attributes.format_input("chat")(text_row), list)
    raw = attributes.format_input("completion")(text_row)
    assert isinstance(raw, str) and raw.endswith("Attributes:\n1. **")
    assert prompts.primer(raw).startswith("Text: Great food, slow service.")
    idea = {"task_name": "Tone Rating", "task_description": "Rate the tone of the text from 1 to 5."}
    spec_prompt = tasks.spec_input(3, "completion")(idea)
    assert prompts.primer(spec_prompt) == (
        "Task Idea: Rate the tone of the text from 1 to 5.\nTask Name: Tone Rating\nTask Type:"
    )
    assert set(prompts.templates("completion")) == {f"completion/{n}" for n in prompts.NAMES}
    with pytest.raises(ValueError, match="prompt style"):
        prompts.request("attributes", "raw", text="x")


def test_ideas_in_the_completion_line_form():
    text = "1. Tone Rating | Rate the tone of the text from 1 to 5.\n2. Tone Words | Extract the words that set the tone.\n3 junk"
    ideas = tasks.parse_ideas(text)
    assert [i["task_name"] for i in ideas] == ["Tone Rating", "Tone Words"]
    assert ideas[1]["task_description"] == "Extract the words that set the tone."


def test_completion_parser_reads_slot_plus_continuation_and_drops_copies():
    from compeff_hf.construct import completion

    fmt = tasks.ideation_input(3, "completion")
    row = {"top_attribute": "tone", "top_description": "the writer's tone", "members": ["tone", "mood"]}
    parse = completion.parser("ideas", fmt, tasks.ideation_output(5))
    out = parse(
        " Tone Rating | Rate the tone of the text from 1 to 5.\n"
        "2. Frustration Level Rating | Rate how frustrated the writer is on a scale from 1 (calm) to 5 (furious).",
        row,
    )
    assert [i["task_name"] for i in out["ideas"]] == ["Tone Rating"]
    with pytest.raises(ParseError, match="worked examples"):
        parse(" Frustration Detection | Decide whether the writer is frustrated; answer yes or no.", row)
    with pytest.raises(ParseError, match="empty"):
        parse("   ", row)

    spec_parse = completion.parser("tasks", tasks.spec_input(3, "completion"), tasks.spec_output(5, ["review 1"]))
    idea = {"task_name": "Tone Rating", "task_description": "Rate the tone of the text from 1 to 5."}
    spec = spec_parse(
        " rating\nTask Description: Rate the tone of the text from 1 (flat) to 5 (passionate).\nLabels: none\n"
        "Output Format: an integer\nTask Examples:\nInput: Cold food, slow service.\nOutput: 2\n"
        "Input: What a wonderful evening!\nOutput: 5",
        idea,
    )["spec"]
    assert spec["type"] == "rating" and spec["examples"] == [{"input": "What a wonderful evening!", "output": "5"}]
    with pytest.raises(ParseError, match="worked example"):
        spec_parse(
            " rating\nTask Description: Read the text and rate how frustrated its writer is, from 1 (calm) to 5 "
            "(furious). Answer with the number only.\nOutput Format: a number",
            idea,
        )


def test_completion_analysis_drops_an_echo_of_the_perspective():
    from compeff_hf.construct import completion

    row = {"members": ["tone", "ease of use", "sarcasm"], "member_descriptions": ["", "", ""]}
    fmt = analysis.format_input(3, 3, "completion")
    parse = completion.parser("analysis", fmt, analysis.parse_output(5))
    out = parse(" tone, ease of use, sarcasm\n2. How does the tone of this text change towards its end?", row)
    assert out["prompts"] == ["How does the tone of this text change towards its end?"]
