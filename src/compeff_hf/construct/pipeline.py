"""Entry point of `compeff-hf construct`: user texts -> attributes -> perspectives -> tasks -> demos -> instructions.

The stage runs as a distilabel Pipeline (:mod:`compeff_hf.llm.pipelines.construct`) whose steps call the sub-stage
methods of :class:`ConstructRun` below.

Every sub-stage writes its own dataset under the output folder and a marker in ``_ledger/substages.jsonl`` when it
finishes, so a rerun reuses finished sub-stages; inside an LLM sub-stage the request ledger (one row per finished
request) makes a killed run resume without re-sending finished requests. Outputs that cannot be parsed and rows that
fail validation go to the ``rejected`` dataset with the sub-stage and the reason.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from ..data import load_rows, row_id
from ..decontaminate.step import StageCheck
from ..errors import CompEffError, DataError, EndpointError
from ..log import get_logger
from ..stage import StageDir
from . import analysis, attributes, completion, demos, normalize, perspectives, prompts, tasks
from .assemble import assemble
from .config import SAMPLE_INPUT, ConstructConfig

logger = get_logger(__name__)

SUBSTAGES = ("texts", "attributes", "vocabulary", "perspectives", "analysis", "ideas", "tasks", "demos", "assemble")


def sample_texts_path() -> Path:
    """The bundled sample of user texts (written for this project; five domains, a `domain` column)."""
    return Path(str(resources.files("compeff_hf.construct").joinpath("data", "sample_texts.jsonl")))


class ConstructRun:
    """One run of the construct stage over a claimed StageDir."""

    def __init__(self, config: ConstructConfig, stage: StageDir):
        self.config = config
        self.stage = stage
        self.marks = stage.ledger("substages")
        self.counts: dict[str, dict[str, Any]] = {}
        self.llm_stats: dict[str, dict[str, Any]] = {}
        self._stack = contextlib.ExitStack()
        self._endpoint = None
        self.decontam = StageCheck(config, stage)  # user texts, reference texts, assembled instructions
        self.distilabel_llm = None  # one of distilabel's LLMs instead of our client (recipe field `llm_class`)

    # ------------------------------------------------------------------------------------------- plumbing
    def endpoint(self):
        """The endpoint, started on first use (a rerun whose LLM sub-stages are all done starts no server)."""
        if self._endpoint is None:
            from ..llm.client import endpoint_for

            self._endpoint = self._stack.enter_context(endpoint_for(self.config))
        return self._endpoint

    def _save(self, name: str, rows: list[dict]) -> None:
        import datasets

        folder = self.stage.dataset_path(name)
        if not rows:  # an empty dataset has no schema to write; the marker's count (0) says it is empty
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.parquet"):
                old.unlink()
            return
        self.stage.save_dataset(datasets.Dataset.from_list(rows), name)

    def _load(self, name: str) -> list[dict]:
        folder = self.stage.dataset_path(name)
        if not any(folder.glob("*.parquet")):
            return []
        return load_rows(folder, what=f"{name} dataset").to_list()

    def substage(self, name: str, compute: Callable[[], dict[str, list[dict]]], **counts_fn: Any) -> dict:
        """Run ``compute`` once: it returns ``{dataset_name: rows}``; a finished sub-stage is loaded instead."""
        mark = self.marks.get(name)
        if mark and mark.get("status") == "done":
            self.counts[name] = mark["counts"]
            self.llm_stats.update(mark.get("llm", {}))
            logger.info("construct/%s: reusing finished output", name)
            return {ds: self._load(ds) for ds in mark["datasets"]}
        start = time.time()
        outputs = compute()
        for ds_name, rows in outputs.items():
            self._save(ds_name, rows)
        counts = {ds_name: len(rows) for ds_name, rows in outputs.items()}
        counts.update(self.counts.get(name, {}))
        counts["wall_s"] = round(time.time() - start, 2)
        self.counts[name] = counts
        llm = {k: v for k, v in self.llm_stats.items() if k == name}
        self.marks.append({"id": name, "status": "done", "datasets": list(outputs), "counts": counts, "llm": llm})
        self.marks.flush()
        logger.info("construct/%s: %s", name, json.dumps(counts))
        return outputs

    def run_llm(
        self, name: str, rows: list[dict], *, format_input, parse_output, max_new_tokens: int, greedy: bool = False
    ):
        """Send one request per row through the shared distilabel adapter; returns (ok, rejected rows).

        With ``prompt_format: completion`` the parser reads the prompt's open slot plus the continuation, items
        that merely repeat the prompt's worked examples are dropped, and a request stops at the end of the
        paragraph it was asked to complete (demos: at the end of the list of instances).
        """
        from ..llm.distilabel import run_task

        if not rows:
            self.llm_stats[name] = {"requests": 0}
            return [], []
        params: dict[str, Any] = {"max_new_tokens": max_new_tokens}
        if greedy:
            params["temperature"] = 0.0
        if self.config.prompt_format == "completion":
            params["stop"] = completion.stops(name)
            parse_output = completion.parser(name, format_input, parse_output)
        result = run_task(
            name,
            rows,
            format_input=format_input,
            parse_output=parse_output,
            endpoint=self.endpoint(),
            ledger=self.stage.ledger(f"llm_{name}"),
            params=params,
            desc=f"construct/{name}",
            llm=self.distilabel_llm,
        )
        self.llm_stats[name] = dict(result.stats)
        request_failed = [r for r in result.failed if r.get("error") is not None]
        if request_failed and len(request_failed) == len(rows):
            # An outage is not a finished sub-stage: raise before the marker is written, so a rerun retries it.
            raise EndpointError(
                f"construct/{name}: all {len(rows)} requests failed (last error: {request_failed[-1]['error']}); "
                "the sub-stage is not marked done: run the same command again to retry it"
            )
        rejected = [
            reject(
                name,
                r.get("id"),
                r.get("parse_error") or r.get("error") or "unknown failure",
                r.get("generation"),
                kind="parse" if r.get("parse_error") else "request",
            )
            for r in result.failed
        ]
        return result.ok, rejected

    def note(self, substage: str, **values: Any) -> None:
        self.counts.setdefault(substage, {}).update(values)

    # ------------------------------------------------------------------------------------------- sub-stages
    def load_texts(self) -> dict[str, list[dict]]:
        cfg = self.config
        rows, rejected = read_texts(cfg.input, cfg, what="input")
        rows, dropped = self.decontam.rows("texts", rows, ["text"])
        rejected += contaminated("texts", dropped, lambda r: r["text"])
        texts = sample_balanced(rows, cfg.max_texts, cfg.seed)
        self.note("texts", read=len(rows) + len(rejected))
        return {"texts": texts, "rejected_texts": rejected}

    def enumerate_attributes(self, texts: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        ok, rejected = self.run_llm(
            "attributes",
            texts,
            format_input=attributes.format_input(cfg.prompt_format),
            parse_output=attributes.parse_output(cfg.max_attributes_per_text),
            max_new_tokens=cfg.attribute_max_new_tokens,
            greedy=cfg.attribute_decoding == "greedy",
        )
        rows = [
            {"id": r["id"], "text_id": r["id"], "triplets": r["triplets"], "generation": r.get("generation")}
            for r in ok
        ]
        self.note("attributes", texts_in=len(texts), triplets=sum(len(r["triplets"]) for r in rows))
        return {"attributes": rows, "rejected_attributes": rejected}

    def build_vocabulary(self, attribute_rows: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        pairs = [(r["text_id"], t) for r in attribute_rows for t in r["triplets"]]
        vocab, bad = normalize.build_vocabulary(pairs, cfg.min_attribute_count, cfg.max_attribute_name_words)
        rejected = [reject("vocabulary", b["text_id"], b["reason"], b["raw_name"], kind="validation") for b in bad]
        for v in vocab:
            v["seed"] = False
        kept = sum(v["kept"] for v in vocab)
        seeds = (
            normalize.seed_vocabulary(vocab, cfg.min_attributes, cfg.min_attribute_count)
            if kept < cfg.min_attributes
            else []
        )
        vocab = vocab + seeds
        self.note(
            "vocabulary",
            triplets_in=len(pairs),
            names=len(vocab),
            kept_names=kept + len(seeds),
            seed_attributes=len(seeds),
        )
        return {"attribute_vocabulary": vocab, "rejected_vocabulary": rejected}

    def cluster(self, vocab: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        kept = [v for v in vocab if v["kept"]]
        if not kept:
            top = ", ".join(f"{v['name']} ({v['count']})" for v in vocab[:5]) or "none"
            raise CompEffError(
                f"construct: no attribute name was seen more than min_attribute_count={cfg.min_attribute_count} "
                f"times (most frequent: {top}). Lower --min_attribute_count or give more texts (--max_texts)."
            )
        vectors = perspectives.embed_names([v["name"] for v in kept], cfg.embedding_model, cfg.embedding_batch_size)
        labels, info = perspectives.weighted_affinity_propagation(
            vectors,
            [v["count"] for v in kept],
            preference_percentile=cfg.ap_preference_percentile,
            damping=cfg.ap_damping,
            max_iter=cfg.ap_max_iter,
            convergence_iter=cfg.ap_convergence_iter,
            weighting=cfg.frequency_weighting,
            seed=cfg.seed,
        )
        rows = perspectives.build_perspectives(kept, labels)
        values = {v["name"]: v.get("top_values", []) for v in kept}
        for row in rows:
            row["top_values"] = values.get(row["top_attribute"], [])
            row["selected"] = cfg.max_perspectives is None or row["rank"] < cfg.max_perspectives
        self.note(
            "perspectives",
            attributes_in=len(kept),
            clusters=len(rows),
            selected=sum(r["selected"] for r in rows),
            multi_member_clusters=sum(len(r["members"]) > 1 for r in rows),
            **{f"ap_{k}": v for k, v in info.items()},
        )
        return {"perspectives": rows}

    def write_analysis_prompts(self, selected: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        n = cfg.analysis_prompts_per_perspective
        ok, rejected = self.run_llm(
            "analysis",
            selected,
            format_input=analysis.format_input(cfg.top_attributes_described, n, cfg.prompt_format),
            parse_output=analysis.parse_output(n),
            max_new_tokens=cfg.analysis_max_new_tokens,
        )
        by_p = {r["id"]: r["prompts"] for r in ok}
        rows, fallbacks = [], 0
        for p in selected:
            items = [(text, "generated") for text in by_p.get(p["id"], [])]
            if len(items) < cfg.min_analysis_prompts_per_perspective:
                fallbacks += 1
                have = {t.lower() for t, _ in items}
                seeds = analysis.seed_prompts(p["top_attribute"], cfg.min_analysis_prompts_per_perspective)
                items += [(s, "seed") for s in seeds if s.lower() not in have][
                    : cfg.min_analysis_prompts_per_perspective - len(items)
                ]
            rows += [
                {"id": row_id("analysis", p["id"], text), "perspective_id": p["id"], "prompt": text, "source": src}
                for text, src in items
            ]
        self.note("analysis", perspectives_in=len(selected), perspectives_with_seed_fallback=fallbacks)
        return {"analysis_prompts": rows, "rejected_analysis": rejected}

    def ideate(self, selected: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        ok, rejected = self.run_llm(
            "ideas",
            selected,
            format_input=tasks.ideation_input(cfg.tasks_per_perspective, cfg.prompt_format),
            parse_output=tasks.ideation_output(cfg.tasks_per_perspective),
            max_new_tokens=cfg.ideation_max_new_tokens,
        )
        rows = [
            {"id": row_id("idea", r["id"], idea["task_name"]), "perspective_id": r["id"], **idea}
            for r in ok
            for idea in r["ideas"]
        ]
        rows = list({r["id"]: r for r in rows}.values())
        self.note("ideas", perspectives_in=len(selected))
        return {"task_ideas": rows, "rejected_ideas": rejected}

    def specify(self, ideas: list[dict], selected: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        ok, rejected = self.run_llm(
            "tasks",
            ideas,
            format_input=tasks.spec_input(cfg.examples_per_task, cfg.prompt_format),
            parse_output=tasks.spec_output(cfg.max_examples_per_task, cfg.two_text_markers),
            max_new_tokens=cfg.spec_max_new_tokens,
        )
        # Like the official filter, only the spec's examples decide (the idea has none): see tasks.two_text_marker.
        two_text = sum("two-text" in r["reason"] for r in rejected)
        rows = [
            tasks.task_row(
                r["perspective_id"],
                r["spec"],
                "generated",
                {"task_name": r["task_name"], "task_description": r["task_description"]},
            )
            for r in ok
        ]
        fallbacks = seeded = 0
        by_p: dict[str, int] = {}
        for row in rows:
            by_p[row["perspective_id"]] = by_p.get(row["perspective_id"], 0) + 1
        for p in selected:
            missing = cfg.min_tasks_per_perspective - by_p.get(p["id"], 0)
            if missing > 0:
                fallbacks += 1
                for spec in tasks.seed_specs(p["top_attribute"], p.get("top_values") or [])[:missing]:
                    rows.append(tasks.task_row(p["id"], spec, "seed"))
                    seeded += 1
        rows = list({r["id"]: r for r in rows}.values())
        self.note(
            "tasks",
            ideas_in=len(ideas),
            parsed=len(ok),
            two_text_dropped=two_text,
            perspectives_with_seed_fallback=fallbacks,
            seed_tasks=seeded,
        )
        return {"tasks": rows, "rejected_tasks": rejected}

    def synthesise_demos(self, task_rows: list[dict], references: list[dict]) -> dict[str, list[dict]]:
        cfg = self.config
        by_id = {t["id"]: t for t in task_rows}
        requests = demos.build_requests(
            task_rows,
            references,
            per_task=cfg.demo_requests_per_task,
            n_refs=cfg.reference_texts_per_request,
            seed=cfg.seed,
        )
        ok, rejected = self.run_llm(
            "demos",
            requests,
            format_input=demos.format_input(by_id, cfg.demos_per_request, cfg.prompt_format),
            parse_output=demos.parse_output(by_id, cfg.demos_per_request, cfg.demo_exact_count),
            max_new_tokens=cfg.demo_max_new_tokens,
        )
        rows: dict[str, dict] = {}
        per_task: dict[str, int] = {}
        inputs_seen: set[tuple[str, str]] = set()
        for r in sorted(ok, key=lambda r: (r["task_id"], r["request_index"])):
            for bad in r.get("demo_rejects", []):
                rejected.append(
                    reject(
                        "demos",
                        r["id"],
                        bad["reason"],
                        f"Input: {bad['input']}\nOutput: {bad['output']}",
                        kind="validation",
                    )
                )
            for demo in r["demos"]:
                did = row_id("demo", r["task_id"], demo["input"], demo["output"])
                if did in rows or per_task.get(r["task_id"], 0) >= cfg.max_demos_per_task:
                    continue
                key = (r["task_id"], " ".join(demo["input"].lower().split()))
                if key in inputs_seen:  # the same text twice: keep the first answer, never two conflicting ones
                    rejected.append(
                        reject(
                            "demos",
                            r["id"],
                            "input repeats an earlier demo of the task",
                            f"Input: {demo['input']}\nOutput: {demo['output']}",
                            kind="validation",
                        )
                    )
                    continue
                inputs_seen.add(key)
                per_task[r["task_id"]] = per_task.get(r["task_id"], 0) + 1
                rows[did] = {
                    "id": did,
                    "task_id": r["task_id"],
                    "input": demo["input"],
                    "output": demo["output"],
                    "request_id": r["id"],
                    "reference_ids": r["reference_ids"],
                }
        self.note("demos", tasks_in=len(task_rows), requests=len(requests), tasks_with_demos=len(per_task))
        return {"demos": list(rows.values()), "rejected_demos": rejected}

    def assemble_instructions(
        self,
        texts: list[dict],
        attrs: list[dict],
        selected: list[dict],
        prompts_: list[dict],
        task_rows: list[dict],
        demo_rows: list[dict],
    ) -> dict[str, list[dict]]:
        cfg = self.config
        index = normalize.text_attribute_index((r["text_id"], t) for r in attrs for t in r["triplets"])
        rows = assemble(
            texts,
            selected,
            prompts_,
            task_rows,
            demo_rows,
            instructions_per_text=cfg.instructions_per_text,
            analysis_fraction=cfg.analysis_fraction,
            k_demos=cfg.k_demos,
            routing=cfg.routing,
            text_attributes=index,
            seed=cfg.seed,
        )
        if not rows:
            raise CompEffError(
                "construct: no instruction could be assembled (no perspective has an analysis prompt or a "
                "task). See the rejected dataset for why; --min_tasks_per_perspective 2 adds seed tasks."
            )
        rows, dropped = self.decontam.rows("instructions", rows, ["text", "messages"])
        self.note(
            "assemble",
            texts_in=len(texts),
            analysis=sum(r["instruction_type"] == "analysis" for r in rows),
            task=sum(r["instruction_type"] == "task" for r in rows),
        )
        return {"data": rows, "rejected_contaminated": contaminated("assemble", dropped, _user_turn)}

    # ------------------------------------------------------------------------------------------------ main
    def collect(self) -> dict[str, Any]:
        """After the pipeline ran every sub-stage: the `rejected` dataset, the card and the stage's result."""
        from ..stage import Ledger

        self.marks = Ledger(self.marks.path)  # the pipeline's workers appended to it
        self.decontam.reload()  # and recorded their decontamination checks
        for name in SUBSTAGES:
            mark = self.marks.get(name)
            if not mark or mark.get("status") != "done":
                raise CompEffError(f"construct: sub-stage {name!r} did not finish (no marker in _ledger)")
            self.counts[name] = mark["counts"]
            self.llm_stats.update(mark.get("llm", {}))
        data = self._load("data")
        rejected = []
        for name in sorted(self.stage.root.iterdir()):
            if name.is_dir() and name.name.startswith("rejected_"):
                rejected += self._load(name.name)
        self._save("rejected", rejected)
        self.write_card()
        return {
            "rows": len(data),
            "substages": self.counts,
            "llm": self.llm_stats,
            "rejected": len(rejected),
            "rejected_by_reason": _reasons(rejected),
            "decontamination": self.decontam.summary(),
        }

    def references(self, texts: list[dict]) -> list[dict]:
        if self.config.reference_input:
            rows, _ = read_texts(self.config.reference_input, self.config, what="reference_input")
            return self.decontam.rows("references", rows, ["text"])[0]
        return texts

    def write_card(self) -> None:
        """A Hub dataset card whose `configs` make each sub-stage dataset loadable by name, plus the prompts."""
        names = [p.name for p in sorted(self.stage.root.iterdir()) if p.is_dir() and any(p.glob("*.parquet"))]
        names.sort(key=lambda n: (n != "data", n))
        configs = "\n".join(
            f"- config_name: {'default' if n == 'data' else n}\n  data_files:\n  - split: train\n    path: {n}/*.parquet"
            for n in names
        )
        counts = "\n".join(f"| {k} | {json.dumps(v)} |" for k, v in self.counts.items())
        dag = ""
        if (self.stage.root / "pipeline.yaml").is_file():
            from ..llm.pipeline_dag import dag_markdown

            dag = "## Pipeline (distilabel)\n\n" + dag_markdown(self.stage.root / "pipeline.yaml") + "\n"
        templates = "\n\n".join(
            f"### {k}\n\n```jinja\n{v.strip()}\n```" for k, v in prompts.templates(self.config.prompt_format).items()
        )
        card = (
            f"---\nconfigs:\n{configs}\ntags:\n- compeff-hf\n- sentiment-analysis\n- synthetic\n---\n\n"
            "# Sentiment-analysis instructions built by `compeff-hf construct`\n\n"
            "Attribute-based automatic instruction construction (CompEffDist, Xie, Zhang et al., EMNLP 2025). "
            "The default config holds the assembled instructions (`messages`); each sub-stage's output is its own "
            "config.\n\n## Counts per sub-stage\n\n| sub-stage | counts |\n| --- | --- |\n"
            f"{counts}\n\n{dag}## Prompt templates (written for compeff-hf)\n\n{templates}\n"
        )
        (self.stage.root / "README.md").write_text(card, encoding="utf-8")


# ---------------------------------------------------------------------------------------------------- helpers


def reject(substage: str, rid: str | None, reason: str, generation: Any, kind: str) -> dict:
    """One row of the `rejected` dataset."""
    return {
        "id": row_id("rejected", substage, rid, reason, generation),
        "substage": substage,
        "row_id": rid,
        "kind": kind,
        "reason": str(reason)[:500],
        "generation": None if generation is None else str(generation),
    }


def contaminated(substage: str, rows: list[dict], what: Callable[[dict], Any]) -> list[dict]:
    """Rows decontamination dropped, as rejected rows naming the evaluation sets they match."""
    reason = "matches evaluation set(s): {}"
    return [reject(substage, r["id"], reason.format(r["contamination"]), what(r), kind="contamination") for r in rows]


def _user_turn(row: dict) -> str:
    return next((t["content"] for t in reversed(row["messages"]) if t["role"] == "user"), "")


def _reasons(rows: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        key = f"{r['substage']}: {r['reason'][:60]}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:20])


def read_texts(ref: str, cfg: ConstructConfig, what: str) -> tuple[list[dict], list[dict]]:
    """User texts as ``{id, text, domain}`` rows (deduplicated); bad rows come back as rejected rows."""
    source = sample_texts_path() if ref == SAMPLE_INPUT else ref
    ds = load_rows(source, split=cfg.input_split, config_name=cfg.input_config, columns=[cfg.text_column], what=what)
    has_domain = bool(cfg.domain_column) and cfg.domain_column in ds.column_names
    rows, rejected, seen = [], [], set()
    for i, raw in enumerate(ds):
        text = raw[cfg.text_column]
        if not isinstance(text, str):
            rejected.append(
                reject("texts", f"{source}#{i}", f"{cfg.text_column} is not a string", repr(text), "input")
            )
            continue
        text = text.strip()
        if len(text) < cfg.min_text_chars:
            rejected.append(
                reject("texts", f"{source}#{i}", f"shorter than {cfg.min_text_chars} chars", text, "input")
            )
            continue
        tid = row_id("text", text)
        if tid in seen:
            rejected.append(reject("texts", f"{source}#{i}", "duplicate text", text, "input"))
            continue
        seen.add(tid)
        rows.append({"id": tid, "text": text, "domain": raw[cfg.domain_column] if has_domain else None})
    if not rows:
        raise DataError(f"{what} {ref}: no usable text in column '{cfg.text_column}' ({len(rejected)} rows rejected)")
    return rows, rejected


def sample_balanced(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """At most ``n`` rows, taken round-robin over domains in a seeded order (all rows when ``n`` is None)."""
    if n is None or n >= len(rows):
        return rows
    rng = random.Random(seed)
    groups: dict[Any, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["domain"], []).append(row)
    for group in groups.values():
        rng.shuffle(group)
    out: list[dict] = []
    keys = sorted(groups, key=str)
    while len(out) < n:
        for key in keys:
            if groups[key] and len(out) < n:
                out.append(groups[key].pop())
    return out


LLM_SUBSTAGES = ("attributes", "analysis", "ideas", "tasks", "demos")


def main(config: ConstructConfig) -> int:
    """Run (or resume, or skip) the construct stage as a distilabel Pipeline; prints a one-screen summary."""
    stage = StageDir(config.resolved_output_dir(), config, stage="construct")
    try:
        if stage.prepare(config.overwrite):
            _print_summary(stage.summary() or {}, stage.root)
            return 0
        result = run_pipeline(config, stage)
        summary = stage.finish(
            **result,
            prompt_format=config.prompt_format,
            decoding=decoding(config),
            llm_class=config.llm_class,
            prompts=prompts.templates(config.prompt_format),
        )
    finally:
        stage.release()  # also when prepare refuses the folder, so the lock never outlives the call
    _print_summary(summary, stage.root)
    return 0


def run_pipeline(config: ConstructConfig, stage: StageDir) -> dict[str, Any]:
    """Build the construct Pipeline over the claimed ``stage`` and run it; returns the stage's result.

    The endpoint (the embedded server when no ``endpoint_url`` is set) is started here, once, and only if an LLM
    sub-stage is left to run; the pipeline's steps send to its URL.
    """
    import dataclasses

    from ..llm.pipelines import build_construct_pipeline
    from ..llm.pipelines.base import run_pipeline as run_distilabel

    # The texts are read here first, so that bad input is reported before an endpoint is started or checked.
    first = ConstructRun(config, stage)
    first.substage("texts", first.load_texts)
    done = {m["id"] for m in first.marks.rows() if m.get("status") == "done"}
    with contextlib.ExitStack() as stack:
        run_config = config
        if config.llm_class == "compeff" and not set(LLM_SUBSTAGES) <= done:
            from ..llm.client import endpoint_for

            endpoint = stack.enter_context(endpoint_for(config))
            run_config = dataclasses.replace(config, endpoint_url=endpoint.endpoint_url)
        run_distilabel(build_construct_pipeline(run_config, stage_dir=stage.root), run_config, stage.root)
    return ConstructRun(config, stage).collect()


def decoding(config: ConstructConfig) -> dict[str, str]:
    """How each kind of request was decoded (recorded in summary.json: the official attribute run was greedy)."""
    sampled = f"sample (temperature={config.temperature}, top_p={config.top_p})"
    return {"attributes": "greedy" if config.attribute_decoding == "greedy" else sampled, "other": sampled}


def _print_summary(summary: dict, root: Path) -> None:
    print(f"construct: {summary.get('rows', '?')} instructions in {root / 'data'}")
    for name, counts in (summary.get("substages") or {}).items():
        shown = ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"  {name:<12} {shown}")
    if summary.get("rejected"):
        print(f"  rejected     {summary['rejected']} rows kept aside in {root / 'rejected'} (with reasons)")
