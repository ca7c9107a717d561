"""`compeff-hf run`: every stage from one recipe, resumable, with a manifest and a report.

A run recipe names one recipe file per stage (each parsed against that stage's own dataclasses, exactly as its
subcommand would) and the run wires them together: each stage writes ``<output_dir>/<stage>/`` and the next one
reads it. Stages skip themselves when their folder holds finished output for the same config, so rerunning a killed
run repeats no finished work.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .configs import config_hash, save_config
from .errors import RecipeError
from .log import get_logger

logger = get_logger(__name__)

STAGE_ORDER = ["construct", "teacher", "filter", "train", "eval", "publish"]
# Relative cost of each stage in the quickstart, used only to estimate the time left.
STAGE_WEIGHT = {"construct": 4, "teacher": 3, "filter": 1, "eval_base": 2, "train": 3, "eval": 2, "publish": 1}


@dataclass
class RunConfig:
    output_dir: str = field(
        default="runs/quickstart", metadata={"help": "Run folder; every stage writes <output_dir>/<stage>/."}
    )
    stages: list[str] = field(
        default_factory=lambda: ["construct", "teacher", "filter", "train", "eval"],
        metadata={"help": f"Stages to run, in pipeline order, from {STAGE_ORDER}."},
    )
    construct: str | None = field(default=None, metadata={"help": "Recipe file of the construct stage."})
    teacher: str | None = field(default=None, metadata={"help": "Recipe file of the teacher stage."})
    filter: str | None = field(default=None, metadata={"help": "Recipe file of the filter stage."})
    train: str | None = field(default=None, metadata={"help": "Recipe file of the train stage (sft.yaml)."})
    eval: str | None = field(default=None, metadata={"help": "Recipe file of the eval stage."})
    publish: str | None = field(default=None, metadata={"help": "Recipe file of the publish stage."})
    overrides: list[str] | None = field(
        default=None,
        metadata={
            "help": "Per-stage field overrides 'stage.field=value', e.g. construct.max_texts=20 train.num_train_epochs=1."
        },
    )
    eval_before_training: bool = field(
        default=True, metadata={"help": "Also evaluate the untrained student (report: before vs after)."}
    )
    data_efficiency: bool = field(
        default=False,
        metadata={"help": "Also train and evaluate at several keep ratios for difficulty-based and random selection."},
    )
    data_efficiency_ratios: list[float] = field(
        default_factory=lambda: [0.05, 0.1, 0.25, 0.5, 1.0],
        metadata={"help": "Keep ratios of the data-efficiency mode."},
    )
    data_efficiency_methods: list[str] = field(
        default_factory=lambda: ["hard", "random"], metadata={"help": "Selection methods of the data-efficiency mode."}
    )
    train_launcher: str | None = field(
        default=None,
        metadata={
            "help": "Launch the train stage as a subprocess with this prefix, e.g. 'accelerate launch --config_file "
            "recipes/accelerate_configs/zero3.yaml' for multi-GPU; empty: train in this process."
        },
    )
    cost_per_hour: float = field(
        default=0.10, metadata={"help": "Price of this machine per hour (USD), for the report's cost estimate."}
    )
    cost_per_million_tokens: float = field(
        default=0.0, metadata={"help": "Endpoint price per million tokens (USD), for the report's cost estimate."}
    )
    report: bool = field(default=True, metadata={"help": "Write report.md and plots into the run folder."})


def _recipe_path(config: RunConfig, stage: str) -> Path | None:
    value = getattr(config, "eval" if stage == "eval_base" else stage)
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise RecipeError(f"run recipe: '{stage}: {value}' is not a file (paths are relative to the current folder)")
    return path


def _overrides(config: RunConfig, stage: str) -> list[str]:
    """Flags for one stage from 'stage.field=value' overrides (eval overrides apply to eval_base too)."""
    flags: list[str] = []
    for item in config.overrides or []:
        key, sep, value = item.partition("=")
        target, dot, name = key.partition(".")
        if not sep or not dot or target not in STAGE_ORDER:
            raise RecipeError(
                f"run recipe: override {item!r} must look like 'stage.field=value' with stage in {STAGE_ORDER}"
            )
        if target == stage or (stage == "eval_base" and target == "eval"):
            flags += [f"--{name}", *(shlex.split(value) or [""])]  # "eval.seeds=42 52" gives a list
    return flags


class Run:
    """Plans and executes the stages of one run folder."""

    def __init__(self, config: RunConfig):
        self.config = config
        self.root = Path(config.output_dir)
        self.manifest_path = self.root / "manifest.json"
        self.manifest: dict[str, Any] = {"stages": {}}
        if self.manifest_path.exists():
            self.manifest = json.loads(self.manifest_path.read_text())
        self.started = time.time()

    # ------------------------------------------------------------------------------------------------ planning
    def plan(self) -> list[str]:
        unknown = [s for s in self.config.stages if s not in STAGE_ORDER]
        if unknown:
            raise RecipeError(f"run recipe: unknown stage(s) {unknown}; choose from {STAGE_ORDER}")
        steps = [s for s in STAGE_ORDER if s in self.config.stages]
        if "eval" in steps and "train" in steps and self.config.eval_before_training:
            steps.insert(steps.index("train"), "eval_base")
        for step in steps:
            if _recipe_path(self.config, step) is None:
                raise RecipeError(f"run recipe: stage '{step}' is listed in `stages` but has no recipe file")
        return steps

    def wiring(self, step: str) -> list[str]:
        """Flags that connect a stage to the run folder and to the previous stage's output."""
        r = self.root
        student = self.student_model()
        return {
            "construct": ["--output_dir", str(r / "construct")],
            "teacher": ["--input", str(r / "construct"), "--output_dir", str(r / "teacher")],
            "filter": ["--input", str(r / "teacher"), "--output_dir", str(r / "filter")],
            "train": ["--dataset_name", str(r / "filter"), "--output_dir", str(r / "train")],
            "eval_base": ["--model", student, "--output_dir", str(r / "eval_base")] if student else [],
            "eval": ["--model", str(r / "train"), "--output_dir", str(r / "eval")],
            "publish": ["--run_dir", str(r)],
        }[step]

    def student_model(self) -> str | None:
        if self.config.train is None:
            return None
        train = self.parse("train", wire=False)
        for cfg in train:
            if getattr(cfg, "model_name_or_path", None):
                return cfg.model_name_or_path
        return None

    def parse(self, step: str, wire: bool = True) -> tuple[Any, ...]:
        from .cli import COMMANDS, config_classes
        from .configs import RecipeParser

        command = "eval" if step == "eval_base" else step
        args = ["--config", str(_recipe_path(self.config, step))]
        args += self.wiring(step) if wire else []
        args += _overrides(self.config, step)
        return RecipeParser(config_classes(COMMANDS[command]), prog=f"compeff-hf run ({step})").parse(args)

    # ----------------------------------------------------------------------------------------------- execution
    def execute(self) -> int:
        from .cli import COMMANDS, _load

        steps = self.plan()
        for step in steps:  # every stage's recipe and overrides are checked before any stage runs
            self.parse(step)
        self.root.mkdir(parents=True, exist_ok=True)
        save_config(self.root / "config.yaml", self.config)
        total = sum(STAGE_WEIGHT.get(s, 1) for s in steps)
        done_weight = 0
        for i, step in enumerate(steps, 1):
            configs = self.parse(step)
            digest = config_hash(*configs)
            record = self.manifest["stages"].get(step, {})
            elapsed = time.time() - self.started
            eta = elapsed / done_weight * (total - done_weight) if done_weight else None
            logger.info(
                "[run %d/%d] %s (elapsed %s%s)", i, len(steps), step, _fmt(elapsed),
                f", about {_fmt(eta)} left" if eta else "",
            )  # fmt: skip
            if record.get("status") == "done" and record.get("config_hash") == digest:
                logger.info("[run %d/%d] %s: done earlier with the same config; skipping", i, len(steps), step)
                done_weight += STAGE_WEIGHT.get(step, 1)
                continue
            command = COMMANDS["eval" if step == "eval_base" else step]
            start = time.time()
            self._record(step, {"status": "running", "config_hash": digest, "output": self.output_of(step)})
            if step == "train" and self.config.train_launcher:
                code = self._launch_train()
            else:
                code = int(_load(command.entry)(*configs) or 0)
            if code != 0:
                self._record(step, {"status": "failed", "exit_code": code})
                logger.error("[run] %s failed with exit code %d; fix the cause and rerun to resume", step, code)
                return code
            self._record(step, {"status": "done", "wall_time_s": round(time.time() - start, 1)})
            done_weight += STAGE_WEIGHT.get(step, 1)
        if self.config.data_efficiency:
            from .efficiency import run_data_efficiency

            run_data_efficiency(self)
        if self.config.report:
            from .report import write_report

            path = write_report(self.root, self.config)
            logger.info("[run] report: %s", path)
        logger.info("[run] finished in %s; outputs in %s", _fmt(time.time() - self.started), self.root)
        return 0

    def _launch_train(self) -> int:
        """Train under a launcher (accelerate, torchrun) in a subprocess: one process per GPU."""
        import subprocess
        import sys

        args = [
            "--config",
            str(_recipe_path(self.config, "train")),
            *self.wiring("train"),
            *_overrides(self.config, "train"),
        ]
        launcher = shlex.split(self.config.train_launcher or "")
        cmd = (
            [*launcher, "-m", "compeff_hf.cli", "train", *args]
            if launcher
            else [sys.executable, "-m", "compeff_hf.cli", "train", *args]
        )
        logger.info("[run] launching: %s", shlex.join(cmd))
        return subprocess.run(cmd, check=False).returncode

    def output_of(self, step: str) -> str:
        return str(self.root / step)

    def _record(self, step: str, values: dict[str, Any]) -> None:
        entry = self.manifest["stages"].setdefault(step, {})
        entry.update(values)
        tmp = self.manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest, indent=2))
        tmp.replace(self.manifest_path)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def main(config: RunConfig) -> int:
    return Run(config).execute()
