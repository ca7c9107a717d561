"""The `compeff-hf` command: one subcommand per stage.

Stage modules are imported only when their subcommand runs, so `compeff-hf --help` is instant.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass

from .errors import CompEffError


@dataclass(frozen=True)
class Command:
    summary: str
    config: str | None  # "module:Class[,Class]" of the recipe dataclasses, or None for commands with own parsing
    entry: str  # "module:function"
    io: str  # what goes in and what comes out
    example: str


COMMANDS: dict[str, Command] = {
    "construct": Command(
        "build sentiment instructions from user texts (attributes -> perspectives -> tasks -> demos -> messages)",
        "compeff_hf.construct.config:ConstructConfig",
        "compeff_hf.construct.pipeline:main",
        "in: user texts (Hub id, .jsonl/.csv/.parquet, folder) with a `text` column\n"
        "out: <output_dir>/data (instructions with `messages`) and one dataset per sub-stage: texts, attributes,\n"
        "     attribute_vocabulary, perspectives, analysis_prompts, task_ideas, tasks, demos, rejected (see docs/construct.md)",
        "compeff-hf construct --config recipes/quickstart/construct.yaml --output_dir runs/qs/construct",
    ),
    "teacher": Command(
        "answer every instruction with the teacher LLM through a TGI/OpenAI-compatible endpoint",
        "compeff_hf.teacher:TeacherConfig",
        "compeff_hf.teacher:main",
        "in: instructions dataset with `messages`\nout: the same rows plus the teacher's `output` and request metadata",
        "compeff-hf teacher --input runs/qs/construct --endpoint_url http://127.0.0.1:8080 --output_dir runs/qs/teacher",
    ),
    "filter": Command(
        "score difficulty for the student (rank-based, ppl, IFD, length) and keep the hardest fraction",
        "compeff_hf.filter.config:FilterConfig",
        "compeff_hf.filter.pipeline:main",
        "in: (messages, output) dataset\nout: scored dataset and the selected training set with score, method, keep ratio",
        "compeff-hf filter --input runs/qs/teacher --scorer_model gemma-3-270m --keep_ratio 0.1",
    ),
    "train": Command(
        "fine-tune the student on teacher responses with TRL (same as `accelerate launch recipes/sft.py`)",
        "compeff_hf.train.config:train_config_classes",
        "compeff_hf.train.sft:main",
        "in: training set (`messages`, or `instruction`/`output` columns)\nout: model, tokenizer, model card",
        "compeff-hf train --config recipes/quickstart/sft.yaml",
    ),
    "eval": Command(
        "evaluate a model on SentiBench (12 datasets, the published 4-shot protocol)",
        "compeff_hf.evaluation.config:EvalConfig",
        "compeff_hf.evaluation.sentibench:main",
        "in: a model (Hub id, folder, or gemma-3-270m) and SentiBench data\nout: results.json, predictions, a markdown table",
        "compeff-hf eval --model gemma-3-270m --data_dir ../shared/sentibench --limit 50",
    ),
    "publish": Command(
        "push stage datasets and trained students to the Hub with cards",
        "compeff_hf.hub.config:PublishConfig",
        "compeff_hf.hub.publish:main",
        "in: a run folder or stage folders\nout: Hub dataset repo (one config per stage) and model repo",
        "compeff-hf publish --run_dir runs/qs --dataset_repo_id me/qs-data --model_repo_id me/qs-student",
    ),
    "run": Command(
        "run every stage from one recipe: construct -> teacher -> filter -> train -> eval -> publish",
        "compeff_hf.run:RunConfig",
        "compeff_hf.run:main",
        "in: a run recipe naming each stage's settings\nout: <output_dir>/<stage>/ for every stage, manifest, report.md",
        "compeff-hf run --config recipes/quickstart/run.yaml --output_dir runs/quickstart",
    ),
    "decontaminate": Command(
        "drop (or flag) rows that hold SentiBench test texts or other evaluation texts (n-gram overlap)",
        "compeff_hf.decontaminate.config:DecontaminateConfig",
        "compeff_hf.decontaminate.command:main",
        "in: any dataset (stage folder, file, Hub id) with text, instruction, messages or output columns\n"
        "out: <output_dir>/data (the clean rows) and summary.json (matches per evaluation set, examples)",
        "compeff-hf decontaminate --input runs/qs/teacher --decontaminate_sentibench ../shared/sentibench",
    ),
    "serve": Command(
        "serve a local model over a TGI-compatible HTTP API (the embedded teacher engine)",
        "compeff_hf.llm.serve:ServeConfig",
        "compeff_hf.llm.serve:main",
        "in: a model reference\nout: an HTTP server on 127.0.0.1 (Messages API, /generate, /info, /health)",
        "compeff-hf serve --model gemma-3-270m --port 8080",
    ),
    "env": Command(
        "print versions and hardware for bug reports",
        None,
        "compeff_hf.env:main",
        "in: nothing\nout: versions of the stack, hardware, HF_* flags",
        "compeff-hf env",
    ),
}


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def config_classes(command: Command) -> list[type]:
    """The recipe dataclasses of a command (a class, or a function returning a list of classes)."""
    obj = _load(command.config)
    if isinstance(obj, type):
        return [obj]
    return list(obj())


def _top_help() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [
        "usage: compeff-hf <command> [--config recipe.yaml] [--field value ...]",
        "",
        "Distil sentiment-analysis ability from a large teacher LLM into a small student (CompEffDist).",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += [
        "",
        "Each command takes a YAML recipe (--config); flags override its values. `compeff-hf <command> --help`",
        "lists every field. Example, end to end on the embedded model:",
        "  compeff-hf run --config recipes/quickstart/run.yaml",
    ]
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so context managers stop embedded servers and ledgers flush.
    raise KeyboardInterrupt


def _prepare_environment() -> None:
    # Telemetry off; never HF_HUB_OFFLINE here: it also blocks InferenceClient calls to local endpoints.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import signal

    signal.signal(signal.SIGTERM, _terminate)


def _finish(code: int) -> int:
    """Under torchrun / accelerate launch every rank waits for the others and closes the process group before it
    exits: a rank leaving while another still talks to it aborts inside gloo ("terminate called ...")."""
    from . import distributed

    distributed.shutdown()
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_top_help())
        return 0
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"compeff-hf {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        print(f"compeff-hf: unknown command '{name}'.{hint}\n\n{_top_help()}", file=sys.stderr)
        return 2
    command = COMMANDS[name]
    _prepare_environment()
    from . import log

    log.setup()
    try:
        if command.config is None:
            return _finish(int(_load(command.entry)(rest) or 0))
        from .configs import RecipeParser

        parser = RecipeParser(
            config_classes(command),
            prog=f"compeff-hf {name}",
            description=f"{command.summary}.\n\n{command.io}",
            epilog=f"example:\n  {command.example}",
        )
        if "-h" in rest or "--help" in rest:
            parser.print_help()
            return 0
        configs = parser.parse(rest)
        return _finish(int(_load(command.entry)(*configs) or 0))
    except CompEffError as err:
        from .hub.redact import redact_text

        print(f"compeff-hf {name}: error: {redact_text(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\ncompeff-hf {name}: interrupted; run the same command again to resume where it stopped.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
