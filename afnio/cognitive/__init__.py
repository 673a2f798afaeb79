"""Building blocks for agents: Parameters, Modules, op modules and the functional API."""

from afnio.cognitive import functional
from afnio.cognitive.functional import add, split, sum
from afnio.cognitive.modules import (
    Add,
    ChatCompletion,
    DeterministicEvaluator,
    ExactMatchEvaluator,
    LMJudgeEvaluator,
    Module,
    Split,
    Sum,
)
from afnio.cognitive.parameter import Parameter

__all__ = [
    "Add",
    "ChatCompletion",
    "DeterministicEvaluator",
    "ExactMatchEvaluator",
    "LMJudgeEvaluator",
    "Module",
    "Parameter",
    "Split",
    "Sum",
    "add",
    "functional",
    "split",
    "sum",
]

assert __all__ == sorted(__all__)
