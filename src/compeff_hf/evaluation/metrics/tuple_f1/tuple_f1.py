"""Micro P/R/F1 over exact tuples: the SentiBench metric for aspect-term, aspect-category and quad prediction."""

import datasets
import evaluate

_DESCRIPTION = """Micro precision, recall and F1 over (sentence, tuple) items. A predicted tuple is correct when a
gold tuple of the same sentence is equal element by element (exact strings, case-sensitive). Predictions are a
multiset, as in the published scorer: a tuple predicted twice counts twice, and an invalid item (pass an empty
tuple) is a false positive. Precision is 1 when nothing is predicted, recall is 1 when there is no gold tuple."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of list of list of str): per sentence, the predicted tuples.
    references (list of list of list of str): per sentence, the gold tuples.
Returns:
    f1, precision, recall (float), n_pred, n_gold (int).
Examples:
    >>> m = evaluate.load("path/to/tuple_f1")
    >>> m.compute(predictions=[[["pasta", "negative"]]], references=[[["pasta", "negative"], ["wine", "positive"]]])
    {'f1': 0.6666666666666666, 'precision': 1.0, 'recall': 0.5, 'n_pred': 1, 'n_gold': 2}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TupleF1(evaluate.Metric):
    def _info(self):
        tuples = datasets.Sequence(datasets.Sequence(datasets.Value("string")))
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": tuples, "references": tuples}),
        )

    def _compute(self, predictions, references):
        pred = [(i, tuple(t)) for i, tuples in enumerate(predictions) for t in tuples]
        gold = [(i, tuple(t)) for i, tuples in enumerate(references) for t in tuples]
        gold_set, pred_set = set(gold), set(pred)
        precision = sum(p in gold_set for p in pred) / len(pred) if pred else 1.0
        recall = sum(g in pred_set for g in gold) / len(gold) if gold else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"f1": f1, "precision": precision, "recall": recall, "n_pred": len(pred), "n_gold": len(gold)}
