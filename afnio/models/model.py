"""The model protocol: :class:`BaseModel` and the three kinds of model clients.

A model client knows its provider, keeps a serialisable configuration (never a secret) and
accumulates token usage and cost across calls. ``copy.deepcopy(client)`` returns a small dict
(class, provider, usage) rather than a client: that is what ``Module.state_dict`` and
``Optimizer.state_dict`` store, and ``load_state_dict`` restores the usage from it.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

__all__ = [
    "INITIAL_COST",
    "BaseModel",
    "ChatCompletionModel",
    "EmbeddingModel",
    "TextCompletionModel",
]

INITIAL_COST: dict[str, Any] = {"cost": {"amount": 0.0, "currency": "USD"}}
"""The cost entry every usage dict starts from."""


def _zeroed(value: Any) -> Any:
    """Returns ``value`` with every number set to zero, keeping dicts, lists and strings."""
    if isinstance(value, dict):
        return {key: _zeroed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_zeroed(item) for item in value]
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return 0.0
    if isinstance(value, int):
        return 0
    return value


def usage_as_dict(usage: Any) -> dict[str, Any]:
    """Turns a usage object from a provider SDK (pydantic model) or a mapping into a dict."""
    if usage is None:
        return {}
    if isinstance(usage, dict):
        return usage
    dump = getattr(usage, "model_dump", None)
    if callable(dump):
        return dict(dump())
    raise TypeError(
        f"`usage` must be a dict or a provider usage object, but got {type(usage).__name__}."
    )


def _add_counters(total: dict[str, Any], extra: dict[str, Any]) -> None:
    """Adds the numeric counters of ``extra`` into ``total`` (nested dicts key by key).

    ``None`` counters count as 0; keys absent from ``total`` are created; ``cost`` is left to
    the caller.
    """
    for key, value in extra.items():
        if key == "cost":
            continue
        if isinstance(value, dict):
            sub = total.get(key)
            if not isinstance(sub, dict):
                sub = {}
                total[key] = sub
            _add_counters(sub, value)
        elif value is None:
            total.setdefault(key, 0)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            current = total.get(key) or 0
            total[key] = current + value


class BaseModel:
    """Base class of every model client: provider, configuration and usage bookkeeping.

    Args:
        provider: Who serves the model, e.g. ``"openai"``.
        config: Serialisable client configuration (base URL, timeout...). Never put secrets in it:
            it is shown in reprs and may be saved.
        usage: Initial usage counters; the cost entry is reset to :data:`INITIAL_COST`.

    Example:
        >>> import copy
        >>> from afnio.models.model import BaseModel
        >>> class Echo(BaseModel):
        ...     pass
        >>> m = Echo(provider="local", usage={"prompt_tokens": 3})
        >>> m.update_usage({"prompt_tokens": 2})
        >>> m.get_usage()
        {'prompt_tokens': 5, 'cost': {'amount': 0.0, 'currency': 'USD'}}
        >>> m.clear_usage()
        >>> m.get_usage()["prompt_tokens"]
        0
        >>> copy.deepcopy(m)["class_type"]
        'Echo'
    """

    def __init__(
        self,
        provider: str | None = None,
        config: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        self.provider = provider
        self._config: dict[str, Any] = dict(config or {})
        self._usage: dict[str, Any] = copy.deepcopy(usage) if usage else {}
        self._usage.update(copy.deepcopy(INITIAL_COST))
        self._usage_lock = threading.Lock()
        self.model_id = uuid.uuid4().hex

    def get_provider(self) -> str | None:
        """Returns the provider name, e.g. ``"openai"``."""
        return self.provider

    def get_config(self) -> dict[str, Any]:
        """Returns a copy of the client's serialisable configuration (it holds no secrets)."""
        return copy.deepcopy(self._config)

    def get_usage(self) -> dict[str, Any]:
        """Returns a copy of the accumulated usage: token counters and ``cost`` in USD."""
        with self._usage_lock:
            return copy.deepcopy(self._usage)

    def clear_usage(self) -> None:
        """Sets every number in the usage (nested ones included) to zero, keeping its keys."""
        with self._usage_lock:
            self._usage = _zeroed(self._usage)

    def update_usage(self, usage: Any, model_name: str | None = None) -> None:
        """Adds ``usage`` (a dict or a provider usage object) to the accumulated usage.

        Token counters are added key by key (``None`` counts as 0). The cost is computed by
        :meth:`_cost_of` when ``model_name`` is given; otherwise a ``cost.amount`` present in
        ``usage`` (as in a saved state dict) is added.

        Args:
            usage: Counters to add.
            model_name: The model that produced them, used to price them.
        """
        data = usage_as_dict(usage)
        cost: float | None = None
        if model_name is not None:
            cost = self._cost_of(data, model_name)
        else:
            saved = data.get("cost")
            if isinstance(saved, dict) and isinstance(saved.get("amount"), (int, float)):
                cost = float(saved["amount"])
        self._accumulate(self._counters_of(data), cost)

    def _counters_of(self, usage: dict[str, Any]) -> dict[str, Any]:
        """The counters of ``usage`` this client keeps: all of them here; subclasses may
        normalise them (the OpenAI clients keep exactly OpenAI's counters)."""
        return usage

    def _accumulate(self, counters: dict[str, Any], cost: float | None) -> None:
        """Adds ``counters`` (and ``cost`` in USD, unless ``None``) to the usage."""
        with self._usage_lock:
            _add_counters(self._usage, counters)
            if cost is not None:
                entry = self._usage.setdefault("cost", copy.deepcopy(INITIAL_COST["cost"]))
                entry["amount"] = float(entry.get("amount") or 0.0) + cost

    def _cost_of(self, usage: dict[str, Any], model_name: str) -> float | None:
        """The price in USD of ``usage`` for ``model_name``; ``None`` when unknown."""
        return None

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        """Returns ``{"class_type", "provider", "usage"}``: what state dicts store for a client."""
        return {
            "class_type": type(self).__name__,
            "provider": self.provider,
            "usage": self.get_usage(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r})"


class TextCompletionModel(BaseModel):
    """A model that continues a text prompt (``complete`` / ``acomplete``)."""

    async def acomplete(self, prompt: str, **kwargs: Any) -> str:
        """Completes ``prompt`` (async)."""
        raise NotImplementedError(f"{type(self).__name__} does not support text completion.")

    def complete(self, prompt: str, **kwargs: Any) -> str:
        """Completes ``prompt``."""
        raise NotImplementedError(f"{type(self).__name__} does not support text completion.")


class ChatCompletionModel(BaseModel):
    """A model that answers a list of chat messages (``chat`` / ``achat``).

    Subclasses implement :meth:`achat`; :meth:`chat` runs it on afnio's event loop and blocks.
    """

    async def achat(self, *, messages: list[dict[str, Any]], model: str, **kwargs: Any) -> str:
        """Returns the reply of ``model`` to ``messages`` (async)."""
        raise NotImplementedError(f"{type(self).__name__} does not support chat completion.")

    def chat(self, *, messages: list[dict[str, Any]], model: str, **kwargs: Any) -> str:
        """Returns the reply of ``model`` to ``messages``, blocking until it arrives."""
        from afnio._runtime import run_sync

        return run_sync(self.achat(messages=messages, model=model, **kwargs))


class EmbeddingModel(BaseModel):
    """A model that turns texts into vectors (``embed`` / ``aembed``)."""

    async def aembed(
        self, input: str | list[str], *, model: str, **kwargs: Any
    ) -> list[list[float]]:
        """Returns one vector per text of ``input``, embedded by ``model`` (async)."""
        raise NotImplementedError(f"{type(self).__name__} does not support embeddings.")

    def embed(self, input: str | list[str], *, model: str, **kwargs: Any) -> list[list[float]]:
        """Returns one vector per text of ``input``, embedded by ``model``."""
        raise NotImplementedError(f"{type(self).__name__} does not support embeddings.")
