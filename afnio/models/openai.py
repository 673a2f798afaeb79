"""Clients for OpenAI and any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, LM Studio...).

:class:`AsyncOpenAI` and :class:`OpenAI` wrap the official ``openai`` SDK. Both share one code
path, :meth:`~_OpenAIClient.achat`: a per-client concurrency limit, the optional response cache,
retries with backoff, usage and cost bookkeeping, and one :class:`~afnio.models.ModelCall` record
per call, attached to the graph node that made it. ``chat`` runs ``achat`` on afnio's event loop
and blocks. The two classes differ only in the SDK client underneath: ``AsyncOpenAI`` awaits the
SDK's async client (which lives on afnio's loop), ``OpenAI`` runs the SDK's sync client in worker
threads.

The API key stays inside the SDK client: it is never part of :meth:`get_config`, reprs, records,
logs or state dicts. Connections: see :mod:`afnio.models._connections`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import importlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from afnio import _callsite
from afnio._recording import current_owner, current_phase, record_call
from afnio._runtime import get_loop, in_loop_thread, run_sync
from afnio.models._connections import Resources, release_dropped
from afnio.models._progress import WaitNotices
from afnio.models._replies import (
    describe_failure,
    embedding_vectors,
    is_attempt_failure,
    is_unusable_reply,
    reply_text,
    timeout_seconds,
    usable,
)
from afnio.models._retry import RetryPolicy, is_retryable, status_of
from afnio.models._transport import aiohttp_client, apost_chat, post_chat
from afnio.models._usage import INITIAL_USAGE, normalize_usage
from afnio.models.cache import ResponseCache, request_key
from afnio.models.model import (
    ChatCompletionModel,
    EmbeddingModel,
    TextCompletionModel,
)
from afnio.models.prices import calculate_cost, get_pricing, is_openai_api
from afnio.models.records import (
    ModelCall,
    ModelCallError,
    current_sample,
    operation_name,
    redact,
)

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_TIMEOUT", "INITIAL_USAGE", "AsyncOpenAI", "OpenAI"]

logger = logging.getLogger("afnio.models")
_T = TypeVar("_T")

DEFAULT_MAX_CONCURRENCY = 32
"""Default limit on the calls one client has in flight at once."""

DEFAULT_TIMEOUT = 60.0
"""Default per-attempt timeout, in seconds: how long one HTTP attempt may wait for its reply."""

DEFAULT_DEADLINE = 300.0
"""Default deadline of one call, in seconds, every attempt and wait between them included."""


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def _check_json_config(config: dict[str, Any]) -> None:
    for name, value in config.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Client argument `{name}` must be JSON-serialisable to be part of the client's "
                f"config, but got {type(value).__name__}: {value!r:.80}."
            ) from exc


class _OpenAIClient(TextCompletionModel, ChatCompletionModel, EmbeddingModel):
    """Shared implementation of :class:`OpenAI` and :class:`AsyncOpenAI`."""

    # The SDK is imported when the first client is made, which keeps `import afnio` fast.
    _sdk_class_name = ""

    def __init__(
        self,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        timeout: Any = _UNSET,
        max_retries: int = 3,
        default_headers: dict[str, str] | None = None,
        default_query: dict[str, object] | None = None,
        http_client: Any = None,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        cache: ResponseCache | str | os.PathLike[str] | None = None,
        cache_salt: str | None = None,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 30.0,
        retry_seed: int | None = None,
        history_size: int = 1000,
        deadline: float | None = DEFAULT_DEADLINE,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(f"`max_concurrency` must be an int, but got {max_concurrency!r}.")
        if max_concurrency < 1:
            raise ValueError(f"`max_concurrency` must be >= 1, but got {max_concurrency!r}.")
        self._retry = RetryPolicy(max_retries, retry_base_delay, retry_max_delay, retry_seed)
        if deadline is not None and (isinstance(deadline, bool) or not deadline > 0):
            raise ValueError(
                f"`deadline` must be a positive number of seconds or None, got {deadline!r}."
            )
        self.deadline: float | None = None if deadline is None else float(deadline)
        if timeout is _UNSET:
            timeout = DEFAULT_TIMEOUT
        sdk_args: dict[str, Any] = {
            "api_key": api_key,
            "organization": organization,
            "project": project,
            "websocket_base_url": websocket_base_url,
            "default_headers": default_headers,
            "default_query": default_query,
            "http_client": http_client if http_client is not None else self._default_http_client(),
        }
        sdk_args = {k: v for k, v in sdk_args.items() if v is not None}
        if base_url is not None:
            sdk_args["base_url"] = base_url
        sdk_args["timeout"] = timeout
        self._attempt_timeout = timeout_seconds(timeout)
        # afnio retries by itself, so that every attempt is counted, bounded and recorded.
        sdk_class = getattr(importlib.import_module("openai"), self._sdk_class_name)
        self._client = sdk_class(max_retries=0, **sdk_args)
        self._resources = Resources(self._client, is_async=self._sdk_class_name == "AsyncOpenAI")
        if http_client is None:  # a caller's own HTTP client is the caller's to close
            finalizer = weakref.finalize(self, release_dropped, self._resources)
            finalizer.atexit = False

        if isinstance(cache, ResponseCache) or cache is None:
            self.cache: ResponseCache | None = cache
        elif isinstance(cache, (str, os.PathLike)):
            self.cache = ResponseCache(cache)
        else:
            raise TypeError(
                "`cache` must be None, a file path or a ResponseCache, but got "
                f"{type(cache).__name__}."
            )
        self.cache_salt = cache_salt
        self.max_concurrency = max_concurrency
        config: dict[str, Any] = {
            "organization": organization,
            "project": project,
            "base_url": str(self._client.base_url),
            "websocket_base_url": websocket_base_url,
            "timeout": timeout,
            "deadline": self.deadline,
            "max_retries": max_retries,
            "default_headers": redact(default_headers),
            "default_query": redact(default_query),
            "max_concurrency": max_concurrency,
            "cache": None if self.cache is None else str(self.cache.path),
            "cache_salt": cache_salt,
        }
        config = {k: v for k, v in config.items() if v is not None}
        if "timeout" in config and not isinstance(config["timeout"], (int, float)):
            config["timeout"] = repr(config["timeout"])
        _check_json_config(config)
        super().__init__(provider="openai", config=config, usage=normalize_usage({}))
        self._history: collections.deque[ModelCall] = collections.deque(maxlen=history_size)
        self._history_lock = threading.Lock()
        self._unpriced: set[str] = set()
        self._told_unpriced_endpoint = False
        self._notices = WaitNotices(logger, self._describe_wait)
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None

    # -- public state ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The endpoint the client talks to."""
        return str(self._client.base_url)

    @property
    def _shown_url(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        """The most recent calls of this client (up to ``history_size``), oldest first."""
        with self._history_lock:
            return tuple(self._history)

    @property
    def unpriced_models(self) -> frozenset[str]:
        """Models called by this client whose price is unknown: their cost is not counted."""
        return frozenset(self._unpriced)

    def _counters_of(self, usage: dict[str, Any]) -> dict[str, Any]:
        return normalize_usage(usage)

    def _cost_of(self, usage: dict[str, Any], model_name: str) -> float | None:
        pricing = get_pricing(self.provider, model_name)
        if pricing is None:
            if model_name not in self._unpriced:
                self._unpriced.add(model_name)
                self._warn_unpriced(model_name)
            return None
        return calculate_cost(usage, pricing)

    def _warn_unpriced(self, model_name: str) -> None:
        # Attributed to the caller's line. A server other than OpenAI's (Ollama, vLLM...) is
        # told once per client: its models are rarely in OpenAI's price table, and that is
        # no news per model name.
        if not is_openai_api(self.base_url):
            if self._told_unpriced_endpoint:
                return
            self._told_unpriced_endpoint = True
            _callsite.warn(
                f"Cost is not computed for {self._shown_url}: its models ({model_name!r} first) "
                "are not in afnio's OpenAI price table, so their calls are recorded with "
                "cost=None and add nothing to the usage cost. See `client.unpriced_models`."
            )
            return
        _callsite.warn(
            f"The price of model {model_name!r} (provider {self.provider!r}) is unknown: "
            "its calls are recorded with cost=None and add nothing to the usage cost. "
            "See `client.unpriced_models`."
        )

    # -- lifetime --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed client makes no more calls."""
        return self._resources.closed

    def close(self) -> None:
        """Closes the client's connections (and, for :class:`OpenAI`, its worker threads).

        Calls already running finish first only if they run in other threads; later calls raise
        ``RuntimeError``. Closing twice does nothing. A client that is dropped without being
        closed is closed the same way when it is garbage collected.

        Raises:
            RuntimeError: If called from inside afnio's event loop (use :meth:`aclose`).
        """
        if self._resources.closed:
            return
        run_sync(self._resources.aclose())

    async def aclose(self) -> None:
        """Async form of :meth:`close`."""
        if in_loop_thread():
            await self._resources.aclose()
            return
        future = asyncio.run_coroutine_threadsafe(self._resources.aclose(), get_loop())
        await asyncio.wrap_future(future)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------------

    async def achat(
        self, *, messages: list[dict[str, Any]], model: str, **completion_args: Any
    ) -> str:
        """Sends chat ``messages`` to ``model`` and returns the reply text.

        Any argument of ``chat.completions.create`` can be given (``temperature``, ``seed``,
        ``response_format``, ``max_completion_tokens``, ``extra_body``...). The call waits for a
        slot under the client's ``max_concurrency``, is answered from the cache when one is set,
        and is retried on rate limits (honouring ``Retry-After``), server errors, timeouts,
        connection errors and replies that are not a chat completion (an HTML page). When
        ``response_format`` asks for JSON, a reply that is cut off (``finish_reason="length"``),
        does not parse, or breaks the ``json_schema`` is retried too. Each retry is logged at
        WARNING, and so is a call still waiting after a few seconds (inside
        :func:`~afnio.models.caller_parses_replies`, structured replies are not checked). Its
        :class:`~afnio.models.ModelCall` record goes to the graph node that made it and to
        :attr:`calls`.

        Args:
            messages: OpenAI chat messages, e.g. ``[{"role": "user", "content": "Hi"}]``.
            model: The model name, e.g. ``"gpt-4o"``.
            **completion_args: Passed to the SDK unchanged.

        Returns:
            The reply's text (the JSON text when ``response_format`` asks for JSON).

        Raises:
            ValueError: If ``n > 1`` or ``stream=True`` is asked for.
            ModelCallError: If the call fails for good; its message names the operation (e.g.
                ``ChatCompletion forward, sample 3``), the provider, the model, the base URL,
                the number of attempts and what went wrong.
        """
        n = completion_args.get("n")
        if n is not None and n != 1:
            raise ValueError("n > 1 is not supported for chat completions.")
        if completion_args.get("stream"):
            raise ValueError("stream=True is not supported: afnio needs the whole reply.")
        return await self._on_loop(lambda: self._achat(messages, model, completion_args))

    async def _on_loop(self, make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Runs the coroutine ``make()`` on afnio's one event loop (where every call and the
        SDK's async connections live) and waits for it from the caller's loop.

        Context variables (the recording node) travel with the coroutine, and so does the
        caller's line, to which warnings (an unpriced model...) are attributed.
        """
        if self._resources.closed:
            raise RuntimeError(
                f"This {type(self).__name__} client is closed; create a new one to make calls."
            )
        if in_loop_thread():
            return await make()
        call = _callsite.calling(make(), _callsite.caller_frame())
        future = asyncio.run_coroutine_threadsafe(call, get_loop())
        return await asyncio.wrap_future(future)

    def chat(self, *, messages: list[dict[str, Any]], model: str, **completion_args: Any) -> str:
        """Blocking form of :meth:`achat` (runs it on afnio's event loop)."""
        return super().chat(messages=messages, model=model, **completion_args)

    async def aembed(
        self, input: str | list[str], *, model: str, **embedding_args: Any
    ) -> list[list[float]]:
        """Embeds each text of ``input`` with ``model`` (the SDK's ``embeddings.create``).

        Calls share the chat calls' concurrency limit, retries, usage and cost bookkeeping; the
        :class:`~afnio.models.ModelCall` record holds the texts in ``completion_args["input"]``
        and the vectors in ``parsed``. Embeddings are not cached.

        Args:
            input: A text or a non-empty list of texts.
            model: The embedding model, e.g. ``"text-embedding-3-small"``.
            **embedding_args: Passed to the SDK (``dimensions``, ``user``, ``extra_body``...).

        Returns:
            One vector per text, in input order.

        Raises:
            TypeError: If ``input`` is not a str or a non-empty list of str.
            ModelCallError: If the call fails for good (see :meth:`achat`).
        """
        texts = [input] if isinstance(input, str) else input
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError(
                f"`input` must be a str or a non-empty list of str, but got {input!r:.80}."
            )
        return await self._on_loop(lambda: self._aembed(texts, model, embedding_args))

    def embed(
        self, input: str | list[str], *, model: str, **embedding_args: Any
    ) -> list[list[float]]:
        """Blocking form of :meth:`aembed` (runs it on afnio's event loop).

        Example:
            >>> from afnio.models.openai import OpenAI
            >>> from afnio.testing import LocalServer, ScriptedModel
            >>> with LocalServer(ScriptedModel()) as server:
            ...     client = OpenAI(base_url=server.base_url, api_key=server.api_key)
            ...     vectors = client.embed(["cat", "dog"], model="text-embedding-3-small")
            >>> len(vectors), len(vectors[0]), vectors[0] != vectors[1]
            (2, 16, True)
            >>> client.get_usage()["prompt_tokens"], client.calls[-1].cost > 0
            (2, True)
        """
        return run_sync(self.aembed(input, model=model, **embedding_args))

    async def _aembed(
        self, texts: list[str], model: str, embedding_args: dict[str, Any]
    ) -> list[list[float]]:
        # Floats unless the caller asks otherwise: servers that do not know base64 answer floats
        # anyway, and the SDK then hands back a body that is not JSON (an HTML page) as text.
        args = {"encoding_format": "float", **embedding_args}
        record = self._new_record(model, {"input": list(texts), **args})
        with self._recording(record):

            async def send(attempt_args: dict[str, Any]) -> tuple[Any, list[list[float]]]:
                response = await self._create_embeddings(input=texts, model=model, **attempt_args)
                return response, embedding_vectors(response, len(texts))

            (response, vectors), _ = await self._call_with_retries(
                record, [], model, args, send=send
            )
            dims = {len(v) for v in vectors}
            record.response = f"{len(vectors)} embedding(s) of {'/'.join(map(str, dims))} values"
            record.parsed = vectors
            usage = normalize_usage(response.usage)
            record.usage = usage
            record.cost = self._cost_of(usage, model)
            self._accumulate(usage, record.cost)
            return vectors

    async def _achat(
        self, messages: list[dict[str, Any]], model: str, completion_args: dict[str, Any]
    ) -> str:
        record = self._new_record(
            model, completion_args, messages=json.loads(json.dumps(messages, default=str))
        )
        with self._recording(record):
            key = None
            if self.cache is not None:
                key = request_key(self.provider, model, messages, completion_args, self.cache_salt)
                hit = await asyncio.to_thread(self.cache.get, key)
                if hit is not None and usable(hit[0], completion_args):
                    record.response, record.cache_hit, record.cost = hit[0], True, 0.0
                    return hit[0]
            response, text = await self._call_with_retries(record, messages, model, completion_args)
            record.response = text
            usage = normalize_usage(response.usage)
            record.usage = usage
            priced = model
            answered = getattr(response, "model", None)
            if (
                answered
                and get_pricing(self.provider, model) is None
                and get_pricing(self.provider, answered) is not None
            ):
                priced = answered
            record.cost = self._cost_of(usage, priced)
            self._accumulate(usage, record.cost)
            if self.cache is not None and key is not None:
                await asyncio.to_thread(self.cache.put, key, text, usage, model)
            return text

    def _new_record(self, model: str, completion_args: dict[str, Any], **fields: Any) -> ModelCall:
        """The record of a call to ``model`` starting now, from the graph node being run."""
        owner = current_owner()
        name = getattr(owner, "name", None)
        return ModelCall(
            provider=self.provider,
            model=model,
            completion_args=redact(dict(completion_args)),
            phase=current_phase(),
            node=name() if callable(name) else (type(owner).__name__ if owner else None),
            sample=current_sample(),
            started_at=time.time(),
            **fields,
        )

    @contextlib.contextmanager
    def _recording(self, record: ModelCall) -> Iterator[None]:
        """Keeps ``record`` of the call made in the block: its error (scrubbed), its latency,
        the wait notices while it runs; then adds it to the history and to the graph."""
        start = time.monotonic()
        waiting = self._notices.begin(record)
        try:
            yield
        except BaseException as exc:
            if record.error is None:
                record.error = self._scrub(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._notices.end(waiting)
            record.latency = time.monotonic() - start
            with self._history_lock:
                self._history.append(record)
            record_call(record)

    async def _call_with_retries(
        self,
        record: ModelCall,
        messages: list[dict[str, Any]],
        model: str,
        completion_args: dict[str, Any],
        *,
        send: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
    ) -> tuple[Any, str]:
        """The response and its checked text, retrying failed and unusable attempts.

        ``send(args)``, if given, makes the request instead of a chat completion (embeddings);
        its response has no text to check (``""``).
        """
        attempts = 0
        ends_at: float | None = None
        timeout = self._attempt_timeout
        while True:
            attempts += 1
            try:
                async with self._limiter():
                    if ends_at is None and self.deadline is not None:
                        # The deadline counts from the first attempt, not from the queue.
                        ends_at = time.monotonic() + self.deadline
                    args = self._bounded(completion_args, ends_at)
                    timeout = timeout_seconds(args.get("timeout", self._attempt_timeout))
                    if send is not None:
                        return await send(args), ""
                    response = await self._create(messages=messages, model=model, **args)
                return response, reply_text(response, completion_args)
            except Exception as exc:
                if not is_attempt_failure(exc):
                    raise
                retryable = is_unusable_reply(exc) or is_retryable(exc)
                left = None if ends_at is None else ends_at - time.monotonic()
                delay = self._retry.delay(attempts - 1, exc) if retryable else 0.0
                out_of_time = left is not None and delay >= left
                if not retryable or attempts > self._retry.max_retries or out_of_time:
                    # Not chained: the provider's message may echo credentials (see ModelCallError).
                    raise self._final_error(
                        record, exc, attempts, retryable, out_of_time, timeout
                    ) from None
                record.retries += 1
                logger.warning(
                    "%s: attempt %d of %d failed: %s; retrying in %.2f s",
                    self._call_name(record),
                    attempts,
                    self._retry.max_retries + 1,
                    self._scrub(describe_failure(exc, timeout)),
                    delay,
                )
                await asyncio.sleep(delay)

    def _bounded(self, completion_args: dict[str, Any], ends_at: float | None) -> dict[str, Any]:
        """``completion_args`` with a per-attempt timeout that ends by the call's deadline."""
        if ends_at is None or "timeout" in completion_args:
            return completion_args
        left = max(ends_at - time.monotonic(), 0.001)
        if self._attempt_timeout is not None and self._attempt_timeout <= left:
            return completion_args
        return {**completion_args, "timeout": left}

    def _call_name(self, record: ModelCall) -> str:
        """E.g. ``ChatCompletion forward, sample 3: model 'gpt-4o' at http://.../v1``."""
        where = operation_name(record.phase, record.node, record.sample)
        what = f"{self.provider} model {record.model!r} at {self._shown_url}"
        return f"{where}: {what}" if where else what

    def _describe_wait(self, record: ModelCall, seconds: float) -> str:
        limits = []
        if self._attempt_timeout is not None:
            limits.append(f"{self._attempt_timeout:g} s per attempt")
        if self.deadline is not None:
            limits.append(f"{self.deadline:g} s deadline per call")
        attempt = f"attempt {record.retries + 1} of {self._retry.max_retries + 1}"
        return (
            f"{self._call_name(record)}: still waiting after {seconds:.0f} s ({attempt}; "
            f"{', '.join(limits) or 'no time limit'})"
        )

    def _final_error(
        self,
        record: ModelCall,
        exc: BaseException,
        attempts: int,
        retryable: bool,
        out_of_time: bool = False,
        timeout: float | None = None,
    ) -> ModelCallError:
        status = status_of(exc)
        plural = "attempt" if attempts == 1 else "attempts"
        if out_of_time:
            why = f"gave up after {attempts} {plural} ({self.deadline:g} s deadline per call)"
        elif retryable:
            why = f"gave up after {attempts} {plural} (retry budget: {self._retry.max_retries})"
        else:
            what = f"HTTP {status}" if status is not None else type(exc).__name__
            why = f"failed after {attempts} {plural} ({what} is not retried)"
        message = self._scrub(f"{self._call_name(record)} {why}: {describe_failure(exc, timeout)}")
        record.error = message
        return ModelCallError(
            message,
            provider=self.provider,
            model=record.model,
            node=record.node,
            attempts=attempts,
            status_code=status,
            record=record,
            error_type=type(exc).__name__,
            base_url=self._shown_url,
            operation=operation_name(record.phase, record.node, record.sample),
        )

    def _limiter(self) -> asyncio.Semaphore:
        # Created lazily on afnio's loop, where every call runs (again if that loop was replaced).
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    def _scrub(self, text: str) -> str:
        key = getattr(self._client, "api_key", None)
        if isinstance(key, str) and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    async def _create(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def _create_embeddings(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _default_http_client(self) -> Any:
        """The HTTP client given to the SDK when the caller gives none (``None``: the SDK's)."""
        return None

    # -- safety ----------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"max_concurrency={self.max_concurrency}, cache={self.cache!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(
            f"{type(self).__name__} clients cannot be pickled (they hold credentials). Save "
            "`copy.deepcopy(client)` (class, provider and usage) instead, and pass a live client "
            "to `load_state_dict(..., model_clients=...)`."
        )


class AsyncOpenAI(_OpenAIClient):
    """An OpenAI-compatible chat model client over the SDK's async client.

    Args:
        api_key: Defaults to ``OPENAI_API_KEY``; without either, the SDK raises.
        organization: OpenAI organization id.
        project: OpenAI project id.
        base_url: Defaults to ``OPENAI_BASE_URL``, then OpenAI's API. Point it at any
            OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, ``afnio.testing``).
        websocket_base_url: Passed to the SDK.
        timeout: Per-attempt timeout in seconds (or an ``httpx`` timeout): how long one HTTP
            attempt waits for its reply before it is retried. Defaults to
            :data:`DEFAULT_TIMEOUT` (60 s).
        max_retries: afnio's retry budget: up to ``max_retries + 1`` attempts per call.
        default_headers: Headers sent with every request.
        default_query: Query parameters sent with every request.
        http_client: A custom ``httpx`` client for the SDK.
        max_concurrency: Most calls in flight at once for this client, forward, backward and
            optimizer calls together.
        cache: ``None`` (no cache), a SQLite file path, or a :class:`ResponseCache`.
        cache_salt: Mixed into every cache key: change it to get fresh samples.
        retry_base_delay: First backoff window in seconds (doubled per retry, full jitter).
        retry_max_delay: Longest wait between attempts, in seconds.
        retry_seed: Seeds the jitter (for reproducible tests).
        history_size: How many records :attr:`calls` keeps.
        deadline: Longest time in seconds one call may take from its first attempt, every
            attempt and wait included (:data:`DEFAULT_DEADLINE`, 300 s); ``None`` for none.
            A call that would pass it stops retrying and raises.

    Raises:
        openai.OpenAIError: If no API key is given or set in the environment.
        TypeError: If a configuration value is not JSON-serialisable or has the wrong type.

    Example:
        >>> from afnio.models.openai import AsyncOpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> script = ScriptedModel()
        >>> _ = script.when(user="ping").reply("pong")
        >>> with LocalServer(script) as server:
        ...     client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     client.chat(messages=[{"role": "user", "content": "ping"}], model="gpt-4o")
        'pong'
        >>> client.get_usage()["total_tokens"] > 0
        True
    """

    _sdk_class_name = "AsyncOpenAI"

    def _default_http_client(self) -> Any:
        # aiohttp's HTTP stack when installed (see afnio.models._transport).
        return aiohttp_client()

    async def _create(self, **kwargs: Any) -> Any:
        messages, model = kwargs.pop("messages"), kwargs.pop("model")
        return await apost_chat(self._client, messages, model, kwargs)

    async def _create_embeddings(self, **kwargs: Any) -> Any:
        return await self._client.embeddings.create(**kwargs)


class OpenAI(_OpenAIClient):
    """An OpenAI-compatible chat model client over the SDK's sync client.

    Same arguments and behaviour as :class:`AsyncOpenAI`; the SDK's blocking calls run in a pool
    of ``max_concurrency`` worker threads, so batches and backward passes still run concurrently.

    Example:
        >>> from afnio.models.openai import OpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> script = ScriptedModel()
        >>> _ = script.when(user="ping").reply("pong")
        >>> with LocalServer(script) as server:
        ...     client = OpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     client.chat(messages=[{"role": "user", "content": "ping"}], model="gpt-4o")
        'pong'
    """

    _sdk_class_name = "OpenAI"

    async def _in_worker(self, call: Callable[[], Any]) -> Any:
        """Runs a blocking SDK call in the client's worker threads."""
        resources = self._resources
        if resources.executor is None:
            resources.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_concurrency, thread_name_prefix="afnio-openai"
            )
        return await asyncio.get_running_loop().run_in_executor(resources.executor, call)

    async def _create(self, **kwargs: Any) -> Any:
        messages, model = kwargs.pop("messages"), kwargs.pop("model")
        return await self._in_worker(
            functools.partial(post_chat, self._client, messages, model, kwargs)
        )

    async def _create_embeddings(self, **kwargs: Any) -> Any:
        return await self._in_worker(functools.partial(self._client.embeddings.create, **kwargs))
