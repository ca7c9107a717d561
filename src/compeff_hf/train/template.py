"""Facts about a student's chat template that training and generation must agree on, and training rows built
with it."""

from __future__ import annotations

from typing import Any

from ..errors import ModelError

_PROBE = [{"role": "user", "content": "Is this review positive?"}]


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def end_of_turn_id(tokenizer: Any) -> int:
    """The token the chat template closes an assistant turn with (<end_of_turn>, <|im_end|>, <|eot_id|> ...).

    Found by rendering a probe conversation: the first special token after the assistant's text. The trained model
    must stop at this token, so it goes into the saved generation config's ``eos_token_id``.
    """
    if not tokenizer.chat_template:
        raise ModelError(
            "the student's tokenizer has no chat template; set `chat_template_path` to a .jinja file (TRL ships the "
            "released templates in trl/chat_templates)"
        )
    prompt = _ids(tokenizer.apply_chat_template(_PROBE, add_generation_prompt=True, tokenize=True))
    full = _ids(tokenizer.apply_chat_template([*_PROBE, {"role": "assistant", "content": "positive"}], tokenize=True))
    special = set(tokenizer.all_special_ids) | {
        i for i, tok in getattr(tokenizer, "added_tokens_decoder", {}).items() if getattr(tok, "special", False)
    }
    for token in full[len(prompt) :]:
        if token in special:
            return token
    if tokenizer.eos_token_id is None:
        raise ModelError("the chat template closes assistant turns with no special token and there is no eos token")
    return tokenizer.eos_token_id


# --------------------------------------------------------------------------------------------------- training rows
#
# Rows are tokenised here, with the student's own (released) chat template, rather than by TRL: TRL's assistant
# masks need `{% generation %}` markers, which released templates lack, and its table of marked copies misses
# Llama-3.1/3.2 and trains Qwen3's empty thinking block as if it were the answer. Rendering the real template twice
# (the prompt with the generation prompt, then prompt + response) gives what inference sees by construction: the
# prompt tokens are exactly `apply_chat_template(prompt, add_generation_prompt=True)`, and the labels are the tokens
# after them up to and including the end-of-turn token.


def template_kwargs(enable_thinking: bool) -> dict[str, Any]:
    """Keyword arguments every rendering of the student's template gets, in training and at inference.

    ``enable_thinking`` is read by Qwen3-style templates only (others ignore unknown variables): false writes the
    empty thinking block into the prompt, so the student answers directly, as the teacher's text does.
    """
    return {"enable_thinking": enable_thinking}


def tokenize_row(
    tokenizer: Any,
    prompt: list[dict[str, str]],
    completion: list[dict[str, str]],
    eot: int,
    *,
    kwargs: dict[str, Any],
    loss_on: str = "response",
    row_id: str = "?",
) -> dict[str, Any]:
    """``input_ids`` and ``labels`` of one conversational row, plus its prompt and total lengths.

    ``loss_on``: ``response`` (the response and its end-of-turn token), ``completion`` (everything the template
    writes after the prompt, e.g. also a newline after the end-of-turn token) or ``all``.
    """
    prompt_ids = _ids(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, **kwargs))
    full_ids = _ids(tokenizer.apply_chat_template(prompt + completion, tokenize=True, **kwargs))
    n = len(prompt_ids)
    if full_ids[:n] != prompt_ids:
        raise TemplateError(
            f"row {row_id}: the student's chat template renders the prompt differently once the response follows, "
            "so training would not see what inference sees; set `chat_template_path` to a template whose prompt "
            "(add_generation_prompt=True) is a prefix of the full conversation"
        )
    response = full_ids[n:]
    if loss_on == "response":
        if eot not in response:
            raise TemplateError(
                f"row {row_id}: the student's chat template does not close the assistant turn with its end-of-turn "
                f"token ({tokenizer.convert_ids_to_tokens(eot)}), so the student would never learn to stop; set "
                "`chat_template_path` to a template that does"
            )
        trained = response.index(eot) + 1
    else:
        trained = len(response)
    if loss_on == "all":
        labels = list(full_ids)
    else:
        labels = [-100] * n + response[:trained] + [-100] * (len(response) - trained)
    return {"input_ids": full_ids, "labels": labels, "prompt_tokens": n, "total_tokens": len(full_ids)}


class TemplateError(ModelError):
    """The student's chat template cannot give training rows that match inference."""
