"""One switch between a real model and afnio's local scripted server: :func:`offline_or_real`.

Notebooks and demos call it once. With ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` in the
environment they get the real endpoint (OpenAI, or a local Ollama, vLLM, llama.cpp or LM Studio
server); without either they get a :class:`~afnio.testing.LocalServer` answering from the script
written for that notebook, and a visible banner says so.
"""

from __future__ import annotations

import atexit
import html
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afnio.models.openai import AsyncOpenAI, OpenAI
    from afnio.testing.server import LocalServer

__all__ = ["DEFAULT_MODEL", "ModelBackend", "offline_or_real"]

DEFAULT_MODEL = "gpt-4o-mini"
"""The model used when neither ``model=`` nor ``AFNIO_MODEL`` says otherwise."""

_LOCAL_KEY = "sk-no-key-needed"  # local OpenAI-compatible servers accept any key


@dataclass
class ModelBackend:
    """Where model calls go: the real endpoint or the local scripted server.

    Attributes:
        offline: ``True`` when calls go to afnio's local scripted server.
        model: The model name to pass as ``model=``.
        base_url: The endpoint (``None`` means OpenAI's default).
        server: The running :class:`~afnio.testing.LocalServer` when offline, else ``None``.
    """

    offline: bool
    model: str
    base_url: str | None
    server: LocalServer | None = None
    _api_key: str | None = field(default=None, repr=False)

    @property
    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for :class:`afnio.models.openai.OpenAI`/``AsyncOpenAI`` (and for
        ``afnio.set_backward_model_client``). Holds the API key: don't print it."""
        args: dict[str, Any] = {}
        if self.base_url is not None:
            args["base_url"] = self.base_url
        if self._api_key is not None:
            args["api_key"] = self._api_key
        return args

    def client(self, *, sync: bool = False, **kwargs: Any) -> AsyncOpenAI | OpenAI:
        """A new afnio model client for this backend (async by default).

        Args:
            sync: Return :class:`~afnio.models.openai.OpenAI` instead of ``AsyncOpenAI``.
            **kwargs: More constructor arguments (``max_concurrency``, ``cache``, ...).
        """
        from afnio.models.openai import AsyncOpenAI, OpenAI

        cls = OpenAI if sync else AsyncOpenAI
        return cls(**{**self.client_args, **kwargs})

    def use_for_backward(self, **completion_args: Any) -> None:
        """Makes this backend afnio's backward model client (``afnio.set_backward_model_client``)
        with ``completion_args`` (``model`` defaults to :attr:`model`)."""
        import afnio

        afnio.set_backward_model_client(
            f"openai/{completion_args.get('model', self.model)}",
            client_args=self.client_args,
            completion_args={"model": self.model, **completion_args},
        )

    def describe(self) -> str:
        """One line saying where model calls go."""
        if self.offline:
            return (
                f"afnio offline mode: no OPENAI_API_KEY or OPENAI_BASE_URL is set, so model calls "
                f"go to afnio's local scripted server at {self.base_url} (model {self.model!r}). "
                "Set OPENAI_API_KEY (or OPENAI_BASE_URL for Ollama, vLLM, llama.cpp or LM Studio) "
                "and restart the kernel to use a real model."
            )
        where = self.base_url or "https://api.openai.com/v1"
        return f"afnio online mode: model calls go to {where} (model {self.model!r})."

    def _repr_html_(self) -> str:
        colour = "#8a5a00" if self.offline else "#1f6f3f"
        background = "#fff4d6" if self.offline else "#e3f5e9"
        return (
            f'<div style="padding:8px 12px;border-left:4px solid {colour};'
            f'background:{background};color:#222;font-family:sans-serif">'
            f"{html.escape(self.describe())}</div>"
        )

    def close(self) -> None:
        """Stops the local server, if any."""
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> ModelBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def offline_or_real(
    script: Any = None,
    *,
    model: str | None = None,
    latency: float | tuple[float, float] = 0.0,
    banner: bool = True,
) -> ModelBackend:
    """Decides where model calls go and returns a :class:`ModelBackend`.

    * ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` set: the real endpoint. A base URL without a key
      (a local Ollama, vLLM, llama.cpp or LM Studio server) gets a placeholder key.
    * Neither set: a :class:`~afnio.testing.LocalServer` is started on 127.0.0.1 with ``script``
      (a :class:`~afnio.testing.ScriptedModel` or a callable) and ``latency``.

    Args:
        script: The scripted model used offline.
        model: The model name; defaults to ``AFNIO_MODEL`` from the environment, else
            :data:`DEFAULT_MODEL`.
        latency: Seconds per request of the local server (offline only).
        banner: Show a banner saying which mode is on (HTML in Jupyter, a line of text
            elsewhere).

    Example:
        >>> from afnio.testing import ScriptedModel, offline_or_real
        >>> script = ScriptedModel(default="Ciao")
        >>> backend = offline_or_real(script, banner=False)  # offline here: no key is set
        >>> backend.offline, backend.model
        (True, 'gpt-4o-mini')
        >>> backend.client(sync=True).chat(messages=[{"role": "user", "content": "Hi"}],
        ...                                model=backend.model)
        'Ciao'
        >>> backend.close()
    """
    name = model or os.environ.get("AFNIO_MODEL") or DEFAULT_MODEL
    api_key = os.environ.get("OPENAI_API_KEY") or None
    base_url = os.environ.get("OPENAI_BASE_URL") or None
    if api_key or base_url:
        backend = ModelBackend(False, name, base_url, None, api_key or _LOCAL_KEY)
    else:
        from afnio.testing.server import LocalServer

        server = LocalServer(script, latency=latency).start()
        atexit.register(server.stop)
        backend = ModelBackend(True, name, server.base_url, server, server.api_key)
    if banner:
        _show(backend)
    return backend


def _show(backend: ModelBackend) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is installed with the widgets
        print(backend.describe())
        return
    if get_ipython() is None:
        print(backend.describe())
    else:
        display(backend)
