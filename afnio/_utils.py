"""Validation helpers shared across afnio (chat messages, typed sequences, functions)."""

from __future__ import annotations

import inspect
import pickle
from typing import Any, cast

from afnio._variable import Variable

__all__ = [
    "MultiTurnMessages",
    "_is_valid_function",
    "_validate_function",
    "_validate_multi_turn_messages",
    "_validate_typed_sequence",
    "is_multi_turn_messages",
    "is_valid_function",
    "validate_function",
    "validate_multi_turn_messages",
    "validate_typed_sequence",
]

MultiTurnMessages = list[dict[str, Any]]
"""Chat messages: ``[{"role": "system" | "user" | "assistant", "content": [Variable, ...]}]``."""


def validate_typed_sequence(
    input_value: Any,
    item_type: type | tuple[type, ...],
    allow_tuple: bool = False,
    allow_single: bool = False,
    input_name: str | None = None,
) -> None:
    """Checks that ``input_value`` is a list (or tuple) whose items are all ``item_type``.

    Raises:
        TypeError: Naming ``input_name`` and what was wrong.
    """
    name = input_name or "input"
    type_name = (
        " | ".join(t.__name__ for t in item_type)
        if isinstance(item_type, tuple)
        else item_type.__name__
    )
    if allow_single and isinstance(input_value, item_type):
        return
    containers: tuple[type, ...] = (list, tuple) if allow_tuple else (list,)
    if not isinstance(input_value, containers):
        raise TypeError(
            f"`{name}` expects a list of type {type_name}, but got {type(input_value).__name__}."
        )
    items: list[Any] = list(cast("list[Any]", input_value))
    bad = [type(item).__name__ for item in items if not isinstance(item, item_type)]
    if bad:
        raise TypeError(f"All elements in `{name}` must be of type {type_name}, but got {bad}.")


def validate_multi_turn_messages(messages: Any) -> None:
    """Checks chat ``messages``: a list of dicts with a str ``role`` and a ``content`` list of
    Variables.

    Raises:
        TypeError: If the structure or a type is wrong.
        ValueError: If a message lacks the ``role`` or ``content`` key.
    """
    if not isinstance(messages, list):
        raise TypeError(
            "`messages` must be a list of dicts with 'role' and 'content' keys, but got "
            f"{type(messages).__name__}."
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TypeError(
                f"`messages[{i}]` must be a dict with 'role' and 'content' keys, but got "
                f"{type(message).__name__}."
            )
        if "role" not in message or "content" not in message:
            raise ValueError(
                "Each message dictionary must contain 'role' and 'content' keys, but got "
                f"{sorted(message)} in `messages[{i}]`."
            )
        if not isinstance(message["role"], str):
            raise TypeError(
                f"`messages[{i}]['role']` must be a str, but got {type(message['role']).__name__}."
            )
        validate_typed_sequence(
            message["content"], Variable, input_name=f"messages[{i}]['content']"
        )


def is_multi_turn_messages(value: Any) -> bool:
    """Whether ``value`` is a valid, **non-empty** list of chat messages.

    A dict missing ``role``/``content`` still raises ``ValueError`` (it looks like messages but
    is malformed); other mismatches return ``False``.
    """
    if not isinstance(value, list) or not value:
        return False
    try:
        validate_multi_turn_messages(value)
    except TypeError:
        return False
    return True


def validate_function(func: Any) -> None:
    """Checks that ``func`` can be saved by reference: a module-level function or a builtin.

    Raises:
        TypeError: For methods, lambdas, nested functions/closures and callable objects.
        ValueError: For functions that cannot be pickled by reference.
    """
    if func is None:
        return
    if inspect.ismethod(func):
        raise TypeError(f"Expected a standalone function, but got the method {func!r}.")
    if inspect.isbuiltin(func):
        return
    if not inspect.isfunction(func):
        raise TypeError(
            f"Expected a standalone function, but got an object of type {type(func).__name__}."
        )
    if func.__name__ == "<lambda>":
        raise TypeError("Lambdas cannot be saved; define a module-level function instead.")
    if "<locals>" in func.__qualname__ or func.__closure__:
        raise TypeError(
            f"{func.__qualname__} is a nested function or closure and cannot be saved; define "
            "it at module level."
        )
    try:
        pickle.dumps(func)
    except Exception as exc:
        raise ValueError(f"Function {func.__qualname__} cannot be pickled: {exc}") from exc


def is_valid_function(func: Any) -> bool:
    try:
        validate_function(func)
    except (TypeError, ValueError):
        return False
    return True


# The names of afnio 0.3.7 (``afnio._validate_multi_turn_messages`` and friends).
_validate_typed_sequence = validate_typed_sequence
_validate_multi_turn_messages = validate_multi_turn_messages
_validate_function = validate_function
_is_valid_function = is_valid_function
