"""afnio 0.3.7's module path of :class:`ChatCompletion`, now in :mod:`afnio.lm.chat_completion`."""

from afnio.lm.chat_completion import CHAT_RESPONSE_ROLE, ChatCompletion, split_sample_feedback

__all__ = ["CHAT_RESPONSE_ROLE", "ChatCompletion", "split_sample_feedback"]
