"""The :class:`ChatCompletion` op module."""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module
from afnio.models.model import BaseModel

__all__ = ["ChatCompletion"]


class ChatCompletion(Module):
    """Calls a chat model on messages built from Variables (see
    :func:`afnio.cognitive.functional.chat_completion`).

    The client, the messages and the completion arguments of the last call are kept as members
    (model ``forward_model_client``, chat ``messages``, completion config ``completion_args``),
    so they appear in ``state_dict()`` once the module has run. Before that they are ``None``,
    which ``load_state_dict`` treats as optional.

    Example:
        >>> import afnio.cognitive as cog
        >>> chat = cog.ChatCompletion()
        >>> chat.messages is None, list(chat.state_dict())
        (True, [])
    """

    forward_model_client: BaseModel | None
    messages: list[dict[str, Any]] | None
    completion_args: dict[str, Any] | None

    def __init__(self) -> None:
        super().__init__()
        self.register_model("forward_model_client", None)
        self.register_chat("messages", None)
        self.register_completion_config("completion_args", None)

    def forward(
        self,
        forward_model_client: BaseModel | None,
        messages: list[dict[str, Any]],
        inputs: dict[str, Any] | None = None,
        **completion_args: Any,
    ) -> Variable:
        """Returns the model's reply to ``messages`` with ``{placeholders}`` filled from
        ``inputs`` (a list of replies for batched inputs)."""
        self.forward_model_client = forward_model_client
        self.messages = messages
        self.completion_args = completion_args
        return F.chat_completion(forward_model_client, messages, inputs, **completion_args)
