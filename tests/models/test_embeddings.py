"""Embeddings: OpenAI / AsyncOpenAI embed and aembed through the SDK's embeddings endpoint, and
the local server's deterministic /v1/embeddings."""

import asyncio
import math
import warnings

import openai
import pytest

from afnio.models import AsyncOpenAI, EmbeddingModel, ModelCallError, OpenAI
from afnio.testing import Faults, LocalServer, ScriptedModel
from afnio.testing.embeddings import embed_text


@pytest.fixture
def server():
    with LocalServer(ScriptedModel()) as server:
        yield server


@pytest.mark.parametrize("cls", [OpenAI, AsyncOpenAI])
def test_embed_returns_one_deterministic_vector_per_text(server, cls):
    client = cls(base_url=server.base_url, api_key=server.api_key)
    assert isinstance(client, EmbeddingModel)
    vectors = client.embed(["cat", "dog", "cat"], model="text-embedding-3-small")
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[1] == pytest.approx(embed_text("dog"))
    assert client.embed("dog", model="text-embedding-3-small", dimensions=5)[0] == (
        pytest.approx(embed_text("dog", 5))
    )
    client.close()


def test_aembed_records_usage_and_cost_like_chat_calls(server):
    client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
    texts = ["a" * 40, "b" * 8]  # 10 + 2 tokens on the local server

    vectors = asyncio.run(client.aembed(texts, model="text-embedding-3-small"))
    assert len(vectors) == 2
    usage = client.get_usage()
    assert usage["prompt_tokens"] == 12 and usage["total_tokens"] == 12
    assert usage["cost"]["amount"] == pytest.approx(12 * 0.02 / 1e6)
    (record,) = client.calls
    assert record.model == "text-embedding-3-small" and record.error is None
    assert record.completion_args["input"] == texts and record.parsed == vectors
    assert record.usage["prompt_tokens"] == 12 and record.cost == pytest.approx(12 * 0.02 / 1e6)
    assert server.requests[-1].path == "/v1/embeddings"
    client.close()


def test_embed_errors_name_the_problem(server):
    client = OpenAI(base_url=server.base_url, api_key=server.api_key)
    with pytest.raises(TypeError, match="`input` must be a str or a non-empty list of str"):
        client.embed([], model="text-embedding-3-small")
    with pytest.raises(ModelCallError, match="HTTP 400 is not retried") as info:
        client.embed("x", model="text-embedding-3-small", dimensions=0)
    assert "dimensions" in str(info.value)
    assert client.calls[-1].error is not None
    client.close()


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_the_local_server_answers_the_sdk(server, encoding_format):
    sdk = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    response = sdk.embeddings.create(
        input=["hello", "world"], model="text-embedding-3-small", encoding_format=encoding_format
    )
    if encoding_format == "float":
        assert [d.embedding for d in response.data] == [embed_text("hello"), embed_text("world")]
    assert response.usage.prompt_tokens == 4 and response.model == "text-embedding-3-small"
    with pytest.raises(openai.BadRequestError, match="input"):
        sdk.embeddings.create(input=[], model="text-embedding-3-small")
    sdk.close()


# -- servers that fail: embeddings go through the same retries and checks as chat calls ------------


@pytest.mark.parametrize("kind", ["429", "500", "503", "html", "truncated_body", "disconnect"])
def test_a_failed_embedding_attempt_is_retried(kind):
    with LocalServer(faults=Faults(rate=1.0, kinds=(kind,), max_per_request=1)) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=2)
        vectors = client.embed(["cat", "dog"], model="text-embedding-3-small")
        assert vectors == [pytest.approx(embed_text("cat")), pytest.approx(embed_text("dog"))]
        assert [r.fault for r in server.requests] == [kind, None]
        assert {r.path for r in server.requests} == {"/v1/embeddings"}
        assert client.calls[-1].retries == 1 and client.calls[-1].error is None
        client.close()


def test_an_html_page_instead_of_embeddings_is_named_not_crashed_on():
    with LocalServer(faults=Faults(rate=1.0, kinds=("html",))) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=1)
        with pytest.raises(ModelCallError) as info:
            client.embed("cat", model="text-embedding-3-small")
        message = str(info.value)
        assert "gave up after 2 attempts" in message
        assert "not an embeddings list: '<!DOCTYPE html>" in message
        assert server.base_url in message
        client.close()


def test_a_hung_embeddings_server_times_out_per_attempt():
    with LocalServer(faults=Faults(rate=1.0, kinds=("hang",))) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
        with pytest.raises(ModelCallError, match="did not answer within the 0.3 s"):
            client.embed("cat", model="text-embedding-3-small", timeout=0.3)
        assert server.requests[-1].fault == "hang" and server.requests[-1].status is None
        client.close()


def test_embeddings_wait_for_the_servers_latency_and_know_its_models():
    with LocalServer(latency=0.2, known_models_only=True) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)
        client.embed("cat", model=server.models[0])
        assert server.requests[-1].latency == 0.2 and client.calls[-1].latency >= 0.2
        with pytest.raises(ModelCallError, match="does not serve this model"):
            client.embed("cat", model="no-such-embedder")
        client.close()


def test_embed_sends_floats_unless_asked_and_decodes_base64(server):
    client = OpenAI(base_url=server.base_url, api_key=server.api_key)
    floats = client.embed(["cat"], model="text-embedding-3-small")
    assert server.requests[-1].body["encoding_format"] == "float"
    decoded = client.embed(["cat"], model="text-embedding-3-small", encoding_format="base64")
    assert server.requests[-1].body["encoding_format"] == "base64"
    assert decoded == [pytest.approx(v, rel=1e-6) for v in floats]
    assert client.calls[-1].completion_args["encoding_format"] == "base64"
    client.close()


@pytest.mark.parametrize("blocking", [True, False], ids=["embed", "aembed"])
def test_an_unpriced_embedding_model_warns_at_the_callers_line(server, blocking):
    client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if blocking:
            client.embed("cat", model="my-local-embedder")
        else:
            asyncio.run(client.aembed("cat", model="my-local-embedder"))
    (warning,) = [w for w in caught if "cost" in str(w.message).lower()]
    assert str(warning.message).startswith(f"Cost is not computed for {server.base_url}")
    assert warning.filename == __file__
    assert client.calls[-1].cost is None
    client.close()
