"""Model clients: the model protocol, OpenAI-compatible clients, prices, retries and caching.

Example:
    >>> from afnio.models import AsyncOpenAI, ModelCall, ResponseCache
    >>> AsyncOpenAI.__mro__[1].__name__
    '_OpenAIClient'
"""

from afnio.models._replies import caller_parses_replies
from afnio.models.cache import ResponseCache
from afnio.models.model import (
    INITIAL_COST,
    BaseModel,
    ChatCompletionModel,
    EmbeddingModel,
    TextCompletionModel,
)
from afnio.models.model_registry import MODEL_REGISTRY
from afnio.models.openai import INITIAL_USAGE, AsyncOpenAI, OpenAI
from afnio.models.records import ModelCall, ModelCallError

__all__ = [
    "INITIAL_COST",
    "INITIAL_USAGE",
    "MODEL_REGISTRY",
    "AsyncOpenAI",
    "BaseModel",
    "ChatCompletionModel",
    "EmbeddingModel",
    "ModelCall",
    "ModelCallError",
    "OpenAI",
    "ResponseCache",
    "TextCompletionModel",
    "caller_parses_replies",
]
