"""Scripted, deterministic replies for the local OpenAI-compatible server.

A :class:`ScriptedModel` is an ordered list of rules. Each rule says which requests it matches
(regular expressions on the system prompt, the last user message or the whole conversation; the
model name; the name of the requested JSON schema; any predicate) and what to answer. The first
rule that matches a request answers it; when none does, a deterministic default answers: a
schema-valid JSON instance when a JSON schema was requested, ``{}`` for JSON mode, and an echo of
the last user message otherwise.

Example:
    >>> model = ScriptedModel()
    >>> rule = model.when(user=r"capital of France").reply("Paris")
    >>> model(ChatRequest({"model": "m", "messages": [
    ...     {"role": "user", "content": "What is the capital of France?"}]})).text
    'Paris'
    >>> rule.hits
    1
    >>> model(ChatRequest({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})).text
    '[scripted] Hi'
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeAlias

from afnio.testing.schema import example_for_schema

__all__ = [
    "ChatRequest",
    "Content",
    "Reply",
    "ReplyLike",
    "Responder",
    "Rule",
    "ScriptedModel",
    "default_content",
    "estimate_tokens",
    "example_for_schema",
]

Content: TypeAlias = str | dict[str, Any] | list[Any]
"""What a reply may carry: text, or a JSON object/array that is encoded with :func:`json.dumps`."""

Pattern: TypeAlias = str | re.Pattern[str]
"""A regular expression, as a string or compiled."""

_USAGE_KEYS = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens"}
)
_ECHO_PREFIX = "[scripted]"
_ECHO_CHARS = 200


def estimate_tokens(text: str) -> int:
    """Deterministic token count used for ``usage``: one token per four characters, at least one.

    Args:
        text: The text to count.

    Returns:
        ``ceil(len(text) / 4)``, and never less than 1.

    Example:
        >>> estimate_tokens(""), estimate_tokens("abcd"), estimate_tokens("abcde")
        (1, 1, 2)
    """
    return max(1, math.ceil(len(text) / 4))


def _content_text(content: object) -> str:
    """The text of a message ``content``: a string, or the text parts of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


@dataclass(frozen=True)
class ChatRequest:
    """A chat-completion request as the script sees it.

    Args:
        body: The parsed JSON body the client sent to ``/v1/chat/completions``.
        attempt: How many times the server had already seen this exact body (0 on the first
            attempt, 1 on the first retry, ...).

    Example:
        >>> request = ChatRequest({"model": "gpt-4o", "messages": [
        ...     {"role": "system", "content": "Be brief."},
        ...     {"role": "user", "content": [{"type": "text", "text": "Hello"}]}]})
        >>> request.model, request.system, request.user
        ('gpt-4o', 'Be brief.', 'Hello')
    """

    body: dict[str, Any]
    attempt: int = 0

    @property
    def model(self) -> str:
        """The requested model name (echoed in the response)."""
        model = self.body.get("model")
        return model if isinstance(model, str) else ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The request's messages, as sent."""
        messages = self.body.get("messages")
        if not isinstance(messages, list):
            return []
        return [message for message in messages if isinstance(message, dict)]

    def _texts(self, *roles: str) -> list[str]:
        return [
            _content_text(message.get("content"))
            for message in self.messages
            if not roles or message.get("role") in roles
        ]

    @property
    def system(self) -> str:
        """The text of all system (and developer) messages, joined by blank lines."""
        return "\n\n".join(self._texts("system", "developer"))

    @property
    def user(self) -> str:
        """The text of the last user message, or ``""`` when there is none."""
        texts = self._texts("user")
        return texts[-1] if texts else ""

    @property
    def text(self) -> str:
        """The text of every message, in order, joined by blank lines."""
        return "\n\n".join(self._texts())

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The ``response_format`` argument, if any."""
        response_format = self.body.get("response_format")
        return response_format if isinstance(response_format, dict) else None

    @property
    def response_format_type(self) -> str:
        """``"text"``, ``"json_object"`` or ``"json_schema"`` (``"text"`` when not given)."""
        response_format = self.response_format
        kind = response_format.get("type") if response_format else None
        return kind if isinstance(kind, str) else "text"

    @property
    def wants_json(self) -> bool:
        """Whether JSON output was requested (JSON mode or a JSON schema)."""
        return self.response_format_type in ("json_object", "json_schema")

    def _json_schema(self) -> dict[str, Any] | None:
        if self.response_format_type != "json_schema" or self.response_format is None:
            return None
        json_schema = self.response_format.get("json_schema")
        return json_schema if isinstance(json_schema, dict) else None

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema requested with ``response_format={"type": "json_schema", ...}``."""
        json_schema = self._json_schema()
        schema = json_schema.get("schema") if json_schema else None
        return schema if isinstance(schema, dict) else None

    @property
    def schema_name(self) -> str | None:
        """The ``name`` of the requested JSON schema."""
        json_schema = self._json_schema()
        name = json_schema.get("name") if json_schema else None
        return name if isinstance(name, str) else None


@dataclass(frozen=True)
class Reply:
    """A reply with full control over what the server sends back.

    Args:
        content: The message content; a dict or list is JSON-encoded. With an error ``status``,
            the error message.
        usage: Token counts that replace the estimated ones. Keys among ``prompt_tokens``,
            ``completion_tokens``, ``total_tokens`` (default: the sum of the first two),
            ``cached_tokens`` and ``reasoning_tokens``.
        latency: Seconds to wait before answering; overrides the server's latency.
        status: HTTP status. ``None`` or a 2xx status sends a completion; 4xx/5xx sends an error
            in OpenAI's format with ``content`` as its message.
        finish_reason: The choice's ``finish_reason``.
        headers: Extra HTTP response headers (for example ``{"Retry-After": "1"}``).

    Raises:
        ValueError: For an unknown usage key, a negative latency or an impossible status.

    Example:
        >>> Reply({"answer": 42}, usage={"prompt_tokens": 10, "completion_tokens": 2}).text
        '{"answer": 42}'
        >>> Reply("slow down", status=429, headers={"Retry-After": "0.1"}).status
        429
    """

    content: Content
    _: KW_ONLY
    usage: Mapping[str, int] | None = None
    latency: float | None = None
    status: int | None = None
    finish_reason: str = "stop"
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.content, (str, dict, list)):
            raise TypeError(
                f"Reply content must be a str, dict or list, got {type(self.content).__name__}"
            )
        if self.usage is not None:
            unknown = sorted(set(self.usage) - _USAGE_KEYS)
            if unknown:
                raise ValueError(
                    f"unknown usage keys {unknown!r}; expected some of {sorted(_USAGE_KEYS)!r}"
                )
        if self.latency is not None and not self.latency >= 0:
            raise ValueError(
                f"latency must be a non-negative number of seconds, got {self.latency!r}"
            )
        if self.status is not None and not 200 <= self.status <= 599:
            raise ValueError(
                f"status must be an HTTP status between 200 and 599, got {self.status!r}"
            )

    @property
    def text(self) -> str:
        """The content as the text the server sends."""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, ensure_ascii=False)

    @property
    def is_error(self) -> bool:
        """Whether this reply is sent as an HTTP error."""
        return self.status is not None and self.status >= 400


ReplyLike: TypeAlias = str | dict[str, Any] | list[Any] | Reply
"""Anything a rule or a script callable may return as an answer."""

Responder: TypeAlias = ReplyLike | Callable[[ChatRequest], ReplyLike | None]
"""A fixed answer, or a callable computing one from the request (``None`` means "not me")."""


def _as_reply(value: ReplyLike) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, (str, dict, list)):
        return Reply(value)
    raise TypeError(
        f"a scripted answer must be a str, dict, list or Reply, got {type(value).__name__}: "
        f"{value!r}"
    )


def _compile(pattern: Pattern | None) -> re.Pattern[str] | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    if isinstance(pattern, str):
        return re.compile(pattern, re.DOTALL)
    raise TypeError(f"expected a regular expression (str or re.Pattern), got {pattern!r}")


class Rule:
    """One clause of a :class:`ScriptedModel`: what it matches and what it answers.

    Rules are made by :meth:`ScriptedModel.when` and completed by :meth:`reply`. Every given
    condition must hold for the rule to match. Regular expressions are searched
    (:func:`re.search`) with :data:`re.DOTALL`; ``model`` must match the whole model name.

    Attributes:
        hits: How many requests this rule has answered.
    """

    def __init__(
        self,
        *,
        system: Pattern | None = None,
        user: Pattern | None = None,
        text: Pattern | None = None,
        model: Pattern | None = None,
        schema: str | None = None,
        predicate: Callable[[ChatRequest], bool] | None = None,
    ) -> None:
        self._system = _compile(system)
        self._user = _compile(user)
        self._text = _compile(text)
        self._model = _compile(model)
        self._schema = schema
        self._predicate = predicate
        self._response: Responder | None = None
        self._has_response = False
        self._latency: float | None = None
        self._times: int | None = None
        self._lock = threading.Lock()
        self.hits = 0

    def reply(
        self, response: Responder, *, latency: float | None = None, times: int | None = None
    ) -> Rule:
        """Set what this rule answers.

        Args:
            response: A string, a dict or list (JSON-encoded), a :class:`Reply`, or a callable
                ``request -> str | dict | list | Reply | None``. A callable returning ``None``
                passes the request on to the next rule.
            latency: Seconds to wait before answering, unless the reply sets its own.
            times: Answer at most this many requests, then stop matching.

        Returns:
            This rule, so that ``rule = model.when(...).reply(...)`` keeps it for ``rule.hits``.

        Raises:
            ValueError: For a negative ``latency`` or a ``times`` below 1.

        Example:
            >>> model = ScriptedModel()
            >>> first = model.when(user="retry me").reply("not JSON", times=1)
            >>> then = model.when(user="retry me").reply({"ok": True})
        """
        if latency is not None and not latency >= 0:
            raise ValueError(f"latency must be a non-negative number of seconds, got {latency!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        self._response = response
        self._has_response = True
        self._latency = latency
        self._times = times
        return self

    def matches(self, request: ChatRequest) -> bool:
        """Whether every condition of this rule holds for ``request`` (ignoring ``times``)."""
        if self._model is not None and not self._model.fullmatch(request.model):
            return False
        if self._schema is not None and request.schema_name != self._schema:
            return False
        if self._system is not None and not self._system.search(request.system):
            return False
        if self._user is not None and not self._user.search(request.user):
            return False
        if self._text is not None and not self._text.search(request.text):
            return False
        return self._predicate is None or bool(self._predicate(request))

    def answer(self, request: ChatRequest) -> Reply | None:
        """The reply to ``request`` if this rule matches and answers it, else ``None``.

        Raises:
            RuntimeError: If the rule matches but :meth:`reply` was never called.
        """
        if not self.matches(request):
            return None
        if not self._has_response:
            raise RuntimeError(f"{self!r} matched a request but has no reply; call .reply(...)")
        with self._lock:
            if self._times is not None and self.hits >= self._times:
                return None
            self.hits += 1
        response = self._response
        value = response(request) if callable(response) else response
        if value is None:
            with self._lock:
                self.hits -= 1
            return None
        reply = _as_reply(value)
        if reply.latency is None and self._latency is not None:
            reply = Reply(
                reply.content,
                usage=reply.usage,
                latency=self._latency,
                status=reply.status,
                finish_reason=reply.finish_reason,
                headers=reply.headers,
            )
        return reply

    def __repr__(self) -> str:
        conditions = [
            f"{name}={value.pattern!r}"
            for name, value in (
                ("system", self._system),
                ("user", self._user),
                ("text", self._text),
                ("model", self._model),
            )
            if value is not None
        ]
        if self._schema is not None:
            conditions.append(f"schema={self._schema!r}")
        if self._predicate is not None:
            conditions.append(f"predicate={getattr(self._predicate, '__name__', '<callable>')}")
        conditions.append(f"hits={self.hits}")
        return f"Rule({', '.join(conditions)})"


class ScriptedModel:
    """An ordered list of rules answering chat-completion requests deterministically.

    Args:
        default: What to answer when no rule matches: a fixed answer or a callable (returning
            ``None`` to use the built-in default, see :func:`default_content`).

    Example:
        >>> model = ScriptedModel()
        >>> _ = model.when(system=r"evaluator", schema="Verdict").reply({"passed": False})
        >>> _ = model.when(model=r"gpt-4o.*", user=r"\\bhello\\b").reply(lambda r: r.user.upper())
        >>> model(ChatRequest({"model": "gpt-4o-mini", "messages": [
        ...     {"role": "user", "content": "hello there"}]})).text
        'HELLO THERE'
    """

    def __init__(self, default: Responder | None = None) -> None:
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self.default = default

    def when(
        self,
        *,
        system: Pattern | None = None,
        user: Pattern | None = None,
        text: Pattern | None = None,
        model: Pattern | None = None,
        schema: str | None = None,
        predicate: Callable[[ChatRequest], bool] | None = None,
    ) -> Rule:
        """Add a rule at the end of the script; complete it with :meth:`Rule.reply`.

        Args:
            system: Regular expression searched in the system (and developer) messages.
            user: Regular expression searched in the last user message.
            text: Regular expression searched in the text of all messages.
            model: Regular expression that must match the whole model name.
            schema: The ``name`` of the requested JSON schema.
            predicate: Any test on the :class:`ChatRequest`.

        Returns:
            The new rule. With no condition, it matches every request.

        Example:
            >>> model = ScriptedModel()
            >>> model.when(user="ping").reply("pong")
            Rule(user='ping', hits=0)
        """
        rule = Rule(
            system=system, user=user, text=text, model=model, schema=schema, predicate=predicate
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules, in the order they are tried."""
        with self._lock:
            return tuple(self._rules)

    def clear(self) -> None:
        """Remove every rule (the default stays)."""
        with self._lock:
            self._rules.clear()

    def __call__(self, request: ChatRequest) -> Reply:
        """Answer ``request`` with the first rule that matches, else the default.

        Args:
            request: The request to answer.

        Returns:
            The reply to send.
        """
        for rule in self.rules:
            reply = rule.answer(request)
            if reply is not None:
                return reply
        default = self.default
        value = default(request) if callable(default) else default
        if value is None:
            return Reply(default_content(request))
        return _as_reply(value)

    def __repr__(self) -> str:
        return f"ScriptedModel(rules={list(self.rules)!r})"


def default_content(request: ChatRequest) -> str:
    """The built-in answer when no rule matches.

    Args:
        request: The request to answer.

    Returns:
        For a JSON schema, a deterministic instance of it (:func:`example_for_schema`); for JSON
        mode, ``"{}"``; otherwise ``"[scripted] "`` followed by the first 200 characters of the
        last user message.

    Example:
        >>> default_content(ChatRequest({"model": "m", "messages": [
        ...     {"role": "user", "content": "Tell me a joke"}]}))
        '[scripted] Tell me a joke'
    """
    kind = request.response_format_type
    if kind == "json_schema":
        schema = request.schema
        return json.dumps(example_for_schema(schema) if schema is not None else {})
    if kind == "json_object":
        return "{}"
    return f"{_ECHO_PREFIX} {request.user[:_ECHO_CHARS]}".rstrip()
