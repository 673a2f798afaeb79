"""afnio: PyTorch-style automatic differentiation whose gradients are text.

Build pipelines from :class:`Variable` objects and operations, score the result, call
``backward()``, and a language model writes feedback that flows back to every prompt that needs
it; an optimizer then rewrites those prompts. Everything runs locally, against any
OpenAI-compatible endpoint.
"""

from importlib.metadata import PackageNotFoundError, version

from afnio import autodiff, cognitive, optim, utils
from afnio._model_client import get_backward_model_client, set_backward_model_client
from afnio._utils import MultiTurnMessages
from afnio._utils import validate_multi_turn_messages as _validate_multi_turn_messages
from afnio._utils import validate_typed_sequence as _validate_typed_sequence
from afnio._variable import JAGGED, Variable, is_scalar_variable, is_variable
from afnio.autodiff.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from afnio.autodiff.graph import GradientEdge, Node
from afnio.cognitive import functional
from afnio.serialization import load, save

try:
    __version__ = version("afnio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "unknown"

__all__ = [
    "JAGGED",
    "GradientEdge",
    "MultiTurnMessages",
    "Node",
    "Variable",
    "_validate_multi_turn_messages",
    "_validate_typed_sequence",
    "autodiff",
    "cognitive",
    "enable_grad",
    "functional",
    "get_backward_model_client",
    "is_grad_enabled",
    "is_scalar_variable",
    "is_variable",
    "load",
    "no_grad",
    "optim",
    "save",
    "set_backward_model_client",
    "set_grad_enabled",
    "utils",
]
