"""``SentimentAnalyzer``: the small example agent afnio 0.3.7 shipped."""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable
from afnio.cognitive.modules.chat_completion import ChatCompletion
from afnio.cognitive.modules.module import Module
from afnio.cognitive.parameter import Parameter
from afnio.models.model import ChatCompletionModel

__all__ = ["SENTIMENT_RESPONSE_FORMAT", "SentimentAnalyzer"]

SENTIMENT_RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "strict": True,
        "name": "sentiment_response_schema",
        "schema": {
            "type": "object",
            "properties": {
                "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            },
            "additionalProperties": False,
            "required": ["sentiment"],
        },
    },
}
"""The structured output the analyzer asks for: ``{"sentiment": "positive" | "neutral" |
"negative"}``."""


class SentimentAnalyzer(Module):
    """Classifies the sentiment of a message as positive, neutral or negative.

    A trainable system prompt (Parameter ``sentiment_task``), a user-message template
    (``sentiment_user``, with a ``{message}`` placeholder) and a :class:`ChatCompletion` asked
    for JSON ``{"sentiment": ...}`` (:data:`SENTIMENT_RESPONSE_FORMAT`).

    Example:
        >>> import afnio
        >>> from afnio.models import AsyncOpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> from afnio.utils.agents import SentimentAnalyzer
        >>> script = ScriptedModel()
        >>> _ = script.when(user="delighted").reply('{"sentiment": "positive"}')
        >>> with LocalServer(script) as server:
        ...     model = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     agent = SentimentAnalyzer()
        ...     out = agent(model, inputs={"message": "I am delighted with it!"},
        ...                 model="gpt-4o-mini")
        >>> out.data
        '{"sentiment": "positive"}'
        >>> agent.sentiment_task.requires_grad
        True
    """

    def __init__(self) -> None:
        super().__init__()
        self.sentiment_task = Parameter(
            data="Read the provided message and determine the sentiment.",
            role="system prompt for sentiment classification",
            requires_grad=True,
        )
        self.sentiment_user = Variable(
            data="**Message:**\n\n{message}\n\n",
            role="input template to sentiment classifier",
        )
        self.sentiment_classifier = ChatCompletion()

    def forward(
        self,
        fwd_model: ChatCompletionModel,
        inputs: dict[str, Any] | None = None,
        **completion_args: Any,
    ) -> Variable:
        """Asks ``fwd_model`` for the sentiment of ``inputs["message"]`` (a str, a Variable,
        or a list of them for a batch).

        Args:
            fwd_model: The chat model client.
            inputs: The template's values: ``{"message": ...}``.
            **completion_args: Passed to the model (``model`` is required); a
                ``response_format`` given here replaces the analyzer's.

        Returns:
            The reply: JSON text ``{"sentiment": ...}`` (a list of them for a batch).
        """
        messages = [
            {"role": "system", "content": [self.sentiment_task]},
            {"role": "user", "content": [self.sentiment_user]},
        ]
        completion_args.setdefault("response_format", SENTIMENT_RESPONSE_FORMAT)
        result: Variable = self.sentiment_classifier(
            fwd_model, messages, inputs=inputs, **completion_args
        )
        return result
