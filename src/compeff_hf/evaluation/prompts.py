"""The published SentiBench prompts (COMPEFFDIST ``eval_sentibench``), the demo draw and the gold label strings.

The instruction strings are reproduced verbatim from the official evaluation code, typos included ("restaurant
pcrices", the unclosed quote after "neutral", trailing spaces), because a changed prompt changes the numbers.
A prompt is: instruction, blank line, ``k`` demonstrations, then the query, each block separated by a blank line::

    <instruction>

    Sentence: <demo>
    Label: <label>

    ...
    Sentence: <query>
    Label:

Fine-grained tasks use ``Output:`` and a JSON array (indent 2) instead of ``Label:``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .tasks import Task

_SENTIMENT_2 = (
    "Please perform Sentiment Analysis task. Given the sentence, assign a sentiment polarity label from "
    "['negative', 'positive']. Return label only without any other text."
)

INSTRUCTIONS: dict[str, str] = {
    "imdb": _SENTIMENT_2,
    "yelp2": _SENTIMENT_2,
    "sst2": _SENTIMENT_2,
    "twitter": (
        "Please perform Sentiment Analysis task. Given the sentence, assign a sentiment polarity label from "
        "['negative', 'positive', 'neutral']. Return label only without any other text."
    ),
    "irony18": (
        "Please perform Irony Detection task. Given the sentence, assign a sentiment label from "
        "['irony', 'non-irony']. Return label only without any other text."
    ),
    "tweeteval": (
        "Please perform Emotion Detection task. Given the sentence, assign a emotion label from "
        "['anger', 'joy', 'sadness', 'optimism']. Return the label only without any other text."
    ),
    "pstance": (
        "Please perform Stance Detection task. Given the sentence, assign a sentiment label expressed by the author "
        "towards \"%s\" from ['against', 'favor']. Return label only without any other text."
    ),
    "intimacy": (
        "Please perform Intimacy Detection task. Given the sentence, assign an intimacy label from "
        "['not intimate', 'moderately intimate', 'highly intimate']. Return label only without any other text."
    ),
    "atsa_rest16": """Please perform Aspect Term Sentiment Analysis task. Given the sentence, extract all aspect terms and their corresponding sentiment polarities.
Return your answer in JSON format as an array of objects, each with the fields:
- "aspect_term": the extracted aspect
- "sentiment": one of "positive", "negative" or "neutral

Example output format:
[
  {
    "aspect_term": "battery",
    "sentiment": "negative"
  }
]""",
    "acsa_rest16": """Please perform aspect-level sentiment analysis task. Given the sentence, tag all aspect categories and their corresponding sentiment polarities.
Aspect category should be selected from ['ambience general', 'drinks prices', 'drinks quality', 'drinks style_options', 'food prices', 'food quality', 'food style_options', 'location general', 'restaurant general', 'restaurant miscellaneous', 'restaurant prices', 'service general'], and sentiment should be selected from ['negative', 'neutral', 'positive']. 
Return your answer in JSON format as an array of objects, each with the fields:
- "aspect_category": the selected aspect category
- "sentiment": the sentiment polarity

If there are no aspect-sentiment pairs, return an empty list.
Example output format:
[
  {
    "aspect_category": "aspect_category",
    "sentiment": "sentiment"
  }
]""",  # noqa: W291 (the trailing space is in the published prompt)
    "asqp_rest16": """Please perform Aspect Sentiment Quad Prediction task. Given the sentence, extract all (aspect term, aspect category, opinion, sentiment polarity) quadruples.

1. Aspect category should be selected from ['ambience general', 'drinks prices','drinks quality', 'drinks style_options', 'food general', 'food prices', 'food quality', 'food style_options', 'location general', 'restaurant general', 'restaurant miscellaneous', 'restaurant pcrices', 'service general'].

2. Sentiment polarity should be selected from ['negative', 'neutral', 'positive'].

3. If there is no aspect term, use 'NULL' as the aspect term. Only aspect term can be 'NULL', aspect category, opinion and sentiment polarity CANNOT be 'NULL'.

Return your answer in JSON format as an array of objects, each with the fields:

- "aspect_term": the extracted aspect term (or "NULL")
- "aspect_category": the selected aspect category
- "opinion": the expressed opinion
- "sentiment": the sentiment polarity

Example output format:
[
  {
    "aspect_term": "aspect_term",
    "aspect_category": "aspect_category",
    "opinion": "opinion",
    "sentiment": "sentiment"
  }
]""",
    "opener": """Please perform the Structured Sentiment Analysis task. Given a sentence, extract all opinion tuples in the format (holder, target, sentiment expression, sentiment polarity). 

Each tuple should contain:

- Holder: The entity expressing the sentiment, if there is no explicit holder, use 'NULL' as the holder.

- Target: The entity being evaluated, if there is no explicit target, use 'NULL' as the target.

- Sentiment Expression: The phrase conveying the sentiment, if there is no sentiment expression, use 'NULL'.

- Sentiment Polarity: The polarity of the sentiment, either positive, negative, or neutral, if there is no sentiment expression, use 'NULL'.

Follow these rules:

1. If there is no sentiment expression, return 'NULL' for all fields.

2. Return your answer in JSON format as an array of objects, each with the fields:
- "holder"
- "target"
- "sentiment_expression"
- "sentiment_polarity"

Example output format:
[
  {
    "holder": "holder",
    "target": "target",
    "sentiment_expression": "sentiment_expression",
    "sentiment_polarity": "sentiment_polarity"
  }
]""",  # noqa: W291
}


# ------------------------------------------------------------------------------------------------ gold answers


def _dumps(rows: list[dict[str, str]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2)


def _atsa_gold(item: dict[str, Any]) -> list[dict[str, str]]:
    seen = {}
    for aspect in item.get("aspects", []):
        if aspect["target"] in ("NULL", None):
            continue
        key = (aspect["target"], aspect["polarity"], (aspect.get("from") or 0, aspect.get("to") or 0))
        seen[key] = None
    # Upstream sorts by the (from, to) offsets as stored: strings, so "100" sorts before "51". Kept on purpose.
    ordered = sorted(seen, key=lambda k: k[2])
    return [{"aspect_term": term, "sentiment": pol} for term, pol, _ in ordered]


def _acsa_gold(item: dict[str, Any]) -> list[dict[str, str]]:
    # Upstream's de-duplication compares a tuple with a list of dicts and never fires; duplicates stay (harmless).
    return [
        {"aspect_category": a["category"].lower().replace("#", " "), "sentiment": a["polarity"]}
        for a in item.get("aspects", [])
    ]


def _asqp_gold(item: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {
            "aspect_term": q["aspect"],
            "aspect_category": q["category"],
            "opinion": q["opinion"],
            "sentiment": q["sentiment"],
        }
        for q in item.get("quards", [])
    ]


def _ssa_gold(item: dict[str, Any]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for op in item.get("opinions", []):
        row = {
            "holder": " AND ".join(op["Source"][0]) or "NULL",
            "target": " AND ".join(op["Target"][0]) or "NULL",
            "sentiment_expression": " AND ".join(op["Polar_expression"][0]),
            "sentiment_polarity": op["Polarity"].lower(),
        }
        if row not in rows:
            rows.append(row)
    if not item.get("opinions"):
        rows.append(dict.fromkeys(("holder", "target", "sentiment_expression", "sentiment_polarity"), "NULL"))
    return rows


_GOLD = {"atsa": _atsa_gold, "acsa": _acsa_gold, "asqp": _asqp_gold, "ssa": _ssa_gold}


def gold_answer(task: Task, item: dict[str, Any]) -> str:
    """The answer string a demonstration shows (and a perfect model would write) for one item."""
    if task.is_classification:
        return item["label"].lower()
    return _dumps(_GOLD[task.kind](item))


# ------------------------------------------------------------------------------------------------ prompts


def draw_demos(pool: list[dict[str, Any]], n_items: int, k: int, seed: int) -> list[list[int]]:
    """Demo indices for the first ``n_items`` test items: ``k`` drawn without replacement per item, in test order.

    This is the published draw (``random.seed(seed)`` then ``random.sample(pool, k)`` per item), so the first N
    items of a ``--limit N`` run see exactly the demos they see in a full run.
    """
    rng = random.Random(seed)
    indices = list(range(len(pool)))
    return [rng.sample(indices, k=k) for _ in range(n_items)]


def build_prompt(task: Task, item: dict[str, Any], demos: list[dict[str, Any]]) -> str:
    """The raw completion prompt for one test item."""
    instruction = INSTRUCTIONS[task.name]
    blocks = [instruction % item["target"] if task.name == "pstance" else instruction, ""]
    cue = "Label" if task.is_classification else "Output"
    for demo in demos:
        answer = gold_answer(task, demo)
        if task.name == "pstance":
            answer = f"{answer}(opinion towards '{demo['target']}')"
        blocks.append(f"Sentence: {demo['sentence']}\n{cue}: {answer}\n")
    blocks.append(f"Sentence: {item['sentence']}\n{cue}:")
    return "\n".join(blocks)


def apply_chat_template(tokenizer: Any, prompt: str) -> str:
    """Wrap a raw prompt as one user turn (off by default: the published protocol uses raw prompts)."""
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
