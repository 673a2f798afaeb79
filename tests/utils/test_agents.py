"""afnio.utils.agents.SentimentAnalyzer, as afnio 0.3.7 shipped it."""

import json

import afnio
from afnio.models import AsyncOpenAI
from afnio.testing.pytest_plugin import local_server  # noqa: F401
from afnio.utils.agents import SENTIMENT_RESPONSE_FORMAT, SentimentAnalyzer


def test_sentiment_analyzer_members():
    agent = SentimentAnalyzer()
    assert agent.sentiment_task.data == "Read the provided message and determine the sentiment."
    assert agent.sentiment_task.role == "system prompt for sentiment classification"
    assert agent.sentiment_task.requires_grad
    assert agent.sentiment_user.data == "**Message:**\n\n{message}\n\n"
    assert agent.sentiment_user.role == "input template to sentiment classifier"
    assert [name for name, _ in agent.named_parameters()] == ["sentiment_task"]


def test_sentiment_analyzer_asks_for_structured_sentiment(local_server):  # noqa: F811
    local_server.script.when(user="broke").reply('{"sentiment": "negative"}')
    local_server.script.when(user="love").reply('{"sentiment": "positive"}')
    model = AsyncOpenAI(base_url=local_server.base_url, api_key=local_server.api_key)
    agent = SentimentAnalyzer()
    messages = afnio.Variable(["It broke on day one.", "I love it."], role="reviews")
    out = agent(model, inputs={"message": messages}, model="gpt-4o-mini")
    assert [json.loads(x)["sentiment"] for x in out.data] == ["negative", "positive"]
    requests = sorted(local_server.requests, key=lambda r: r.messages[1]["content"])
    assert [r.messages[1]["content"] for r in requests] == [
        "**Message:**\n\nI love it.\n\n",
        "**Message:**\n\nIt broke on day one.\n\n",
    ]
    for request in requests:
        assert request.response_format == SENTIMENT_RESPONSE_FORMAT
        assert request.messages[0] == {
            "role": "system",
            "content": "Read the provided message and determine the sentiment.",
        }
    assert out.grad_fn.name() == "ChatCompletionBackward0"
