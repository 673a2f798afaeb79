"""Building blocks for agents: Parameters, Modules and the functional API."""

from afnio.cognitive import functional
from afnio.cognitive.functional import add, split, sum
from afnio.cognitive.parameter import Parameter

__all__ = ["Parameter", "add", "functional", "split", "sum"]

assert __all__ == sorted(__all__)
