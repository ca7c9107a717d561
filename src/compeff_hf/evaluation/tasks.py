"""The 12 SentiBench datasets: where each lives, what kind of task it is, its labels, metric and decoding budget."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RecipeError

GROUPS = {
    "bsa": "Basic sentiment analysis",
    "msa": "Multifaceted sentiment analysis",
    "fsa": "Fine-grained sentiment analysis",
}


@dataclass(frozen=True)
class Task:
    """One SentiBench dataset.

    ``path`` is the upstream folder (``<family>/<dataset>``). Classification tasks carry their verbalizers in the
    published order (with the leading space whose first token is scored); fine-grained tasks carry the greedy
    generation budget the published scripts use.
    """

    name: str
    path: str
    group: str
    kind: str  # "classification" | "atsa" | "acsa" | "asqp" | "ssa"
    metric: str  # the shipped evaluate module: macro_f1 | tuple_f1 | sentiment_graph_f1
    title: str
    verbalizers: tuple[str, ...] = ()
    max_new_tokens: int = 0

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.verbalizers)


_POLARITY2 = (" negative", " positive")

TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("imdb", "sc/imdb", "bsa", "classification", "macro_f1", "IMDb", _POLARITY2),
        Task("yelp2", "sc/yelp2", "bsa", "classification", "macro_f1", "Yelp2", _POLARITY2),
        Task("sst2", "sc/sst2", "bsa", "classification", "macro_f1", "SST-2", _POLARITY2),
        Task("twitter", "sc/twitter", "bsa", "classification", "macro_f1", "Twitter17", (*_POLARITY2, " neutral")),
        Task(
            "irony18", "multifaced/irony18", "msa", "classification", "macro_f1", "Irony18", (" non-irony", " irony")
        ),
        Task(
            "tweeteval",
            "multifaced/tweeteval",
            "msa",
            "classification",
            "macro_f1",
            "Emotion20",
            (" anger", " joy", " sadness", " optimism"),
        ),
        Task("pstance", "multifaced/pstance", "msa", "classification", "macro_f1", "P-Stance", (" against", " favor")),
        Task(
            "intimacy",
            "multifaced/intimacy",
            "msa",
            "classification",
            "macro_f1",
            "Intimacy",
            (" not intimate", " moderately intimate", " highly intimate"),
        ),
        Task("atsa_rest16", "absa/atsa_rest16", "fsa", "atsa", "tuple_f1", "Rest16 ATSA", max_new_tokens=150),
        Task("acsa_rest16", "absa/acsa_rest16", "fsa", "acsa", "tuple_f1", "Rest16 ACSA", max_new_tokens=150),
        Task("asqp_rest16", "absa/asqp_rest16", "fsa", "asqp", "tuple_f1", "Rest16 ASQP", max_new_tokens=150),
        Task("opener", "absa/opener", "fsa", "ssa", "sentiment_graph_f1", "OpeNER", max_new_tokens=150),
    ]
}


def select_tasks(names: list[str] | None) -> list[Task]:
    """Tasks by name (or by group name ``bsa``/``msa``/``fsa``), in the benchmark's order; None or [] means all."""
    if not names:
        return list(TASKS.values())
    wanted: list[str] = []
    for name in names:
        key = name.strip().lower().split("/")[-1]
        if key in GROUPS:
            wanted += [t.name for t in TASKS.values() if t.group == key]
        elif key in TASKS:
            wanted.append(key)
        else:
            raise RecipeError(
                f"datasets: unknown SentiBench dataset '{name}'. Choose from {', '.join(TASKS)} "
                f"or a group ({', '.join(GROUPS)})."
            )
    return [t for t in TASKS.values() if t.name in wanted]
