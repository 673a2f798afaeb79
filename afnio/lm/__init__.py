"""Language-model operations: chat completion, evaluators, and their backward passes.

These are :class:`~afnio.autodiff.function.Function` subclasses like any other; the engine in
:mod:`afnio.autodiff` knows nothing about language models. Modules:

* :mod:`afnio.lm.chat_completion`: :class:`ChatCompletion`, differentiable chat-model calls;
* :mod:`afnio.lm.evaluators`: deterministic, exact-match and LM-judge evaluators;
* :mod:`afnio.lm.templates`: prompt templates, their inputs and batches;
* :mod:`afnio.lm.feedback`: how backward-model feedback becomes one gradient per Variable;
* :mod:`afnio.lm.structured`: model calls whose reply must parse, with repair retries.

``afnio.autodiff.lm_ops`` and ``afnio.autodiff.evaluator`` (the module paths of afnio 0.3.7)
re-export the public names.
"""

from afnio.lm.chat_completion import CHAT_RESPONSE_ROLE, ChatCompletion, split_sample_feedback
from afnio.lm.evaluators import (
    DeterministicEvaluator,
    EvaluationSample,
    ExactMatchEvaluator,
    LMJudgeEvaluator,
    evaluation_samples,
)
from afnio.lm.templates import fill_template

__all__ = [
    "CHAT_RESPONSE_ROLE",
    "ChatCompletion",
    "DeterministicEvaluator",
    "EvaluationSample",
    "ExactMatchEvaluator",
    "LMJudgeEvaluator",
    "evaluation_samples",
    "fill_template",
    "split_sample_feedback",
]
