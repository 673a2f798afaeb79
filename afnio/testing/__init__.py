"""A local OpenAI-compatible server for tests and offline demos.

Everything here runs on 127.0.0.1 with the standard library only: :class:`LocalServer` speaks the
OpenAI chat-completions API over real HTTP, answering from a deterministic
:class:`ScriptedModel`, with injectable latency and :class:`Faults`, and a log of every request.

Example:
    >>> import openai
    >>> from afnio.testing import LocalServer, ScriptedModel
    >>> script = ScriptedModel()
    >>> _ = script.when(system="terse", user=r"\\?$").reply("Yes.")
    >>> with LocalServer(script) as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    ...     reply = client.chat.completions.create(model="gpt-4o-mini", messages=[
    ...         {"role": "system", "content": "Be terse."},
    ...         {"role": "user", "content": "Is water wet?"}])
    >>> reply.choices[0].message.content
    'Yes.'
"""

# Names are loaded on first use, so that ``python -m afnio.testing.server`` does not import the
# server module twice (once through this package, once as ``__main__``).

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afnio.testing.faults import FAULT_KINDS, Faults
    from afnio.testing.offline import DEFAULT_MODEL, ModelBackend, offline_or_real
    from afnio.testing.script import (
        ChatRequest,
        Reply,
        Rule,
        ScriptedModel,
        default_content,
        estimate_tokens,
        example_for_schema,
    )
    from afnio.testing.server import LocalServer, RequestRecord

__all__ = [
    "DEFAULT_MODEL",
    "FAULT_KINDS",
    "ChatRequest",
    "Faults",
    "LocalServer",
    "ModelBackend",
    "Reply",
    "RequestRecord",
    "Rule",
    "ScriptedModel",
    "default_content",
    "estimate_tokens",
    "example_for_schema",
    "offline_or_real",
]

_HOMES = {
    "ChatRequest": "afnio.testing.script",
    "Reply": "afnio.testing.script",
    "Rule": "afnio.testing.script",
    "ScriptedModel": "afnio.testing.script",
    "default_content": "afnio.testing.script",
    "estimate_tokens": "afnio.testing.script",
    "example_for_schema": "afnio.testing.script",
    "FAULT_KINDS": "afnio.testing.faults",
    "Faults": "afnio.testing.faults",
    "LocalServer": "afnio.testing.server",
    "DEFAULT_MODEL": "afnio.testing.offline",
    "ModelBackend": "afnio.testing.offline",
    "offline_or_real": "afnio.testing.offline",
    "RequestRecord": "afnio.testing.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'afnio.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
