"""Selection: hard, soft (power curve), random; inprompt groups; determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compeff_hf.filter.select import (
    group_key,
    instruction_template,
    round_stoch,
    select,
    soft_curve,
    soft_probabilities,
)


def test_soft_curve_shape():
    x = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert soft_curve(x, 1.0, 2.0).tolist() == [0.0, 0.0625, 0.25, 0.5625, 1.0]
    peaked = soft_curve(x, 0.5, 1.0)
    assert peaked.tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]


@pytest.mark.parametrize("n", [1, 2, 7, 100, 2000])
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("a", [1.0, 0.7])
def test_soft_probabilities_sum_to_expected_count(n, rate, a):
    p = soft_probabilities(n, rate, a)
    assert p.shape == (n,) and ((p >= 0) & (p <= 1)).all()
    assert p.sum() == pytest.approx(n * rate, rel=1e-9, abs=1e-9)
    if a == 1.0 and n > 1:
        assert (np.diff(p) >= 0).all()  # monotone preference for the harder (later) rows


def test_soft_sampler_expected_fraction_over_many_seeds():
    rng = np.random.default_rng(0)
    scores = rng.random(2000).tolist()
    ids = [f"r{i}" for i in range(2000)]
    fractions = [sum(select(scores, ids, method="soft", keep_ratio=0.1, seed=s)) / 2000 for s in range(300)]
    assert np.mean(fractions) == pytest.approx(0.1, rel=0.01)
    # ...and hard rows are preferred: the kept rows' mean score is far above the pool's
    kept = select(scores, ids, method="soft", keep_ratio=0.1, seed=1)
    assert np.mean([s for s, k in zip(scores, kept, strict=True) if k]) > 0.85


def test_soft_sampler_expected_fraction_with_small_groups():
    rng = np.random.default_rng(1)
    scores = rng.random(600).tolist()
    ids = [f"r{i}" for i in range(600)]
    groups = [f"g{i % 97}" for i in range(600)]  # groups of 6 or 7 rows
    fractions = [sum(select(scores, ids, groups, method="soft", keep_ratio=0.2, seed=s)) / 600 for s in range(300)]
    assert np.mean(fractions) == pytest.approx(0.2, rel=0.01)


def test_round_stoch_expectation():
    rng = np.random.default_rng(0)
    values = [round_stoch(2.3, rng) for _ in range(20000)]
    assert set(values) == {2, 3}
    assert np.mean(values) == pytest.approx(2.3, abs=0.02)


def test_hard_keeps_top_fraction_per_group_and_direction():
    scores = [0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.0]
    ids = [str(i) for i in range(10)]
    keep = select(scores, ids, method="hard", keep_ratio=0.3, seed=0)
    assert [i for i, k in enumerate(keep) if k] == [1, 4, 6]
    easy = select(scores, ids, method="hard", keep_ratio=0.3, direction="easiest", seed=0)
    assert [i for i, k in enumerate(easy) if k] == [0, 5, 9]
    groups = ["a"] * 5 + ["b"] * 5
    per_group = select(scores, ids, groups, method="hard", keep_ratio=0.4, seed=0)
    assert [i for i, k in enumerate(per_group) if k] == [1, 4, 6, 8]


def test_random_and_determinism():
    scores = list(np.linspace(0, 1, 200))
    ids = [f"x{i}" for i in range(200)]
    a = select(scores, ids, method="random", keep_ratio=0.25, seed=3)
    assert sum(a) == 50
    assert a == select(scores, ids, method="random", keep_ratio=0.25, seed=3)
    assert a != select(scores, ids, method="random", keep_ratio=0.25, seed=4)
    for method in ("hard", "soft"):
        assert select(scores, ids, method=method, seed=9) == select(scores, ids, method=method, seed=9)


def test_nan_scores_never_selected():
    scores = [math.nan, 0.5, math.nan, 0.1]
    assert select(scores, ["a", "b", "c", "d"], method="hard", keep_ratio=1.0) == [False, True, False, True]


def test_group_keys():
    task = {"instruction_type": "task", "perspective_id": "p1", "task_id": "t1"}
    assert group_key(task, "whatever") == group_key(dict(task), "else") == "task|p1|t1"
    analysis = {"instruction_type": "analysis", "perspective_id": "p1", "task_id": None}
    a1 = group_key(analysis, "Analyse the tone.\n\nInput: text one")
    a2 = group_key(analysis, "Analyse the tone.\n\nInput: another text")
    assert a1 == a2 != group_key(analysis, "Identify the aspects.\n\nInput: text one")
    # No ids (published corpora): the instruction template stands in
    v2 = group_key({}, "Classify polarity.\nInput: a\nOutput: positive\n\nInput: b\nOutput:")
    assert v2 == "text|Classify polarity."
    assert instruction_template("No input marker here") == "No input marker here"
