"""Stage 4: distil the teacher into the student with TRL (entry of `compeff-hf train` and `recipes/sft.py`).

Sequence-level distillation as in the paper: supervised fine-tuning on teacher responses, loss on the response
tokens and the chat template's end-of-turn token only. TRL does the heavy lifting (tokenisation with assistant
masks, best-fit-decreasing packing with position-id resets, LoRA, Liger, accelerate/FSDP/DeepSpeed); this module
adds what a distillation run needs around it: any of our data layouts in, overlong rows accounted for, the
paper's batch size on any number of devices, resume after a kill, and a student folder that stops generating at
the end of its turn and documents where it came from.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from .. import distributed
from ..configs import to_dict
from ..errors import RecipeError
from ..log import get_logger
from ..models import load_tokenizer, resolve_model
from ..stage import StageDir
from .card import HYPERPARAMETERS, read_eval_results, write_card
from .config import ModelArguments, ScriptArguments, TrainConfig
from .data import (
    data_lineage,
    handle_overlong,
    load_training_data,
    measure_lengths,
    teacher_from_lineage,
    tokenize_rows,
)
from .template import end_of_turn_id, template_kwargs

logger = get_logger(__name__)


def main(
    script_args: ScriptArguments, model_args: ModelArguments | None = None, training_args: TrainConfig | None = None
) -> int:
    """Train a student from parsed recipe dataclasses; returns an exit code (0 also when skipped as done)."""
    model_args = model_args or ModelArguments()
    training_args = training_args or TrainConfig()
    result = train(script_args, model_args, training_args)
    if distributed.is_main_process():
        print(json.dumps({k: result.get(k) for k in ("status", "output_dir", "final_loss", "train_tokens")}))
    distributed.shutdown()  # every rank leaves together: no rank aborts on a peer that already exited
    return 0


def train(script_args: ScriptArguments, model_args: ModelArguments, training_args: TrainConfig) -> dict[str, Any]:
    """Run (or skip, or resume) one training; returns the summary written to ``<output_dir>/summary.json``.

    Under ``accelerate launch``/``torchrun`` every process trains; only the main process claims the folder and
    writes the tokenizer, generation config, training_info.json, card and summary (see docs/train.md).
    """
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated.*")
    if training_args.hub_token:
        # Handed to huggingface_hub through the environment, so training_args.bin and training_info.json never
        # hold it.
        os.environ["HF_TOKEN"] = training_args.hub_token
        training_args.hub_token = None
    with distributed.main_process_first():  # a built-in alias is converted once, by the main process
        student = resolve_model(model_args.model_name_or_path)
    output_dir = Path(training_args.output_dir)
    stage = StageDir(output_dir, script_args, model_args, training_args, stage="train")
    if stage.prepare(script_args.overwrite):
        stage.release()
        return {**(stage.summary() or {}), "status": "skipped", "output_dir": str(output_dir)}
    try:
        return _train(stage, script_args, model_args, training_args, student)
    finally:
        stage.release()


def build_trainer(
    script_args: ScriptArguments, model_args: ModelArguments, training_args: TrainConfig, student: str | None = None
) -> tuple[Any, Any, int, dict[str, int]]:
    """Load and check the data, then set up TRL's trainer; returns (trainer, tokenizer, end_of_turn_id, data_stats).

    Split from training so tests and benchmarks can inspect exactly what the trainer will see.
    """
    from trl import get_peft_config, get_quantization_config

    student = student or resolve_model(model_args.model_name_or_path)
    if os.environ.get("COMPEFF_HF_NO_PROGRESS"):
        training_args.disable_tqdm = True
    if training_args.use_liger_kernel and importlib.util.find_spec("liger_kernel") is None:
        raise RecipeError(
            "use_liger_kernel: true needs the liger-kernel package (GPU only): pip install 'compeff-hf[liger]', or set "
            "use_liger_kernel: false"
        )
    _apply_global_batch_size(script_args, training_args)

    tokenizer = load_tokenizer(student, revision=model_args.model_revision)
    if training_args.chat_template_path:
        # Only a template file: TRL would clone a tokenizer folder's template (adding tokens) after our rows are
        # rendered, so training and the saved student would disagree.
        path = Path(training_args.chat_template_path)
        if not path.is_file() or path.suffix not in (".jinja", ".j2"):
            raise RecipeError(
                f"chat_template_path {path}: give a .jinja file (a tokenizer folder keeps its template in "
                "chat_template.jinja)"
            )
        tokenizer.chat_template = path.read_text()
    eot = end_of_turn_id(tokenizer)

    source = str(script_args.dataset_name)
    gkd = script_args.distillation == "gkd"
    with distributed.main_process_first():  # downloads and the datasets cache are written once, by the main process
        dataset = load_training_data(script_args, seed=training_args.seed)
        if gkd:  # GKD builds its own batches from whole conversations
            dataset = measure_lengths(dataset, tokenizer, num_proc=training_args.dataset_num_proc)
        else:
            dataset = tokenize_rows(
                dataset,
                tokenizer,
                eot,
                kwargs=template_kwargs(script_args.enable_thinking),
                loss_on=_loss_on(training_args),
                num_proc=training_args.dataset_num_proc,
            )
    dataset, data_stats = handle_overlong(dataset, training_args.max_length, script_args.overlong, source)
    dataset = dataset.select_columns(["prompt", "completion"] if gkd else ["input_ids", "labels"])
    logger.info("training rows: %d kept of %d (%s)", len(dataset), data_stats["rows_in"], data_stats)

    quantization_config = get_quantization_config(model_args)
    init_kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        "quantization_config": quantization_config,
    }
    if quantization_config is not None:
        from accelerate import PartialState

        init_kwargs["device_map"] = {"": PartialState().local_process_index}  # each process loads its own copy
    training_args.model_init_kwargs = {
        **{k: v for k, v in init_kwargs.items() if v is not None},
        **dict(training_args.model_init_kwargs or {}),
    }
    peft_config = get_peft_config(model_args)

    if gkd:
        from .gkd import build_gkd_trainer

        trainer = build_gkd_trainer(script_args, training_args, student, tokenizer, dataset, peft_config)
    else:
        from trl import SFTTrainer

        # The rows carry their labels already; TRL's assistant_only_loss applies to conversational rows only (and
        # would ask for `{% generation %}` markers), so it is off while TRL prepares the data, then restored.
        recipe_value = training_args.assistant_only_loss
        training_args.assistant_only_loss = False
        try:
            trainer = SFTTrainer(
                model=student,
                args=training_args,
                train_dataset=dataset,
                processing_class=tokenizer,
                peft_config=peft_config,
            )
        finally:
            training_args.assistant_only_loss = recipe_value
    return trainer, tokenizer, eot, data_stats


def _loss_on(training_args: TrainConfig) -> str:
    """Which tokens of a row carry the loss, from the recipe's supervision settings."""
    if training_args.assistant_only_loss:
        return "response"  # the response and its end-of-turn token
    return "all" if training_args.completion_only_loss is False else "completion"


def _train(
    stage: StageDir,
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: TrainConfig,
    student: str,
) -> dict[str, Any]:
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = stage.root
    trainer, tokenizer, eot, data_stats = build_trainer(script_args, model_args, training_args, student)
    tokens_per_epoch, loss_tokens_per_epoch = count_tokens(trainer.train_dataset)

    # Every rank resumes from the same checkpoint: the main process picks it (the folder may be shared storage).
    last = distributed.broadcast_object(get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None)
    if last:
        logger.info("resuming from %s", last)
    start = time.time()
    result = trainer.train(resume_from_checkpoint=last)
    runtime = time.time() - start

    trainer.save_model(str(output_dir))  # on every rank: FSDP and ZeRO-3 gather the full weights; rank 0 writes
    distributed.on_main(_save_student_files, trainer, tokenizer, output_dir, eot)

    epochs = float(trainer.state.epoch or 0.0)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    train_tokens = int(round(tokens_per_epoch * epochs)) if tokens_per_epoch else None
    info = _training_info(
        script_args,
        model_args,
        training_args,
        student,
        trainer,
        data_stats=data_stats,
        rows=data_stats["rows_in"] - data_stats["dropped_prompt_too_long"] - data_stats["dropped_overlong"],
        train_tokens=train_tokens,
        loss_tokens=int(round(loss_tokens_per_epoch * epochs)) if loss_tokens_per_epoch else None,
        runtime=runtime,
        losses=losses,
        result=result,
        eot=tokenizer.convert_ids_to_tokens(eot),
    )
    from ..hub.redact import redact

    info = redact(info)
    info["card_builder"] = distributed.on_main(_write_info_and_card, output_dir, info)
    summary = stage.finish(
        rows=info["datasets"][0]["rows"],
        data_stats=data_stats,
        train_tokens=train_tokens,
        final_loss=info["final_loss"],
        first_loss=info["first_loss"],
        train_runtime_s=round(runtime, 2),
        card_builder=info["card_builder"],
    )
    logger.info(
        "trained %s on %d rows: loss %s -> %s, %s tokens in %.0f s; saved to %s",
        model_args.model_name_or_path,
        info["datasets"][0]["rows"],
        info["first_loss"],
        info["final_loss"],
        train_tokens,
        runtime,
        output_dir,
    )
    return {**summary, "output_dir": str(output_dir)}


def _save_student_files(trainer: Any, tokenizer: Any, output_dir: Path, eot: int) -> None:
    """Main process: what completes the saved model, then the checkpoints go (only needed to resume a kill)."""
    tokenizer.save_pretrained(str(output_dir))
    _save_generation_config(trainer.model, output_dir, eot, tokenizer)
    for checkpoint in output_dir.glob("checkpoint-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)


def _write_info_and_card(output_dir: Path, info: dict[str, Any]) -> str:
    (output_dir / "training_info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    return write_card(output_dir, info)


def _apply_global_batch_size(script_args: ScriptArguments, training_args: TrainConfig) -> None:
    """Derive gradient accumulation so one optimizer step sees `global_batch_size` sequences on any device count."""
    if not script_args.global_batch_size:
        return
    per_step = training_args.per_device_train_batch_size * max(1, training_args.world_size)
    if script_args.global_batch_size % per_step:
        raise RecipeError(
            f"global_batch_size={script_args.global_batch_size} is not a multiple of per_device_train_batch_size x "
            f"processes = {training_args.per_device_train_batch_size} x {training_args.world_size}; change one of them"
        )
    training_args.gradient_accumulation_steps = script_args.global_batch_size // per_step


def count_tokens(dataset: Any) -> tuple[int | None, int | None]:
    """Real (non-padding) tokens and loss-bearing tokens per epoch of a prepared training set."""
    if dataset is None or "input_ids" not in (dataset.column_names or []):
        return None, None
    import pyarrow.compute as pc

    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    total = pc.sum(pc.list_value_length(table.column("input_ids"))).as_py() or 0
    if "labels" in dataset.column_names:
        labels = pc.list_flatten(table.column("labels"))
        trained = pc.sum(pc.cast(pc.not_equal(labels, -100), "int64")).as_py() or 0
    else:
        trained = None
    return int(total), (int(trained) if trained is not None else None)


def _save_generation_config(model: Any, output_dir: Path, eot: int, tokenizer: Any) -> None:
    """Make `generate` stop at the end-of-turn token the model was trained to emit (and at eos)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.generation_config
    current = config.eos_token_id
    current = [] if current is None else [current] if isinstance(current, int) else list(current)
    config.eos_token_id = list(dict.fromkeys([eot, *current, tokenizer.eos_token_id]))
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    config.save_pretrained(str(output_dir))


def _training_info(
    script_args: ScriptArguments,
    model_args: ModelArguments,
    training_args: TrainConfig,
    student: str,
    trainer: Any,
    **facts: Any,
) -> dict[str, Any]:
    lineage = data_lineage(script_args.dataset_name)
    teacher = script_args.teacher_model or teacher_from_lineage(lineage)
    filter_settings = next(
        (
            {
                k: v
                for k, v in e["config"].items()
                if k in ("scorer_model", "metric", "method", "strategy", "keep_ratio", "top_p", "selection", "a")
            }
            for e in lineage
            if e.get("stage") == "filter"
        ),
        None,
    )
    hp = to_dict(training_args)
    losses = facts["losses"]
    runtime = facts["runtime"]
    return {
        "model_name": Path(training_args.output_dir).name,
        "base_model": model_args.model_name_or_path,
        "base_model_path": student,
        "teacher": teacher,
        "distillation": script_args.distillation,
        "peft": bool(model_args.use_peft),
        "datasets": [
            {
                "name": script_args.dataset_name,
                "files": script_args.dataset_files,
                "split": script_args.dataset_split,
                "rows": facts["rows"],
                "filter": filter_settings,
            }
        ],
        "lineage": [{"stage": e["stage"], "path": e["path"]} for e in lineage],
        "data_stats": facts["data_stats"],
        "hyperparameters": {k: hp.get(k) for k in HYPERPARAMETERS if k in hp},
        "global_batch_size": training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * max(1, training_args.world_size),
        "end_of_turn_token": facts["eot"],
        "train_tokens": facts["train_tokens"],
        "loss_tokens": facts["loss_tokens"],
        "train_runtime_s": round(runtime, 2),
        "tokens_per_second": round(facts["train_tokens"] / runtime, 1) if facts["train_tokens"] and runtime else None,
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        # The curve for the run report: trainer_state.json is not written when save_strategy is "no".
        # num_tokens (all processes, cumulative) shows what each optimizer step saw, whatever the process count.
        "loss_history": [
            {
                "step": e.get("step"),
                "loss": e["loss"],
                **({"num_tokens": e["num_tokens"]} if "num_tokens" in e else {}),
            }
            for e in trainer.state.log_history
            if "loss" in e
        ],
        "device": str(training_args.device),
        "world_size": training_args.world_size,
        "eval_results": read_eval_results(Path(training_args.output_dir)),
        "reproduce_command": reproduce_command(),
    }


def reproduce_command(argv: list[str] | None = None) -> str:
    """The command line that produced this run, in the form a user would type it."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return "compeff-hf train --config <recipe.yaml>"
    program = Path(argv[0]).name
    if program.endswith("sft.py"):
        return "accelerate launch " + shlex.join(["recipes/sft.py", *argv[1:]])
    if program == "compeff-hf" or program == "__main__.py":
        return "compeff-hf " + shlex.join(argv[1:])
    return "compeff-hf train --config <recipe.yaml> (resolved settings: config.yaml in this folder)"
