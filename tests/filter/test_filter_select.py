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


def _kept_per_group(keep, groups):
    counts: dict[str, int] = {}
    for k, g in zip(keep, groups, strict=True):
        counts[g] = counts.get(g, 0) + int(k)
    return counts


def test_hard_keep_count_is_stochastically_rounded_not_floored():
    """200 groups of 3 at 0.5: each keeps 1 or 2 (1.5 in expectation), never always 1 (floor) or always 2."""
    rng = np.random.default_rng(5)
    scores = rng.random(600).tolist()
    ids = [f"r{i}" for i in range(600)]
    groups = [f"g{i // 3}" for i in range(600)]
    keep = select(scores, ids, groups, method="hard", keep_ratio=0.5, seed=0)
    counts = _kept_per_group(keep, groups)
    assert set(counts.values()) == {1, 2}
    assert 270 <= sum(keep) <= 330  # floor: 200; round half up: 400
    for g in counts:  # each group keeps its hardest rows
        members = [i for i in range(600) if groups[i] == g]
        best = sorted(members, key=lambda i: scores[i])[-counts[g] :]
        assert [i for i in members if keep[i]] == sorted(best)


def test_hard_keep_count_mean_over_seeds_matches_expectation():
    scores, ids = [0.3, 0.1, 0.2], ["a", "b", "c"]
    kept = [sum(select(scores, ids, method="hard", keep_ratio=0.1, seed=s)) for s in range(2000)]
    assert set(kept) == {0, 1} and np.mean(kept) == pytest.approx(0.3, abs=0.04)  # floor would keep 0 always


def test_hard_zero_count_keep_group_matches_official_small_groups():
    """Groups of 1-12 at rate 0.1: keep_group keeps the whole group exactly where keep_none keeps nothing."""
    sizes = [1 + i % 12 for i in range(120)]
    groups = [f"g{j}" for j, n in enumerate(sizes) for _ in range(n)]
    rng = np.random.default_rng(2)
    scores = rng.random(len(groups)).tolist()
    ids = [f"r{i}" for i in range(len(groups))]
    ours = _kept_per_group(select(scores, ids, groups, keep_ratio=0.1, seed=7), groups)
    official = _kept_per_group(
        select(scores, ids, groups, keep_ratio=0.1, seed=7, hard_zero_count="keep_group"), groups
    )
    size = {g: groups.count(g) for g in ours}
    assert all(official[g] == (ours[g] or size[g]) for g in ours)
    assert 0 in ours.values() and sum(official.values()) > 2.5 * sum(ours.values())
    with pytest.raises(ValueError, match="hard_zero_count"):
        select([0.1], ["a"], hard_zero_count="all")


def test_strategy_full_ranks_globally_inprompt_per_group():
    scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    ids = [f"r{i}" for i in range(8)]
    groups = ["hard"] * 4 + ["easy"] * 4
    full = select(scores, ids, None, keep_ratio=0.5, seed=0)
    per_group = select(scores, ids, groups, keep_ratio=0.5, seed=0)
    assert [i for i, k in enumerate(full) if k] == [0, 1, 2, 3]
    assert [i for i, k in enumerate(per_group) if k] == [0, 1, 4, 5]


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="method"):
        select([0.1], ["a"], method="top")
    with pytest.raises(ValueError, match="direction"):
        select([0.1], ["a"], direction="up")


def test_round_stoch_integers_and_bounds():
    rng = np.random.default_rng(0)
    assert {round_stoch(3.0, rng) for _ in range(200)} == {3}
    assert {round_stoch(0.0, rng) for _ in range(200)} == {0}
    values = [round_stoch(0.9, rng) for _ in range(2000)]
    assert set(values) == {0, 1} and np.mean(values) == pytest.approx(0.9, abs=0.03)


def test_random_method_draws_within_groups_and_ignores_scores():
    scores = list(np.linspace(0, 1, 40))
    ids = [f"x{i}" for i in range(40)]
    groups = ["a"] * 20 + ["b"] * 20
    keep = select(scores, ids, groups, method="random", keep_ratio=0.5, seed=1)
    assert _kept_per_group(keep, groups) == {"a": 10, "b": 10}
    assert keep[:20] != [False] * 10 + [True] * 10  # not simply the hardest
    counts = np.zeros(40)
    for s in range(200):
        counts += select(scores, ids, groups, method="random", keep_ratio=0.5, seed=s)
    assert counts.min() > 60 and counts.max() < 140  # every row about half the time, whatever its score


def test_easiest_direction_per_group_and_nan_rows():
    scores = [0.5, math.nan, 0.1, 0.9, 0.2, 0.8, 0.3, 0.7]
    ids = [f"r{i}" for i in range(8)]
    groups = ["a"] * 4 + ["b"] * 4
    keep = select(scores, ids, groups, keep_ratio=2 / 3, direction="easiest", seed=0)
    # group a has 3 scorable rows: keeps exactly 2 (the two easiest); group b: 4 x 2/3 rounds to 2 or 3
    assert keep[:4] == [True, False, True, False]
    kept_b = [i for i in range(4, 8) if keep[i]]
    assert kept_b in ([4, 6], [4, 6, 7])
    assert not any(select([math.nan] * 3, ["a", "b", "c"], keep_ratio=1.0))


def test_ties_are_broken_by_row_id():
    keep = select([0.5, 0.5, 0.5, 0.5], ["d", "b", "a", "c"], keep_ratio=0.5, seed=0)
    assert keep == [True, False, False, True]  # hardest = last in ascending (score, id): "c", "d"


def test_soft_prefers_hard_rows_within_each_group():
    rng = np.random.default_rng(3)
    scores = rng.random(4000).tolist()
    ids = [f"r{i}" for i in range(4000)]
    groups = [f"g{i % 10}" for i in range(4000)]
    keep = select(scores, ids, groups, method="soft", keep_ratio=0.2, seed=0)
    assert 0.17 < sum(keep) / 4000 < 0.23
    assert np.mean([s for s, k in zip(scores, keep, strict=True) if k]) > 0.75
    easy = select(scores, ids, groups, method="soft", keep_ratio=0.2, direction="easiest", seed=0)
    assert np.mean([s for s, k in zip(scores, easy, strict=True) if k]) < 0.25


def test_soft_probabilities_edges_and_cache_safety():
    assert soft_probabilities(0, 0.5).shape == (0,)
    assert soft_probabilities(5, 1.0).tolist() == [1.0] * 5
    p = soft_probabilities(4, 0.5, 0.5)
    assert p.argmax() in (1, 2) and p[0] < p[1] and p[3] < p[2]  # peaked curve: the middle rows most likely
    p[:] = 0.0  # callers get a copy: the cached array is untouched
    assert soft_probabilities(4, 0.5, 0.5).sum() == pytest.approx(2.0)
    tiny = soft_probabilities(50, 0.001)  # needs a large exponent: the bracket must widen
    assert tiny.sum() == pytest.approx(0.05, rel=1e-6) and tiny[-1] > 0.5 * tiny.sum()


def test_soft_curve_below_and_above_peak():
    x = np.array([0.2, 0.6, 0.8])
    assert soft_curve(x, 0.6, 2.0).tolist() == pytest.approx([(0.2 / 0.6) ** 2, 1.0, (0.2 / 0.4) ** 2])


def test_group_key_variants():
    assert group_key({"task_name": "analysis", "task_id": "a7", "perspective_id": "p"}, "x") == "analysis|p|a7"
    assert group_key({"instruction_type": "analysis", "task_id": ""}, "Tone?\n\nInput: t") == "analysis|Tone?"
    assert group_key({"instruction_type": "task", "task_id": math.nan}, "Do.\nInput: a") == "text|Do."
    assert group_key({"instruction_type": "task", "task_id": 0, "perspective_id": None}, "z") == "task|None|0"
    assert instruction_template("  Input: only the text") == "Input: only the text"


def test_selection_is_pinned_across_versions():
    """A published selection must be reproducible from its seed: the draws of (seed, method, group) are pinned."""
    scores = [((i * 37) % 20) / 20 for i in range(20)]
    ids = [f"r{i:02d}" for i in range(20)]
    groups = ["a"] * 10 + ["b"] * 10
    want = {
        ("hard", True): [1, 2, 7, 8, 9, 14, 15],
        ("hard", False): [1, 2, 7, 8, 14, 15, 16],
        ("soft", True): [1, 3, 7, 14, 15, 18, 19],
        ("soft", False): [1, 3, 7, 14, 16],
        ("random", True): [1, 2, 10, 11, 12, 14, 16],
        ("random", False): [3, 4, 5, 9, 10, 11, 12, 17],
    }
    for (method, full), kept in want.items():
        keep = select(scores, ids, None if full else groups, method=method, keep_ratio=0.35, seed=11)
        assert [i for i, k in enumerate(keep) if k] == kept, (method, full)


def test_defaults_keep_ten_percent_with_seed_42():
    scores = list(np.linspace(0, 1, 100))
    ids = [f"x{i}" for i in range(100)]
    assert sum(select(scores, ids)) == 10
    assert select(scores, ids, method="random") == select(scores, ids, method="random", keep_ratio=0.1, seed=42)


def test_soft_peak_moves_the_preference_to_the_middle():
    scores = [i / 3000 for i in range(3000)]
    ids = [f"r{i}" for i in range(3000)]
    keep = select(scores, ids, method="soft", keep_ratio=0.2, soft_peak=0.5, seed=0)
    kept = [s for s, k in zip(scores, keep, strict=True) if k]
    assert 0.45 < np.mean(kept) < 0.55 and max(kept) < 0.9 and min(kept) > 0.1


def test_soft_curve_returns_float64():
    assert soft_curve(np.array([0.5], dtype=np.float32), 1.0, 2.0).dtype == np.float64
