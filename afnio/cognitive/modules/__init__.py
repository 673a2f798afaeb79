"""The :class:`Module` base class and the op modules."""

from afnio.cognitive.modules.add import Add
from afnio.cognitive.modules.chat_completion import ChatCompletion
from afnio.cognitive.modules.deterministic_evaluator import DeterministicEvaluator
from afnio.cognitive.modules.exact_match_evaluator import ExactMatchEvaluator
from afnio.cognitive.modules.lm_judge_evaluator import LMJudgeEvaluator
from afnio.cognitive.modules.module import Module
from afnio.cognitive.modules.split import Split
from afnio.cognitive.modules.sum import Sum

__all__ = [
    "Add",
    "ChatCompletion",
    "DeterministicEvaluator",
    "ExactMatchEvaluator",
    "LMJudgeEvaluator",
    "Module",
    "Split",
    "Sum",
]
