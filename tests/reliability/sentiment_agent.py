"""The end-to-end agent of the reliability tests: a review-sentiment classifier trained by TGD.

The agent is a Module with one Parameter (its system prompt), a ChatCompletion and an exact-match
evaluator. The scripted models are deterministic functions of the *first* messages of a request
(never of the retry turns a client may append), so a run with faults and retries must end
exactly where a fault-free run ends:

* the forward model labels ironic reviews wrongly unless the system prompt says :data:`IRONY`,
  and negated complaints unless it says :data:`NEGATION`;
* the backward model asks for the missing instruction whenever a prediction was wrong;
* the optimizer model adds to the prompt what the feedback asks for.

Run as a script (``python sentiment_agent.py --root DIR --base-url URL``), it trains the agent
with checkpoints, for the crash tests that kill it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

import afnio
import afnio.cognitive as cog
from afnio import Variable
from afnio.models.openai import AsyncOpenAI
from afnio.optim import TGD
from afnio.testing import ChatRequest, ScriptedModel
from afnio.trainer import Callback, Trainer
from afnio.utils.data import DataLoader

MODEL = "gpt-4o-mini"
INITIAL_PROMPT = "Label the sentiment of the review as positive or negative; answer with one word."
IRONY = "Ironic praise is negative."
NEGATION = "A negated complaint is positive."

TRAIN = [
    ("The battery lasts all day, great buy.", "positive"),
    ("Oh perfect, it broke after one day.", "negative"),
    ("Terrible support, never again.", "negative"),
    ("Not bad at all for the price.", "positive"),
    ("Comfortable and quiet.", "positive"),
    ("Love waiting three weeks for a refund, truly.", "negative"),
    ("Works exactly as described.", "positive"),
    ("I can't complain about the sound.", "positive"),
    ("The strap snapped within a week.", "negative"),
    ("Brilliant, the screen cracked in the box.", "negative"),
    ("Slow, noisy and overpriced.", "negative"),
    ("Never had a problem with it.", "positive"),
]
VAL = [
    ("Fantastic, another update that deletes my files.", "negative"),
    ("Sturdy, light and cheap.", "positive"),
    ("Not disappointed in the slightest.", "positive"),
    ("Awful smell from the first day.", "negative"),
]
LABELS = dict(TRAIN + VAL)
IRONIC = {
    "Oh perfect, it broke after one day.",
    "Love waiting three weeks for a refund, truly.",
    "Brilliant, the screen cracked in the box.",
    "Fantastic, another update that deletes my files.",
}
NEGATED = {
    "Not bad at all for the price.",
    "I can't complain about the sound.",
    "Never had a problem with it.",
    "Not disappointed in the slightest.",
}
# What the backward model asks for, and the instruction the optimizer writes for it.
FIXES = {
    "ironic": ("The system prompt should say that ironic praise is negative.", IRONY),
    "negated": ("The system prompt should say that a negated complaint is positive.", NEGATION),
}


# -- the scripted models -----------------------------------------------------------------------


def _first(request: ChatRequest, role: str) -> str:
    """The text of the first message with ``role`` (retry turns come later)."""
    for message in request.messages:
        if message.get("role") == role:
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def phase_of(request: ChatRequest) -> str:
    """``"forward"``, ``"evaluator_backward"``, ``"chat_backward"`` or ``"optimizer"``."""
    if request.schema_name == "improved_variable":
        return "optimizer"
    if request.schema_name == "variable_feedback":
        if "deterministic evaluation function" in _first(request, "user"):
            return "evaluator_backward"
        return "chat_backward"
    return "forward"


def review_of(request: ChatRequest) -> str:
    return _first(request, "user").removeprefix("Review: ")


def classify(request: ChatRequest) -> str:
    review, system = review_of(request), _first(request, "system")
    if review in IRONIC and IRONY not in system:
        return "positive"  # fooled by the irony
    if review in NEGATED and NEGATION not in system:
        return "negative"  # fooled by the negation
    return LABELS[review]


def evaluator_feedback(request: ChatRequest) -> dict[str, str]:
    keys = request.schema["required"]
    samples = re.findall(
        r"<PREDICTION>\n(.*?)\n</PREDICTION>\n<TARGET>\n(.*?)\n</TARGET>",
        _first(request, "user"),
        re.S,
    )
    feedback = {}
    for key, (prediction, target) in zip(keys, samples):
        why = "ironic" if target == "negative" else "negated"
        feedback[key] = "" if prediction == target else f"Wrong: the review is {why}: '{target}'."
    return feedback


def chat_feedback(request: ChatRequest) -> dict[str, str]:
    objective = _first(request, "user").split("<FEEDBACK>", 1)[1].split("</FEEDBACK>", 1)[0]
    text = " ".join(ask for word, (ask, _) in FIXES.items() if word in objective)
    return {key: text for key in request.schema["required"]}


def optimizer_update(request: ChatRequest) -> dict[str, str]:
    user = _first(request, "user")
    value = user.split("<VARIABLE>\n", 1)[1].split("\n</VARIABLE>", 1)[0]
    feedback = user.split("</VARIABLE>", 1)[1]
    for word, (_, instruction) in FIXES.items():
        if word in feedback and instruction not in value:
            value = f"{value} {instruction}"
    return {"improved_variable": value}


ANSWERS = {
    "forward": classify,
    "evaluator_backward": evaluator_feedback,
    "chat_backward": chat_feedback,
    "optimizer": optimizer_update,
}


def answer(request: ChatRequest) -> Any:
    """The scripted models: one deterministic answer per request."""
    return ANSWERS[phase_of(request)](request)


def install(script: ScriptedModel) -> None:
    """Adds the scripted models to ``script`` (after any rule already there)."""
    script.when().reply(answer)


# -- the agent ---------------------------------------------------------------------------------


class SentimentAgent(cog.Module):
    """Classifies reviews with a chat model; its system prompt is the trained Parameter."""

    def __init__(self, forward_model: Any, optimizer_model: Any) -> None:
        super().__init__()
        self.system_prompt = cog.Parameter(INITIAL_PROMPT, role="system prompt of the classifier")
        self.register_buffer("template", Variable("Review: {review}", role="review template"))
        self.classify = cog.ChatCompletion()
        self.judge = cog.ExactMatchEvaluator()
        self.forward_model = forward_model
        self.optimizer_model = optimizer_model
        # Every batch a step was run on, in order: retried steps would show up twice.
        self.seen: list[tuple[str, tuple[str, ...]]] = []

    def forward(self, reviews: Any) -> Variable:
        messages = [
            {"role": "system", "content": [self.system_prompt]},
            {"role": "user", "content": [self.template]},
        ]
        return self.classify(
            self.forward_model, messages, inputs={"review": reviews}, model=MODEL, temperature=0
        )

    def _step(self, batch: Any, phase: str) -> dict[str, Any]:
        reviews, labels = batch
        self.seen.append((phase, tuple(reviews)))
        prediction = self(reviews)
        score, explanation = self.judge(prediction, labels)
        return {"loss": (score, explanation), "accuracy": score.data / len(labels)}

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        return self._step(batch, "val")

    def configure_optimizers(self) -> TGD:
        return TGD(self.parameters(), self.optimizer_model, momentum=1, model=MODEL)


def make_clients(
    base_url: str,
    api_key: str,
    *,
    forward_cls: type = AsyncOpenAI,
    **options: Any,
) -> tuple[Any, Any, list[Any]]:
    """The forward and optimizer clients, and the backward client set process-wide.

    Returns:
        ``(forward_model, optimizer_model, llm_clients)``.
    """
    args = {
        "base_url": base_url,
        "api_key": api_key,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
        "retry_seed": 0,
        **options,
    }
    afnio.set_backward_model_client(f"openai/{MODEL}", client_args=dict(args))
    forward_model = forward_cls(**args)
    optimizer_model = AsyncOpenAI(**args)
    clients = [forward_model, afnio.get_backward_model_client(), optimizer_model]
    return forward_model, optimizer_model, clients


# The training order the scenarios are written for: the break-down tests need reviews the prompt
# still gets wrong after the third batch.
TRAIN_ORDER = [2, 5, 0, 6, 10, 4, 1, 3, 9, 11, 8, 7]


def make_loaders() -> tuple[DataLoader, DataLoader]:
    train = DataLoader(TRAIN, batch_size=2, sampler=TRAIN_ORDER)
    return train, DataLoader(VAL, batch_size=2)


def make_trainer(root: str | os.PathLike[str], **kwargs: Any) -> Trainer:
    options = {"max_epochs": 2, "enable_progress_bar": False, "enable_agent_summary": False}
    return Trainer(default_root_dir=root, **{**options, **kwargs})


def outcome(result: dict[str, Any], agent: SentimentAgent) -> dict[str, Any]:
    """What must not depend on faults or interruptions: parameters, metrics, samples."""
    epochs = [{k: v for k, v in epoch.items() if k != "cost"} for epoch in result["epochs"]]
    return {
        "system_prompt": agent.system_prompt.data,
        "epochs": epochs,
        "global_step": result["global_step"],
    }


class BatchLog(Callback):
    """Records the parameters after every finished training batch."""

    def __init__(self) -> None:
        self.after: list[tuple[int, int, str]] = []  # (epoch, batch_idx, system prompt)

    def on_train_batch_end(self, trainer: Trainer, agent: Any, metrics: Any, batch_idx: int):
        self.after.append((trainer.current_epoch, batch_idx, agent.system_prompt.data))


# -- the script the crash tests kill -----------------------------------------------------------


def _pause_on_checkpoint(number: int, ready: Path) -> None:
    """Stops the process inside the ``number``-th checkpoint save, after its data is written
    to the temporary file and before it replaces the checkpoint (``afnio.save`` fsyncs there;
    other files the trainer writes atomically, such as the ``last`` pointer, are fsynced too,
    under other temporary names)."""
    real_fsync = os.fsync
    count = 0

    def fsync(fd: int) -> None:
        nonlocal count
        real_fsync(fd)
        if not os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".afnio-"):
            return
        count += 1
        if count == number:
            ready.write_text("paused")
            threading.Event().wait()  # until SIGKILL

    os.fsync = fsync


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="sk-local-test")
    parser.add_argument("--pause-in-checkpoint", type=int, default=0)
    parser.add_argument("--ready", default="")
    args = parser.parse_args(argv)
    if args.pause_in_checkpoint:
        _pause_on_checkpoint(args.pause_in_checkpoint, Path(args.ready))
    forward_model, optimizer_model, clients = make_clients(args.base_url, args.api_key)
    agent = SentimentAgent(forward_model, optimizer_model)
    train, val = make_loaders()
    make_trainer(args.root).fit(agent, train, val, llm_clients=clients)
    sys.stdout.write("finished\n")


if __name__ == "__main__":
    main()
