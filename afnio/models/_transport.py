"""How a chat completion travels: which HTTP client the SDK uses, and which SDK method sends it.

Two choices, both measured by ``make bench`` (see ``benchmarks/RESULTS.md``, "Client CPU per
call"), keep the client's CPU per call low:

- **aiohttp under the async SDK.** With ``openai[aiohttp]`` installed, :class:`AsyncOpenAI`
  clients made without an ``http_client`` give the SDK its ``DefaultAioHttpClient``: the same SDK
  (types, errors, auth, timeouts), with aiohttp's C-accelerated HTTP instead of the pure-Python
  default stack. Without aiohttp the SDK's default client is used.
- **The SDK's request path, without its parameter transform.** ``chat.completions.create``
  re-walks every argument against its ``TypedDict`` annotations on each call, to convert aliases,
  dates and iterables. afnio's arguments are already plain JSON, for which that walk changes
  nothing, so they are sent with the SDK's public ``post("/chat/completions", ...)``, with the
  same options ``create`` would give it (``extra_headers``, ``extra_query``, ``extra_body``,
  ``timeout``, bearer auth) and the same response type (``ChatCompletion``). Anything else
  (a pydantic object, a generator, a date...) goes through ``create`` unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["aiohttp_client", "apost_chat", "post_chat", "split_request"]

_OPTION_KEYS = {
    "extra_headers": "headers",
    "extra_query": "params",
    "extra_body": "extra_json",
    "timeout": "timeout",
}
"""``create`` arguments that are request options, not body fields, and their option names."""

_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made only of JSON's own types (dicts with str keys, lists, scalars)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth > 32:
        return False
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if kind is list:
        return all(_plain(v, depth + 1) for v in value)
    return False


def split_request(
    messages: Any, model: Any, completion_args: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The JSON body and the SDK request options of a chat completion, or ``None`` when an
    argument is not plain JSON (then the SDK's ``create`` must convert it).

    Example:
        >>> body, options = split_request([{"role": "user", "content": "Hi"}], "gpt-4o",
        ...                               {"temperature": 0, "extra_headers": {"X-Trace": "7"}})
        >>> body
        {'messages': [{'role': 'user', 'content': 'Hi'}], 'model': 'gpt-4o', 'temperature': 0}
        >>> options
        {'headers': {'X-Trace': '7'}}
        >>> split_request([{"role": "user", "content": ("Hi",)}], "gpt-4o", {}) is None
        True
    """
    if type(model) is not str or not _plain(messages):
        return None
    body: dict[str, Any] = {"messages": messages, "model": model}
    options: dict[str, Any] = {}
    for name, value in completion_args.items():
        option = _OPTION_KEYS.get(name)
        if option is not None:
            if option == "timeout":
                options[option] = value  # a number, an httpx Timeout or None: the SDK's own
            elif value is not None:
                if not _plain(value):
                    return None
                options[option] = value
        elif _plain(value):
            body[name] = value
        else:
            return None
    return body, options


def _request_options(sdk: Any, options: dict[str, Any]) -> dict[str, Any]:
    # Newer SDKs choose the auth headers per endpoint; ``create`` asks for bearer auth only.
    if _ACCEPTS_SECURITY.get(type(sdk)) is None:
        from openai import _types as sdk_types

        accepted = "security" in getattr(sdk_types.RequestOptions, "__annotations__", {})
        _ACCEPTS_SECURITY[type(sdk)] = accepted
    if _ACCEPTS_SECURITY[type(sdk)]:
        options["security"] = {"bearer_auth": True}
    return options


_ACCEPTS_SECURITY: dict[type, bool] = {}


async def apost_chat(sdk: Any, messages: Any, model: Any, completion_args: dict[str, Any]) -> Any:
    """One chat completion through the async SDK client ``sdk``; returns its ``ChatCompletion``."""
    request = split_request(messages, model, completion_args)
    if request is None:
        return await sdk.chat.completions.create(messages=messages, model=model, **completion_args)
    from openai.types.chat import ChatCompletion

    body, options = request
    return await sdk.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options=_request_options(sdk, options),
    )


def post_chat(sdk: Any, messages: Any, model: Any, completion_args: dict[str, Any]) -> Any:
    """One chat completion through the sync SDK client ``sdk``; returns its ``ChatCompletion``."""
    request = split_request(messages, model, completion_args)
    if request is None:
        return sdk.chat.completions.create(messages=messages, model=model, **completion_args)
    from openai.types.chat import ChatCompletion

    body, options = request
    return sdk.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletion,
        options=_request_options(sdk, options),
    )


def aiohttp_client() -> Any:
    """The SDK's aiohttp-based HTTP client, or ``None`` when ``aiohttp`` is not installed."""
    import openai

    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is None:
        return None
    try:
        return factory()
    except RuntimeError:  # the SDK's stand-in when the `aiohttp` extra is missing
        return None
