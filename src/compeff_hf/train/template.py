"""Facts about a student's chat template that training and generation must agree on."""

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
            "the student's tokenizer has no chat template; set `chat_template_path` to a tokenizer folder or a .jinja "
            "file (TRL's templates live in trl/chat_templates)"
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
