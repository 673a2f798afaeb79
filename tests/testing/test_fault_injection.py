"""Faults injected by LocalServer, observed through the openai SDK, and their determinism."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from afnio.testing import FAULT_KINDS, Faults, LocalServer
from afnio.testing.faults import JSON_FAULT_KINDS

ANSWER_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "Answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
            "required": ["answer", "confidence"],
            "additionalProperties": False,
        },
    },
}
VALID_ANSWER = {"answer": "[scripted] answer", "confidence": 0}


def messages(text: str = "What is the answer?") -> Any:
    return [{"role": "user", "content": text}]


def sdk(server: LocalServer, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, **options)


@pytest.fixture
def always(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A server where every attempt fails with the fault named by the test's parameter."""
    faults = Faults(rate=1.0, kinds=(request.param,), timeout_seconds=5.0)
    with LocalServer(faults=faults) as server:
        yield server


# -- each kind, through the SDK --------------------------------------------------------------------


@pytest.mark.parametrize("always", ["429"], indirect=True)
def test_429_is_a_rate_limit_error_with_retry_after(always: LocalServer) -> None:
    with sdk(always) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=messages())
    headers = caught.value.response.headers
    assert headers["retry-after"] == "0.05"
    assert headers["retry-after-ms"] == "50"
    assert caught.value.code == "rate_limit_exceeded"
    assert always.requests[-1].fault == "429"
    assert always.requests[-1].status == 429


@pytest.mark.parametrize(("always", "status"), [("500", 500), ("503", 503)], indirect=["always"])
def test_5xx_is_an_internal_server_error(always: LocalServer, status: int) -> None:
    with sdk(always) as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=messages())
    assert caught.value.status_code == status
    assert caught.value.type == "server_error"


@pytest.mark.parametrize("always", ["timeout"], indirect=True)
def test_timeout_holds_the_connection_past_the_client_timeout(always: LocalServer) -> None:
    with sdk(always, timeout=0.25) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=messages())
    record = always.requests[-1]
    assert record.fault == "timeout"
    assert record.status is None


@pytest.mark.parametrize("always", ["disconnect"], indirect=True)
def test_disconnect_is_a_connection_error(always: LocalServer) -> None:
    with sdk(always) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=messages())
    assert always.requests[-1].fault == "disconnect"


@pytest.mark.parametrize("always", ["malformed_json"], indirect=True)
def test_malformed_json_is_200_with_content_that_is_not_json(always: LocalServer) -> None:
    with sdk(always) as client:
        completion = client.chat.completions.create(
            model="m", messages=messages(), response_format=ANSWER_FORMAT
        )
    content = completion.choices[0].message.content or ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    assert always.requests[-1].fault == "malformed_json"
    assert always.requests[-1].content == content


@pytest.mark.parametrize("always", ["truncated_json"], indirect=True)
def test_truncated_json_is_the_valid_answer_cut_short(always: LocalServer) -> None:
    with sdk(always) as client:
        completion = client.chat.completions.create(
            model="m", messages=messages(), response_format=ANSWER_FORMAT
        )
    content = completion.choices[0].message.content or ""
    valid = json.dumps(VALID_ANSWER)
    assert content and valid.startswith(content) and len(content) <= len(valid) // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)
    assert completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("always", sorted(JSON_FAULT_KINDS), indirect=True)
def test_json_faults_spare_requests_without_json_output(always: LocalServer) -> None:
    with sdk(always) as client:
        completion = client.chat.completions.create(model="m", messages=messages("plain"))
    assert completion.choices[0].message.content == "[scripted] plain"
    assert always.requests[-1].fault is None


def test_models_endpoint_is_never_faulted() -> None:
    with LocalServer(faults=Faults(rate=1.0, kinds=("500",))) as server, sdk(server) as client:
        assert client.models.list().data


# -- explicit injection ----------------------------------------------------------------------------


def test_inject_fails_the_next_requests_then_recovers(local_server: LocalServer) -> None:
    local_server.inject("429", times=2)
    local_server.inject("500")
    outcomes: list[str] = []
    with sdk(local_server) as client:
        for _ in range(4):
            try:
                client.chat.completions.create(model="m", messages=messages())
                outcomes.append("ok")
            except openai.APIStatusError as error:
                outcomes.append(str(error.status_code))
    assert outcomes == ["429", "429", "500", "ok"]
    assert [record.fault for record in local_server.requests] == ["429", "429", "500", None]
    assert [record.attempt for record in local_server.requests] == [0, 1, 2, 3]


def test_injected_json_faults_apply_to_any_request(local_server: LocalServer) -> None:
    local_server.inject("malformed_json")
    with sdk(local_server) as client:
        completion = client.chat.completions.create(model="m", messages=messages("plain"))
    assert completion.choices[0].message.content != "[scripted] plain"
    assert local_server.requests[-1].fault == "malformed_json"


def test_sdk_retries_honour_retry_after(local_server: LocalServer) -> None:
    local_server.inject("429", times=2)
    with sdk(local_server, max_retries=2) as client:
        completion = client.chat.completions.create(model="m", messages=messages())
    assert completion.choices[0].message.content == "[scripted] What is the answer?"
    assert [record.headers["x-stainless-retry-count"] for record in local_server.requests] == [
        "0",
        "1",
        "2",
    ]


def test_reset_drops_pending_injections(local_server: LocalServer) -> None:
    local_server.inject("500", times=3)
    local_server.reset()
    with sdk(local_server) as client:
        assert client.chat.completions.create(model="m", messages=messages()).choices


def test_inject_validates_its_arguments(local_server: LocalServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        local_server.inject("teapot")
    with pytest.raises(ValueError, match="times"):
        local_server.inject("429", times=0)


# -- determinism -----------------------------------------------------------------------------------


def fate_sequences(order: list[str], faults: Faults) -> dict[str, list[str | None]]:
    """Send each text of ``order`` once, in that order; return each text's faults by attempt."""
    with LocalServer(faults=faults) as server, sdk(server) as client:
        for text in order:
            try:
                client.chat.completions.create(
                    model="m", messages=messages(text), response_format=ANSWER_FORMAT
                )
            except openai.APIStatusError:
                pass
        fates: dict[str, list[str | None]] = {}
        for record in sorted(server.requests, key=lambda r: r.attempt):
            fates.setdefault(record.messages[0]["content"], []).append(record.fault)
    return fates


def test_fates_do_not_depend_on_arrival_order() -> None:
    faults = Faults(rate=0.5, kinds=("429", "500", "malformed_json", "truncated_json"), seed=7)
    texts = [f"question {i}" for i in range(6)]
    grouped = [text for text in texts for _ in range(3)]  # q0 q0 q0 q1 q1 q1 ...
    interleaved = [text for _ in range(3) for text in reversed(texts)]  # q5 q4 ... q0 q5 ...

    first = fate_sequences(grouped, faults)
    second = fate_sequences(interleaved, faults)

    assert first == second
    fates = [fate for sequence in first.values() for fate in sequence]
    assert None in fates and len(set(fates)) > 2  # the seed gives a real mix of fates
    assert fate_sequences(grouped, Faults(rate=0.5, kinds=faults.kinds, seed=8)) != first


def test_retries_of_each_request_eventually_succeed() -> None:
    faults = Faults(rate=0.6, kinds=("429",), retry_after=0.001)
    with LocalServer(faults=faults) as server, sdk(server, max_retries=30) as client:
        for i in range(10):
            client.chat.completions.create(model="m", messages=messages(f"q{i}"))
        failed = [record for record in server.requests if record.fault]
    assert failed  # the rate makes some attempts fail, and the SDK retried them


def test_max_per_request_bounds_the_failures_of_one_request() -> None:
    faults = Faults(rate=1.0, kinds=("429",), retry_after=0.001, max_per_request=2)
    with LocalServer(faults=faults) as server, sdk(server, max_retries=2) as client:
        client.chat.completions.create(model="m", messages=messages())
        assert [record.fault for record in server.requests] == ["429", "429", None]


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    key=st.text(max_size=20),
    rate=st.floats(min_value=0.0, max_value=1.0),
    wants_json=st.booleans(),
)
def test_choose_is_a_pure_function(seed: int, key: str, rate: float, wants_json: bool) -> None:
    one = Faults(rate=rate, kinds=FAULT_KINDS, seed=seed)
    other = Faults(rate=rate, kinds=FAULT_KINDS, seed=seed)
    fates = [one.choose(key, attempt, wants_json=wants_json) for attempt in range(5)]
    assert fates == [other.choose(key, attempt, wants_json=wants_json) for attempt in range(5)]
    assert all(fate is None or fate in FAULT_KINDS for fate in fates)
    if not wants_json:
        assert not JSON_FAULT_KINDS.intersection(f for f in fates if f)
    if rate == 0.0:
        assert fates == [None] * 5


def test_rate_is_the_fraction_of_failed_attempts() -> None:
    faults = Faults(rate=0.3, kinds=("500",), seed=1)
    failed = sum(
        faults.choose(f"request {i}", 0, wants_json=False) is not None for i in range(4000)
    )
    assert 0.27 < failed / 4000 < 0.33


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 1.5}, "between 0 and 1"),
        ({"kinds": ("418",)}, "unknown fault kind"),
        ({"retry_after": -1.0}, "retry_after"),
        ({"timeout_seconds": -1.0}, "timeout_seconds"),
        ({"max_per_request": -1}, "max_per_request"),
    ],
)
def test_faults_validate_their_arguments(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults(**options)


# -- servers that answer 200 without answering, or never answer ------------------------------------


@pytest.mark.parametrize("always", ["html"], indirect=True)
def test_html_is_a_200_page_the_sdk_hands_back_as_text(always: LocalServer) -> None:
    with sdk(always) as client:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=messages())
        assert raw.http_response.status_code == 200
        assert raw.headers["content-type"].startswith("text/html")
        assert raw.http_response.text.startswith("<!DOCTYPE html>")
        assert isinstance(raw.parse(), str)
    assert always.requests[-1].fault == "html" and always.requests[-1].status == 200


@pytest.mark.parametrize("always", ["truncated_body"], indirect=True)
def test_truncated_body_is_json_cut_in_half(always: LocalServer) -> None:
    with sdk(always) as client, pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=messages())
    assert always.requests[-1].fault == "truncated_body" and always.requests[-1].status == 200


@pytest.mark.parametrize("always", ["hang"], indirect=True)
def test_hang_never_answers_whatever_timeout_seconds_says(always: LocalServer) -> None:
    always.faults = Faults(rate=1.0, kinds=("hang",), timeout_seconds=0.0)
    with sdk(always, timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=messages())
    record = always.requests[-1]
    assert record.fault == "hang" and record.status is None


def test_a_checked_api_key_is_refused_as_openai_does() -> None:
    with LocalServer(check_api_key=True) as server:
        wrong = openai.OpenAI(base_url=server.base_url, api_key="sk-not-the-key", max_retries=0)
        with wrong, pytest.raises(openai.AuthenticationError) as caught:
            wrong.chat.completions.create(model="m", messages=messages())
        assert caught.value.code == "invalid_api_key"
        assert "sk-not-the-key" not in str(caught.value)
        with sdk(server) as right:
            assert right.chat.completions.create(model="m", messages=messages()).choices


def test_known_models_only_refuses_other_model_names() -> None:
    with LocalServer(known_models_only=True, models=("llama3.2",)) as server, sdk(server) as c:
        with pytest.raises(openai.NotFoundError) as caught:
            c.chat.completions.create(model="gpt-4o", messages=messages())
        assert caught.value.code == "model_not_found"
        assert c.chat.completions.create(model="llama3.2", messages=messages()).choices
