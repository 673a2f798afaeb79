"""The model client classes that ``load_state_dict`` can match against a saved ``class_type``."""

from __future__ import annotations

from afnio.models.model import BaseModel
from afnio.models.openai import AsyncOpenAI, OpenAI

__all__ = ["MODEL_REGISTRY"]

MODEL_REGISTRY: dict[str, type[BaseModel]] = {"AsyncOpenAI": AsyncOpenAI, "OpenAI": OpenAI}
"""Maps a saved ``class_type`` (see ``BaseModel.__deepcopy__``) to its class."""
