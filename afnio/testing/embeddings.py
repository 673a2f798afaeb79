"""Deterministic embeddings for the local server's ``POST /v1/embeddings``.

Each text gets a unit vector derived from the SHA-256 of the text (and of the vector's
dimension), so the same text always has the same embedding, different texts almost surely
different ones, and no model is needed. Vectors are sent as JSON floats or, as the ``openai``
SDK asks by default, as base64 little-endian float32.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from afnio.testing.script import estimate_tokens

__all__ = ["DEFAULT_DIMENSIONS", "EmbeddingRequestError", "embed_text", "embeddings_response"]

DEFAULT_DIMENSIONS = 16
"""The length of a vector when the request does not ask for ``dimensions``."""

_MAX_DIMENSIONS = 4096


class EmbeddingRequestError(ValueError):
    """An invalid embeddings request; ``param`` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def embed_text(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector of ``text``: deterministic, different for different texts.

    Example:
        >>> v = embed_text("hello", 4)
        >>> len(v), round(sum(x * x for x in v), 6), v == embed_text("hello", 4)
        (4, 1.0, True)
    """
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{dimensions}:{counter}:{text}".encode()).digest()
        for i in range(0, len(digest), 4):
            (n,) = struct.unpack("<I", digest[i : i + 4])
            values.append(n / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(x * x for x in values)) or 1.0
    # Rounded to float32 so that the JSON and base64 encodings carry the same numbers.
    return [struct.unpack("<f", struct.pack("<f", x / norm))[0] for x in values]


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise EmbeddingRequestError(
        "'input' must be a string or a non-empty array of strings (token arrays are not "
        "supported by the local test server).",
        "input",
    )


def embeddings_response(body: Any) -> dict[str, Any]:
    """The response to an embeddings request ``body`` (a parsed JSON object).

    Raises:
        EmbeddingRequestError: If ``model`` or ``input`` is missing or invalid, or
            ``dimensions`` / ``encoding_format`` has an unsupported value.
    """
    if not isinstance(body, dict):
        raise EmbeddingRequestError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EmbeddingRequestError("you must provide a model parameter", "model")
    if "input" not in body:
        raise EmbeddingRequestError("'input' is a required property", "input")
    texts = _texts(body["input"])
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 1 <= dimensions <= _MAX_DIMENSIONS
    ):
        raise EmbeddingRequestError(
            f"'dimensions' must be an integer from 1 to {_MAX_DIMENSIONS}, got {dimensions!r}.",
            "dimensions",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise EmbeddingRequestError(
            f"'encoding_format' must be 'float' or 'base64', got {encoding!r}.",
            "encoding_format",
        )
    data = []
    for index, text in enumerate(texts):
        vector = embed_text(text, dimensions)
        embedding: Any = vector
        if encoding == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(estimate_tokens(text) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
