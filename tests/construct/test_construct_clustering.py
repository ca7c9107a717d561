"""Frequency weighting and Affinity Propagation on fixed embeddings; the offline embedding model."""

from __future__ import annotations

import numpy as np
import pytest

from compeff_hf.construct.perspectives import (
    attribute_to_perspective,
    build_perspectives,
    duplication_weights,
    embed_names,
    weighted_affinity_propagation,
)


def test_duplication_weights_log1p():
    assert duplication_weights([0, 1, 2, 10, 11702]) == [0, 0, 1, 2, 9]  # floor(log1p(c))
    assert duplication_weights([5, 50], "none") == [0, 0]
    with pytest.raises(ValueError):
        duplication_weights([1], "sqrt")


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    points = np.concatenate([c + 0.1 * rng.standard_normal((6, 3)) for c in centres])
    return points, [30, 2, 2, 2, 2, 2] * 3


def test_ap_recovers_separated_groups_deterministically():
    points, counts = _blobs()
    labels, info = weighted_affinity_propagation(points, counts, preference_percentile=0.5, seed=42)
    again, _ = weighted_affinity_propagation(points, counts, preference_percentile=0.5, seed=42)
    assert info["converged"]
    assert labels.tolist() == again.tolist()
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    assert info["n_fitted"] == 18 + sum(duplication_weights(counts))


def test_higher_preference_gives_more_clusters():
    points, counts = _blobs()
    few, _ = weighted_affinity_propagation(points, counts, preference_percentile=0.5)
    many, _ = weighted_affinity_propagation(points, counts, preference_percentile=99.0, weighting="none")
    assert len(set(many)) > len(set(few))


def test_frequency_weighting_changes_the_fit():
    rng = np.random.default_rng(1)
    points = rng.standard_normal((12, 4))
    counts = [1000] + [1] * 11
    weighted, wi = weighted_affinity_propagation(points, counts, preference_percentile=10, weighting="log1p")
    plain, pi = weighted_affinity_propagation(points, counts, preference_percentile=10, weighting="none")
    assert wi["n_fitted"] == 12 + 6 and pi["n_fitted"] == 12
    assert wi["preference"] != pi["preference"]


def test_tiny_inputs():
    assert weighted_affinity_propagation(np.zeros((0, 3)), [])[0].tolist() == []
    assert weighted_affinity_propagation(np.ones((1, 3)), [5])[0].tolist() == [0]


def test_build_perspectives_orders_by_total_count():
    vocab = [
        {"name": "tone", "count": 50, "top_description": "attitude"},
        {"name": "mood", "count": 5, "top_description": ""},
        {"name": "anger", "count": 20, "top_description": "how angry"},
        {"name": "rage", "count": 40, "top_description": ""},
    ]
    rows = build_perspectives(vocab, [0, 0, 1, 1])
    assert [r["members"] for r in rows] == [["rage", "anger"], ["tone", "mood"]]  # 60 before 55
    assert [r["total_count"] for r in rows] == [60, 55]
    assert rows[0]["top_attribute"] == "rage" and rows[0]["rank"] == 0
    assert attribute_to_perspective(rows)["anger"] == rows[0]["id"]


@pytest.mark.slow
def test_offline_minilm_groups_related_names():
    names = ["anger", "rage", "fury", "joy", "happiness", "delight", "price", "cost", "value for money"]
    vectors = embed_names(names, "all-MiniLM-L6-v2")
    assert vectors.shape == (9, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    labels, info = weighted_affinity_propagation(vectors, [10] * 9, preference_percentile=10, weighting="none")
    assert info["converged"]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # emotions of anger, of joy, and money
    # Duplicated points can make AP oscillate: the weighted fit then falls back to the unweighted one, never fails.
    labels, info = weighted_affinity_propagation(vectors, [10] * 9, preference_percentile=10)
    assert info["converged"] and info["fallback"] in (None, "unweighted") and len(labels) == 9
