"""Embeddings: OpenAI / AsyncOpenAI embed and aembed through the SDK's embeddings endpoint, and
the local server's deterministic /v1/embeddings."""

import asyncio
import math

import openai
import pytest

from afnio.models import AsyncOpenAI, EmbeddingModel, ModelCallError, OpenAI
from afnio.testing import LocalServer, ScriptedModel
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
