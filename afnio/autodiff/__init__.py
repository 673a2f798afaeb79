"""Automatic differentiation with textual gradients: grad mode, the graph and the engine."""

from afnio.autodiff.engine import backward
from afnio.autodiff.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["backward", "enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]
