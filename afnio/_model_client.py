"""The backward model client: the model that writes textual gradients during ``backward()``.

Every language-model backward pass (chat completions, evaluators) asks this one process-wide
client for feedback. Set it once with :func:`set_backward_model_client`.
"""

from __future__ import annotations

import copy
from typing import Any

from afnio.models.records import ModelCall

__all__ = ["ModelClientSingleton", "get_backward_model_client", "set_backward_model_client"]

_PROVIDERS = ("openai",)


class ModelClientSingleton:
    """The process-wide backward model client (there is only ever one instance).

    Attributes:
        _client: The model client (an :class:`afnio.models.openai.OpenAI`), or ``None``.
        _provider: E.g. ``"openai"``.
        _model: The model name, e.g. ``"gpt-4o"``.
        _client_args: The arguments the client was created with.
        _completion_args: Default arguments of every backward call.
    """

    _instance: ModelClientSingleton | None = None

    _client: Any
    _provider: str | None
    _model: str | None
    _client_args: dict[str, Any]
    _completion_args: dict[str, Any]

    def __new__(cls) -> ModelClientSingleton:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance._client = None
            instance._provider = None
            instance._model = None
            instance._client_args = {}
            instance._completion_args = {}
            cls._instance = instance
        return cls._instance

    def _initialize(
        self,
        provider: str,
        model: str,
        client_args: dict[str, Any],
        completion_args: dict[str, Any],
    ) -> None:
        """(Re)creates the client, only if something changed since the last call."""
        unchanged = (
            self._client is not None
            and provider == self._provider
            and model == self._model
            and client_args == self._client_args
            and completion_args == self._completion_args
        )
        if unchanged:
            return
        from afnio.models.openai import OpenAI

        self._client = OpenAI(**client_args)
        self._provider = provider
        self._model = model
        self._client_args = client_args
        self._completion_args = completion_args

    def _request(self, overrides: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
        if self._client is None:
            raise RuntimeError(
                "No global model client set for backward pass. Call `set_backward_model_client` "
                "to define one."
            )
        kwargs = {**self._completion_args, **overrides}
        model = str(kwargs.pop("model", None) or self._model)
        return self._client, model, kwargs

    def chat(self, messages: list[dict[str, Any]], **override_kwargs: Any) -> str:
        """Sends ``messages`` to the backward model and returns the reply text.

        The default completion arguments are merged with ``override_kwargs`` (which win);
        ``model`` defaults to the model of :func:`set_backward_model_client`.

        Raises:
            RuntimeError: If no backward model client has been set.
        """
        client, model, kwargs = self._request(override_kwargs)
        return str(client.chat(messages=messages, model=model, **kwargs))

    async def achat(self, messages: list[dict[str, Any]], **override_kwargs: Any) -> str:
        """Async form of :meth:`chat`, used by the backward passes."""
        client, model, kwargs = self._request(override_kwargs)
        return str(await client.achat(messages=messages, model=model, **kwargs))

    @property
    def client(self) -> Any:
        """The underlying model client (``None`` until set)."""
        return self._client

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        """The recent calls of the underlying client (see ``OpenAI.calls``)."""
        return () if self._client is None else tuple(self._client.calls)

    @property
    def unpriced_models(self) -> frozenset[str]:
        """Models of the underlying client whose price is unknown (``OpenAI.unpriced_models``)."""
        return frozenset(getattr(self._client, "unpriced_models", ()))

    def get_provider(self) -> str | None:
        """Returns the provider of the backward model, e.g. ``"openai"``."""
        return self._provider

    def get_usage(self) -> dict[str, Any]:
        """Returns the backward model's accumulated usage (tokens and cost)."""
        if self._client is None:
            raise RuntimeError(
                "No global model client set for backward pass. Call `set_backward_model_client` "
                "to define one."
            )
        return dict(self._client.get_usage())

    def clear_usage(self) -> None:
        """Zeroes the backward model's usage counters."""
        if self._client is not None:
            self._client.clear_usage()

    def __repr__(self) -> str:
        if self._client is None:
            return "ModelClientSingleton(unset)"
        path = f"{self._provider}/{self._model}"
        return f"ModelClientSingleton(model={path!r}, client={self._client!r})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "The backward model client cannot be pickled (it holds credentials); save "
            "`copy.deepcopy(get_backward_model_client().client)` to keep its usage."
        )


def set_backward_model_client(
    model_path: str = "openai/gpt-4o",
    client_args: dict[str, Any] | None = None,
    completion_args: dict[str, Any] | None = None,
) -> None:
    """Sets the model that writes gradients in every language-model backward pass.

    The client is created again only if something changed since the previous call.

    Args:
        model_path: ``"provider/model"``, e.g. ``"openai/gpt-4o-mini"``.
        client_args: Arguments of :class:`afnio.models.openai.OpenAI` (``api_key``,
            ``base_url``, ``max_concurrency``, ``cache``...). The key defaults to
            ``OPENAI_API_KEY``. The dict is copied, never modified.
        completion_args: Default arguments of every backward call (``temperature``, ``seed``...).

    Raises:
        ValueError: If ``model_path`` is not ``"provider/model"`` or the provider is unsupported.
        TypeError: If ``client_args`` or ``completion_args`` is not a dict.

    Example:
        >>> import afnio
        >>> from afnio.testing import LocalServer
        >>> with LocalServer() as server:
        ...     afnio.set_backward_model_client(
        ...         "openai/gpt-4o-mini",
        ...         client_args={"base_url": server.base_url, "api_key": server.api_key},
        ...         completion_args={"temperature": 0})
        ...     afnio.get_backward_model_client()._model
        'gpt-4o-mini'
    """
    if not isinstance(model_path, str) or "/" not in model_path:
        raise ValueError("`model_path` must be in the format 'provider/model'")
    provider, model = model_path.split("/", 1)
    if not provider or not model:
        raise ValueError("`model_path` must be in the format 'provider/model'")
    if provider not in _PROVIDERS:
        raise ValueError(f"Unsupported provider: {provider}.")
    for name, value in (("client_args", client_args), ("completion_args", completion_args)):
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"`{name}` must be a dict or None, but got {type(value).__name__}.")
    ModelClientSingleton()._initialize(
        provider,
        model,
        copy.copy(client_args) if client_args else {},
        copy.deepcopy(completion_args) if completion_args else {},
    )


def get_backward_model_client() -> ModelClientSingleton:
    """Returns the backward model client set by :func:`set_backward_model_client`.

    Raises:
        RuntimeError: If none has been set.
    """
    instance = ModelClientSingleton()
    if instance._client is None:
        raise RuntimeError(
            "No global model client set for backward pass. Call `set_backward_model_client` to "
            "define one."
        )
    return instance
