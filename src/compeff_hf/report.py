"""The run report: ``report.md`` plus PNG plots, built only from what the stages wrote into the run folder.

Each section reads one stage's outputs (summary.json, datasets, trainer logs, results.json) and is left out with a
note when that stage has not run, so the report is useful for partial runs too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .log import get_logger

logger = get_logger(__name__)
STAGES = ["construct", "teacher", "filter", "eval_base", "train", "eval", "publish"]


def _summary(root: Path, stage: str) -> dict[str, Any] | None:
    path = root / stage / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def _dataset(root: Path, stage: str, name: str) -> Any | None:
    folder = root / stage / name
    if not folder.is_dir() or not list(folder.glob("*.parquet")):
        return None
    import datasets

    return datasets.load_dataset("parquet", data_files=sorted(str(p) for p in folder.glob("*.parquet")), split="train")


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # headless: the report is written on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write one report figure and free it (matplotlib keeps figures alive until closed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _scalars(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten the numeric and short string fields of a summary for the counts table."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        if key in ("config_hash", "stage", "status", "finished_at", "prompts", "histograms", "decontamination"):
            continue
        if isinstance(value, dict) and len(value) <= 12:
            out.update(_scalars(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def stage_costs(root: Path, cost_per_hour: float, cost_per_million_tokens: float) -> list[dict[str, Any]]:
    rows = []
    for stage in STAGES:
        s = _summary(root, stage)
        if s is None:
            continue
        flat = _scalars(s)
        wall = float(s.get("wall_time_s") or 0.0)
        tokens = sum(
            v
            for k, v in flat.items()
            if k.endswith(("prompt_tokens", "completion_tokens", "train_tokens")) and isinstance(v, (int, float))
        )
        requests = sum(v for k, v in flat.items() if k.endswith("requests") and isinstance(v, (int, float)))
        cost = wall / 3600 * cost_per_hour + tokens / 1e6 * cost_per_million_tokens
        rows.append(
            {"stage": stage, "wall_time_s": wall, "requests": int(requests), "tokens": int(tokens), "cost_usd": cost}
        )
    return rows


def _plot_perspectives(root: Path, out: Path) -> tuple[str, Path | None]:
    ds = _dataset(root, "construct", "perspectives")
    if ds is None:
        return "_construct has not run._", None
    rows = ds.to_list()
    size_key = next((k for k in ("total_count", "count", "size", "num_members") if k in ds.column_names), None)
    name_key = next((k for k in ("name", "top_attribute", "exemplar", "label") if k in ds.column_names), None)
    members_key = next((k for k in ("members", "attributes") if k in ds.column_names), None)
    sizes = [r[size_key] if size_key else len(r.get(members_key) or []) for r in rows]
    names = [str(r[name_key]) if name_key else str(i) for i, r in enumerate(rows)]
    order = sorted(range(len(rows)), key=lambda i: -sizes[i])
    lines = [f"{len(rows)} perspectives (Affinity Propagation clusters of attribute names).", "",
             "| perspective | size | members |", "| --- | --- | --- |"]  # fmt: skip
    for i in order[:15]:
        members = rows[i].get(members_key) if members_key else None
        shown = ", ".join(str(m if not isinstance(m, dict) else m.get("name", m)) for m in (members or [])[:6])
        lines.append(f"| {names[i]} | {sizes[i]} | {shown} |")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(range(len(order)), [sizes[i] for i in order], color="#4c72b0")
    ax.set_xlabel("perspective (by size)")
    ax.set_ylabel("attribute occurrences" if size_key else "members")
    ax.set_title("Analytical perspectives")
    path = _save(fig, out / "perspectives.png")
    return "\n".join(lines), path


def _plot_difficulty(root: Path, out: Path) -> tuple[str, Path | None]:
    ds = _dataset(root, "filter", "scored")
    if ds is None or "score" not in ds.column_names:
        return "_filter has not run._", None
    scores = ds["score"]
    kinds = ds["instruction_type"] if "instruction_type" in ds.column_names else ["all"] * len(scores)
    kept = ds["selected"] if "selected" in ds.column_names else [True] * len(scores)
    by_kind: dict[str, list[tuple[float, bool]]] = {}
    for s, k, keep in zip(scores, kinds, kept, strict=False):
        if s is not None and not math.isnan(s):
            by_kind.setdefault(k or "unknown", []).append((s, keep))
    lines = ["| instruction type | rows | kept | kept fraction | mean score (all) | mean score (kept) |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for kind, items in sorted(by_kind.items()):
        n, k = len(items), sum(1 for _, keep in items if keep)
        mean_all = sum(s for s, _ in items) / n
        kept_scores = [s for s, keep in items if keep]
        mean_kept = sum(kept_scores) / len(kept_scores) if kept_scores else float("nan")
        lines.append(f"| {kind} | {n} | {k} | {k / n:.2f} | {mean_all:.3f} | {mean_kept:.3f} |")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for kind, items in sorted(by_kind.items()):
        ax.hist([s for s, _ in items], bins=20, alpha=0.6, label=kind)
    ax.set_xlabel(f"difficulty score ({ds['score_metric'][0] if 'score_metric' in ds.column_names else 'score'})")
    ax.set_ylabel("rows")
    ax.legend()
    ax.set_title("Difficulty per instruction type")
    path = _save(fig, out / "difficulty.png")
    return "\n".join(lines), path


def _loss_history(train_dir: Path) -> list[tuple[float, float]]:
    candidates = [train_dir / "trainer_state.json", *sorted(train_dir.glob("checkpoint-*/trainer_state.json"))]
    for path in candidates:
        if path.exists():
            history = json.loads(path.read_text()).get("log_history", [])
            points = [(h.get("step", i), h["loss"]) for i, h in enumerate(history) if "loss" in h]
            if points:
                return points
    info = train_dir / "training_info.json"
    if info.exists():
        data = json.loads(info.read_text())
        hist = data.get("loss_history") or data.get("training", {}).get("loss_history") or []
        return [(p["step"], p["loss"]) if isinstance(p, dict) else tuple(p) for p in hist]
    return []


def _plot_loss(root: Path, out: Path) -> tuple[str, Path | None]:
    points = _loss_history(root / "train")
    if not points:
        return "_train has not run (or logged no loss)._", None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss")
    path = _save(fig, out / "loss.png")
    return (
        f"Loss went from {points[0][1]:.3f} (step {points[0][0]}) to {points[-1][1]:.3f} (step {points[-1][0]}).",
        path,
    )


def _eval_scores(root: Path, stage: str) -> dict[str, float] | None:
    path = root / stage / "results.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    data = data.get("scores", data)  # results.json nests the scores under "scores"
    out: dict[str, float] = {}
    for name, entry in (data.get("datasets") or data.get("results") or {}).items():
        value = entry.get("mean") if isinstance(entry, dict) else entry
        if isinstance(value, (int, float)):
            out[name] = float(value)
    if isinstance(data.get("average"), (int, float)):
        out["average"] = float(data["average"])
    return out


def _eval_comparison(root: Path) -> dict[str, Any] | None:
    """Paired bootstrap of eval vs eval_base over the same items (None without both per-item files)."""
    from .evaluation import stats

    try:
        before, after = stats.load_per_item(root / "eval_base"), stats.load_per_item(root / "eval")
        return stats.compare(before, after)
    except (OSError, ValueError) as err:
        logger.info("report: no paired SentiBench comparison (%s)", err)
        return None


def _plot_eval(root: Path, out: Path) -> tuple[str, Path | None]:
    before, after = _eval_scores(root, "eval_base"), _eval_scores(root, "eval")
    if not before and not after:
        return "_eval has not run._", None
    names = sorted(set(before or {}) | set(after or {}), key=lambda n: (n == "average", n))
    paired = _eval_comparison(root) if before and after else None
    lines = [
        "| dataset | before training | after training | change | 95% CI of change | significant | items |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in names:
        b, a = (before or {}).get(n), (after or {}).get(n)
        change = f"{a - b:+.1f}" if a is not None and b is not None else ""
        test = (paired["average"] if n == "average" else paired["datasets"].get(n)) if paired else None
        ci, significant, items = "", "", ""
        if test:
            ci = f"{test['low']:+.1f} to {test['high']:+.1f}"
            significant = "**yes**" if test["significant"] else "no (noise)"
            items = str(test["n_items"])
        lines.append(
            f"| {n} | {'' if b is None else f'{b:.1f}'} | {'' if a is None else f'{a:.1f}'} | {change} "
            f"| {ci} | {significant} | {items} |"
        )
    lines.append("")
    if paired:
        lines.append(
            f"A change is significant when the 95% interval of a paired bootstrap ({paired['n_boot']} resamples of "
            "the same test items, before and after together) excludes 0; items: how many test items it rests on."
        )
    elif before and after:
        lines.append("_No per-item records on both sides: these changes cannot be told apart from noise._")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    xs = range(len(names))
    if before:
        ax.bar([x - 0.2 for x in xs], [before.get(n, 0) for n in names], width=0.4, label="before")
    if after:
        ax.bar([x + 0.2 for x in xs], [after.get(n, 0) for n in names], width=0.4, label="after")
    ax.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("score (x100)")
    ax.legend()
    ax.set_title("SentiBench before vs after training")
    path = _save(fig, out / "sentibench.png")
    return "\n".join(lines), path


def _decontamination(root: Path, out: Path) -> tuple[str, Path | None]:
    from .decontaminate.render import markdown

    found = {stage: (_summary(root, stage) or {}).get("decontamination") for stage in ("construct", "filter")}
    found = {stage: d for stage, d in found.items() if d is not None}
    if not found:
        return "_construct and filter have not run (or predate decontamination)._", None
    return markdown(found), None


def _efficiency(root: Path, out: Path) -> tuple[str, Path | None]:
    path = root / "efficiency" / "results.json"
    if not path.exists():
        return "", None
    points = json.loads(path.read_text())
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lines = ["| method | keep ratio | rows | SentiBench average |", "| --- | --- | --- | --- |"]
    for method in sorted({p["method"] for p in points}):
        series = sorted((p for p in points if p["method"] == method), key=lambda p: p["keep_ratio"])
        ax.plot([p["keep_ratio"] for p in series], [p["average"] for p in series], marker="o", label=method)
        lines += [f"| {method} | {p['keep_ratio']} | {p.get('rows', '')} | {p['average']:.1f} |" for p in series]
    ax.set_xscale("log")
    ax.set_xlabel("keep ratio")
    ax.set_ylabel("SentiBench average")
    ax.legend()
    ax.set_title("Data efficiency")
    png = _save(fig, out / "efficiency.png")
    return "\n".join(lines), png


def write_report(root: str | Path, config: Any | None = None) -> Path:
    """Write ``<root>/report.md`` and its plots into ``<root>/report/``; returns the markdown path."""
    root = Path(root)
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    cost_h = getattr(config, "cost_per_hour", 0.10)
    cost_t = getattr(config, "cost_per_million_tokens", 0.0)
    parts = [f"# Run report: `{root}`", ""]

    parts += ["## Stages: counts, requests, tokens, time and cost", ""]
    costs = stage_costs(root, cost_h, cost_t)
    if costs:
        parts += ["| stage | wall time | requests | tokens | est. cost (USD) |", "| --- | --- | --- | --- | --- |"]
        for c in costs:
            parts.append(
                f"| {c['stage']} | {c['wall_time_s']:.0f} s | {c['requests']} | {c['tokens']} | {c['cost_usd']:.4f} |"
            )
        total = sum(c["wall_time_s"] for c in costs)
        parts += [
            "",
            f"Total stage time {total:.0f} s. Cost = wall time x {cost_h} USD/h + tokens x {cost_t} USD/M tokens.",
            "",
        ]
        parts += ["<details><summary>All counts per stage</summary>", ""]
        for stage in STAGES:
            s = _summary(root, stage)
            if s:
                flat = _scalars(s)
                parts.append(
                    f"**{stage}**: "
                    + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in flat.items())
                )
                parts.append("")
        parts += ["</details>", ""]
    else:
        parts += ["_No stage has finished yet._", ""]

    for title, builder in (
        ("Decontamination", _decontamination),
        ("Perspectives", _plot_perspectives),
        ("Difficulty and selection", _plot_difficulty),
        ("Training", _plot_loss),
        ("SentiBench", _plot_eval),
        ("Data efficiency", _efficiency),
    ):
        text, png = builder(root, out)
        if not text and png is None:
            continue
        parts += [f"## {title}", "", text, ""]
        if png is not None:
            parts += [f"![{title}](report/{png.name})", ""]
    path = root / "report.md"
    path.write_text("\n".join(parts))
    return path
