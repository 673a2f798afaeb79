"""afnio 0.3.7's module path of the evaluators, now in :mod:`afnio.lm.evaluators`."""

from afnio.lm.evaluators import (
    DeterministicEvaluator,
    EvaluationSample,
    ExactMatchEvaluator,
    LMJudgeEvaluator,
    evaluation_samples,
)

__all__ = [
    "DeterministicEvaluator",
    "EvaluationSample",
    "ExactMatchEvaluator",
    "LMJudgeEvaluator",
    "evaluation_samples",
]
