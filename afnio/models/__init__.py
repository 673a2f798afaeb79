"""Model clients: the model protocol, OpenAI-compatible clients, prices, retries and caching."""

from afnio.models.model import (
    INITIAL_COST,
    BaseModel,
    ChatCompletionModel,
    EmbeddingModel,
    TextCompletionModel,
)

__all__ = [
    "BaseModel",
    "ChatCompletionModel",
    "EmbeddingModel",
    "INITIAL_COST",
    "TextCompletionModel",
]

assert __all__ == sorted(__all__)
