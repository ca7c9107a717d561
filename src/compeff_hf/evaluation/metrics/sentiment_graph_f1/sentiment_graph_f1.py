"""Weighted sentiment-graph tuple F1 of SemEval-2022 Task 10 (structured sentiment analysis), for OpeNER."""

import json

import datasets
import evaluate

_DESCRIPTION = """Sentiment-graph F1 of SemEval-2022 Task 10. Each opinion is (holder, target, expression, polarity),
with spans turned into sets of whitespace-token indices of the sentence. A predicted tuple is a true positive
when a gold tuple of the same sentence overlaps it in holder, target and expression (an empty holder or target
matches an empty one) and has the same polarity; its credit is the best mean overlap ratio. Precision divides
the credits of the predicted tuples by their number, recall those of the gold tuples by theirs."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): per sentence, a JSON object {"text": str, "opinions": [...]} in the SemEval-2022
        format, where each opinion has "Source", "Target", "Polar_expression" ([[spans], ["begin:end"]]) and
        "Polarity".
    references (list of str): the gold sentences in the same format.
Returns:
    f1, precision, recall (float).
Examples:
    >>> m = evaluate.load("path/to/sentiment_graph_f1")
    >>> op = {"Source": [[], []], "Target": [["food"], ["4:8"]], "Polar_expression": [["good"], ["13:17"]], "Polarity": "Positive"}
    >>> s = json.dumps({"text": "The food was good", "opinions": [op]})
    >>> m.compute(predictions=[s], references=[s])["f1"]
    1.0
"""

_EPS = 1e-16


def space_spans(text):
    """Token spans of a split on single spaces (NLTK SpaceTokenizer.span_tokenize), empty tokens included."""
    spans, left = [], 0
    while True:
        right = text.find(" ", left)
        if right == -1:
            if left != len(text):
                spans.append((left, len(text)))
            return spans
        if right != 0:
            spans.append((left, right))
        left = right + 1


def token_set(offsets, spans):
    """Token indices covered by character offsets "begin:end" (a span must start and end on token borders)."""
    out = []
    for offset in offsets:
        begin, end = (int(x) for x in offset.split(":"))
        inside = False
        for i, (b, e) in enumerate(spans):
            if b == begin:
                inside = True
            if inside:
                out.append(i)
            if e == end:
                inside = False
    return frozenset(out)


def graph_tuples(sentence):
    spans = space_spans(sentence["text"])
    return [
        (
            token_set(op["Source"][1], spans),
            token_set(op["Target"][1], spans),
            token_set(op["Polar_expression"][1], spans),
            op["Polarity"],
        )
        for op in sentence.get("opinions") or []
    ]


def _filled(s):
    return s if s else frozenset(["_"])


def _overlaps(a, b):
    return all(_filled(x) & _filled(y) for x, y in zip(a[:2], b[:2], strict=False)) and bool(a[2] & b[2])


def _credit(t, others):
    """Best mean overlap of t with any tuple that overlaps it in all three parts (0 if none)."""
    best = 0.0
    h1, t1, e1 = _filled(t[0]), _filled(t[1]), t[2]
    for o in others:
        if _overlaps(t, o):
            score = (
                len(_filled(o[0]) & h1) / len(h1) + len(_filled(o[1]) & t1) / len(t1) + len(o[2] & e1) / len(e1)
            ) / 3
            best = max(best, score)
    return best


def side_credit(tuples, other):
    """Credit and count of one sentence's tuples against the other side's tuples of that sentence."""
    credit = 0.0
    for t in tuples:
        if any(_overlaps(t, o) and t[3] == o[3] for o in other):
            credit += _credit(t, other)
    return credit, len(tuples)


def _side(selected, against):
    credit, count = 0.0, 0
    for tuples, other in zip(selected, against, strict=False):
        c, n = side_credit(tuples, other)
        credit += c
        count += n
    return credit / (count + _EPS)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SentimentGraphF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        pred = [graph_tuples(json.loads(p)) for p in predictions]
        gold = [graph_tuples(json.loads(r)) for r in references]
        precision = _side(pred, gold)
        recall = _side(gold, pred)
        f1 = 2 * precision * recall / (precision + recall + 1e-17)
        return {"f1": f1, "precision": precision, "recall": recall}
