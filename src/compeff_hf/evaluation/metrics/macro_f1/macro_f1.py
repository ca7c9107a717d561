"""Macro-F1 and accuracy over label strings: the SentiBench classification metric (sklearn, average='macro')."""

import datasets
import evaluate
from sklearn.metrics import accuracy_score, f1_score

_DESCRIPTION = """Macro-averaged F1 (unweighted mean of per-label F1 over the labels seen in references or
predictions) and accuracy, for classification outputs given as label strings. Labels are compared exactly, so
lower-case both sides first if case should not matter (SentiBench compares lower-cased labels)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): predicted labels.
    references (list of str): gold labels.
Returns:
    macro_f1 (float), accuracy (float), n (int).
Examples:
    >>> m = evaluate.load("path/to/macro_f1")
    >>> m.compute(predictions=["pos", "neg", "neg"], references=["pos", "neg", "pos"])
    {'macro_f1': 0.6666666666666666, 'accuracy': 0.6666666666666666, 'n': 3}
"""

_CITATION = """@inproceedings{zhang-etal-2025-targeted,
  title = {Targeted Distillation for Sentiment Analysis},
  author = {Zhang, Yice and Xie, Guangyu and Lin, Jingjie and Bao, Jianzhu and Wang, Qianlong and Zeng, Xi and Xu, Ruifeng},
  booktitle = {Proceedings of EMNLP 2025},
  year = {2025}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MacroF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        if not references:
            return {"macro_f1": 0.0, "accuracy": 0.0, "n": 0}
        return {
            "macro_f1": float(f1_score(references, predictions, average="macro")),
            "accuracy": float(accuracy_score(references, predictions)),
            "n": len(references),
        }
