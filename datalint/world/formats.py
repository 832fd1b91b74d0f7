"""How a world writes a problem for its policy: bare, padded, or through a chat template.

A problem's question is compact (``"37+48="``). ``bare`` shows it as it is; ``padded`` wraps it
in a fixed instruction line; ``chat`` puts it in one user message that the tokenizer's chat
template renders (``CHAT_TEMPLATE``), the way ``datalint`` renders ``messages`` items for any
chat model. ``model_text`` is what the policy reads in pretraining, and must equal what
``datalint.rollout.base.render_prompt`` produces for the record (a test holds the two together).
"""

from __future__ import annotations

from typing import Any

FORMATS = ("bare", "padded", "chat")
PADDED_TEMPLATE = "Solve: {question}\nAnswer:"
USER_TOKEN, ASSISTANT_TOKEN = "<|user|>", "<|assistant|>"
CHAT_TOKENS = (USER_TOKEN, ASSISTANT_TOKEN)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}" + USER_TOKEN + "{{ message['content'] }}{% endif %}"
    "{% if message['role'] == 'assistant' %}" + ASSISTANT_TOKEN + "{{ message['content'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT_TOKEN + "{% endif %}"
)


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; known: {', '.join(FORMATS)}")


def model_text(question: str, fmt: str) -> str:
    """The text the policy is prompted with (before its tokenizer adds BOS)."""
    _check(fmt)
    if fmt == "padded":
        return PADDED_TEMPLATE.format(question=question)
    if fmt == "chat":
        return f"{USER_TOKEN}{question}{ASSISTANT_TOKEN}"
    return question


def record_fields(question: str, fmt: str) -> dict[str, Any]:
    """The data-file fields that carry the question: ``prompt``, or chat ``messages``."""
    _check(fmt)
    if fmt == "chat":
        return {"messages": [{"role": "user", "content": question}]}
    return {"prompt": model_text(question, fmt)}


def format_chars(fmt: str) -> str:
    """Characters the format adds around a question (chat markers are whole special tokens)."""
    _check(fmt)
    return PADDED_TEMPLATE.replace("{question}", "") if fmt == "padded" else ""


def special_tokens(fmt: str) -> tuple[str, ...]:
    _check(fmt)
    return CHAT_TOKENS if fmt == "chat" else ()
