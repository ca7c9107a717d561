"""Optional logit-level distillation with TRL's GKD (`distillation: gkd`).

The paper distils at the sequence level only (SFT on teacher text). GKD additionally matches the teacher's token
distributions, which is only meaningful when both models index the same vocabulary; otherwise the KL compares
unrelated token ids, so a mismatch is refused up front instead of training on noise.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..errors import RecipeError
from ..models import load_tokenizer, resolve_model


def check_vocabularies(student_tokenizer: Any, teacher_tokenizer: Any, student: str, teacher: str) -> None:
    """Raise a RecipeError unless both tokenizers map the same strings to the same ids."""
    s_vocab, t_vocab = student_tokenizer.get_vocab(), teacher_tokenizer.get_vocab()
    if s_vocab == t_vocab:
        return
    differing = sorted(set(s_vocab.items()) ^ set(t_vocab.items()), key=lambda kv: kv[1])[:3]
    raise RecipeError(
        f"distillation: gkd needs the teacher and the student to share a vocabulary, but {teacher} has "
        f"{len(t_vocab)} tokens and {student} has {len(s_vocab)} (first differences: {differing}). Use a teacher of "
        "the student's family (e.g. gemma-3-27b-it for gemma-3-4b-it), or `distillation: sft`, which distils from "
        "the teacher's text and works across families."
    )


def to_messages(ds: Any) -> Any:
    """GKD's collator reads whole conversations from a `messages` column."""
    return ds.map(lambda p, c: {"messages": p + c}, input_columns=["prompt", "completion"]).select_columns(
        ["messages"]
    )


def build_gkd_trainer(
    script_args: Any,
    training_args: Any,
    student_ref: str,
    tokenizer: Any,
    train_dataset: Any,
    peft_config: Any = None,
    callbacks: list[Any] | None = None,
) -> Any:
    """A `trl.experimental.gkd.GKDTrainer` set up from our recipe (teacher checked against the student first)."""
    if not script_args.gkd_teacher_model:
        raise RecipeError("distillation: gkd needs `gkd_teacher_model` (Hub id, folder or built-in alias)")
    teacher_ref = resolve_model(script_args.gkd_teacher_model)
    check_vocabularies(tokenizer, load_tokenizer(teacher_ref), student_ref, script_args.gkd_teacher_model)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd import GKDConfig, GKDTrainer

    names = {f.name for f in dataclasses.fields(GKDConfig) if f.init}
    values = {f.name: getattr(training_args, f.name) for f in dataclasses.fields(training_args) if f.name in names}
    # packing/assistant masks are SFT preparation settings; GKD builds its own batches from `messages`.
    values.update(packing=False, assistant_only_loss=False, completion_only_loss=None)
    gkd_args = GKDConfig(
        **values,
        lmbda=script_args.gkd_lmbda,
        beta=script_args.gkd_beta,
        temperature=script_args.gkd_temperature,
        teacher_model_init_kwargs=dict(training_args.model_init_kwargs or {}),
    )
    return GKDTrainer(
        model=student_ref,
        teacher_model=teacher_ref,
        args=gkd_args,
        train_dataset=to_messages(train_dataset),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
