"""The prompt-tuning workload shared by the step-latency, TextGrad and cache benchmarks.

A two-stage pipeline tunes two system prompts: stage 1 extracts the facts a question relies on,
stage 2 answers from those facts. An exact-match evaluator scores the answers against targets;
``backward()`` asks the backward model for feedback; one TGD step rewrites both prompts. The
model is ``afnio.testing.LocalServer`` with a fixed latency per request, answering from
:func:`reply`: every answer is wrong, so every sample produces feedback, and replies have fixed
lengths so that token counts compare the libraries' prompts, not the script.

This module also holds the measurements made on a run: the critical path read from the graph,
the sequential depth read from the server's request log, and the transport floor (the same
requests replayed level by level with the bare ``openai`` SDK).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._server import Request

__all__ = [
    "LATENCY",
    "MODEL",
    "QUICK_LATENCY",
    "AfnioPipeline",
    "AfnioStep",
    "critical_path",
    "dependency_levels",
    "describe",
    "log_depth",
    "log_levels",
    "questions",
    "replay_floor",
    "reply",
]

MODEL = "gpt-4o-mini"
"""The model name sent with every request (the server accepts any)."""

LATENCY = 0.1
"""Seconds the server waits before answering each request."""

QUICK_LATENCY = 0.01
"""The latency of ``--quick`` runs, which only prove that the benchmarks still work."""

EXTRACT_PROMPT = (
    "You read a question and list the facts it relies on. Reply with 'FACTS:' followed by the "
    "facts, one per line."
)
ANSWER_PROMPT = "You answer a question from its facts. Reply with the answer only, in one word."

FACTS_REPLY = "FACTS: {question} asks for a sum of two equal whole numbers; no units are given."
ANSWER_REPLY = "{question}: seventeen"
FEEDBACK_REPLY = (
    "The answer does not match the expected value. Ask for the arithmetic to be carried out "
    "explicitly and for the result to be given as digits, not words."
)
IMPROVED_REPLY = (
    "Work step by step through the arithmetic the question asks for, then reply with the "
    "result as digits only."
)


def questions(batch: int, tag: str) -> tuple[list[str], list[str]]:
    """``batch`` distinct questions and their expected answers.

    ``tag`` makes every request of a run distinct from those of other runs, so that no response
    cache (TextGrad's is always on) can answer a measured step.
    """
    qs = [f"Question {tag}.{i}: what is {i + 2} plus {i + 2}?" for i in range(batch)]
    return qs, [str(2 * (i + 2)) for i in range(batch)]


def reply(request: Any) -> Any:
    """The scripted model (runs in the server process).

    Structured requests (afnio's backward and TGD calls) get every string field of their JSON
    schema filled; TextGrad's optimizer gets its tagged answer; forward calls are recognised by
    their user message; everything else is backward feedback.
    """
    schema = request.schema
    if isinstance(schema, dict):
        props = schema.get("properties") or {}
        if "improved_variable" in props:
            return {"improved_variable": IMPROVED_REPLY}
        return {name: FEEDBACK_REPLY for name in props}
    if "<IMPROVED_VARIABLE>" in request.text or "IMPROVED_VARIABLE" in request.system:
        return f"<IMPROVED_VARIABLE>{IMPROVED_REPLY}</IMPROVED_VARIABLE>"
    user = request.user.lstrip()
    if user.startswith("Question "):
        # Replies quote the question, so that no two requests of a run are the same (TextGrad's
        # cache, always on, would answer repeats).
        return FACTS_REPLY.format(question=user.split(":", 1)[0])
    if user.startswith("FACTS:"):
        return ANSWER_REPLY.format(question=user[len("FACTS: ") :].split(" asks", 1)[0])
    return FEEDBACK_REPLY


def describe(batch_sizes: Sequence[int], latency: float = LATENCY) -> str:
    """The workload, printed before the benchmarks that use it."""
    return (
        f"prompt tuning, two chained ChatCompletions (fact extractor -> answerer, each with a "
        f"trainable system prompt), exact-match evaluator over the batch, backward, one TGD step "
        f"on both prompts; model {MODEL!r} on afnio.testing.LocalServer (own process) with "
        f"{latency * 1000:.0f} ms per request; batch sizes {list(batch_sizes)}; every answer is "
        "wrong, so every sample gets feedback"
    )


# -- afnio ------------------------------------------------------------------------------------


@dataclass
class AfnioStep:
    """One measured afnio training step."""

    wall: float
    phases: dict[str, float]
    cpu: float
    root: Any = None
    optimizer: Any = None


class AfnioPipeline:
    """The workload in afnio: clients made once (as in a training loop), prompts resettable.

    Args:
        base_url: The server.
        api_key: Any key.
        max_concurrency: Passed to every client; ``None`` keeps afnio's default.
        cache: A SQLite path for every client's response cache, or ``None``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        max_concurrency: int | None = None,
        cache: str | None = None,
    ) -> None:
        import afnio
        from afnio.models.openai import AsyncOpenAI

        options: dict[str, Any] = {"base_url": base_url, "api_key": api_key}
        if max_concurrency is not None:
            options["max_concurrency"] = max_concurrency
        if cache is not None:
            options["cache"] = cache
        self.forward_client = AsyncOpenAI(**options)
        self.optimizer_client = AsyncOpenAI(**options)
        afnio.set_backward_model_client(
            f"openai/{MODEL}", client_args=dict(options), completion_args={"temperature": 0}
        )
        self.backward_client = afnio.get_backward_model_client().client
        self.reset_prompts()

    def reset_prompts(self) -> None:
        """Starts again from the initial prompts, with a new optimizer."""
        import afnio
        import afnio.cognitive as cog
        from afnio.optim import TGD

        self.extract_prompt = cog.Parameter(
            EXTRACT_PROMPT, role="system prompt of the fact extractor"
        )
        self.answer_prompt = cog.Parameter(ANSWER_PROMPT, role="system prompt of the answerer")
        self.question_template = afnio.Variable("{question}", role="question")
        self.facts_template = afnio.Variable("{facts}", role="facts")
        self.optimizer = TGD(
            [self.extract_prompt, self.answer_prompt],
            model_client=self.optimizer_client,
            model=MODEL,
            temperature=0,
        )

    def step(self, batch: int, tag: str) -> AfnioStep:
        """Runs and times one training step on ``batch`` questions (see :func:`questions`)."""
        import afnio.cognitive.functional as F

        qs, targets = questions(batch, tag)
        before = (self.extract_prompt.data, self.answer_prompt.data)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        self.optimizer.zero_grad()
        facts = F.chat_completion(
            self.forward_client,
            [
                {"role": "system", "content": [self.extract_prompt]},
                {"role": "user", "content": [self.question_template]},
            ],
            inputs={"question": qs},
            model=MODEL,
            temperature=0,
        )
        answers = F.chat_completion(
            self.forward_client,
            [
                {"role": "system", "content": [self.answer_prompt]},
                {"role": "user", "content": [self.facts_template]},
            ],
            inputs={"facts": facts},
            model=MODEL,
            temperature=0,
        )
        t1 = time.perf_counter()
        _, explanation = F.exact_match_evaluator(answers, targets)
        explanation.backward()
        t2 = time.perf_counter()
        self.optimizer.step()
        t3 = time.perf_counter()
        cpu = time.process_time() - cpu0
        if len(self.optimizer.last_step.updates) != 2:
            raise RuntimeError(f"The TGD step updated {before!r} wrongly: the workload is broken.")
        return AfnioStep(
            wall=t3 - t0,
            phases={"forward": t1 - t0, "backward": t2 - t1, "step": t3 - t2},
            cpu=cpu,
            root=explanation,
            optimizer=self.optimizer,
        )


# -- critical path ------------------------------------------------------------------------------


def critical_path(root: Any, optimizer: Any) -> dict[str, int]:
    """The longest chain of dependent model calls of one step, read from the graph.

    A node's forward calls can start only once its inputs exist, and its backward calls once
    every consumer has delivered its feedback; the calls a node makes for the samples of a batch
    are independent of each other. So the chain is: the longest path of model-calling nodes from
    the leaves to the root (forward), plus the longest such path from the root back to the
    leaves (backward), plus one level for the optimizer (its parameters are independent). A call
    that was retried counts once per attempt.

    Returns:
        ``{"forward": ..., "backward": ..., "optimizer": ..., "total": ...}`` in calls.
    """
    nodes: list[Any] = []
    seen: set[int] = set()
    stack = [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(edge.node for edge in node.next_functions)

    def rounds(node: Any, phase: str) -> int:
        calls = [c for c in node.calls if c.phase == phase]
        if not calls:
            return 0
        return 1 + max(c.retries for c in calls) + _repairs(calls)

    memo: dict[int, tuple[int, int]] = {}

    def depth(node: Any) -> tuple[int, int]:
        # Longest (forward rounds, backward rounds) from this node down to the leaves.
        if node is None:
            return (0, 0)
        if id(node) not in memo:
            below = [depth(edge.node) for edge in node.next_functions]
            memo[id(node)] = (
                rounds(node, "forward") + max((f for f, _ in below), default=0),
                rounds(node, "backward") + max((b for _, b in below), default=0),
            )
        return memo[id(node)]

    forward, backward = depth(root.grad_fn)
    opt_calls = list(getattr(optimizer, "calls", []))
    per_param: dict[int, int] = {}
    for update in optimizer.last_step.updates if optimizer.last_step else []:
        per_param[id(update.param)] = sum(1 + c.retries for c in update.calls)
    opt_rounds = max(per_param.values(), default=1 if opt_calls else 0)
    return {
        "forward": forward,
        "backward": backward,
        "optimizer": opt_rounds,
        "total": forward + backward + opt_rounds,
    }


def _repairs(calls: Sequence[Any]) -> int:
    """Extra sequential rounds spent re-asking for an unparsable reply: a repair resends the
    conversation with the bad reply and the problem appended, so it has more messages."""
    return len({len(c.messages) for c in calls}) - 1


def log_levels(requests: Sequence[Request]) -> list[int]:
    """The sequential level of each request: 1 + the highest level among the requests that
    ended before it started (so level k could not have been sent earlier in this schedule)."""
    order = sorted(range(len(requests)), key=lambda i: requests[i].start)
    levels = [0] * len(requests)
    done: list[tuple[float, int]] = []  # (end, level) of requests seen so far
    for i in order:
        r = requests[i]
        levels[i] = 1 + max((lv for end, lv in done if end <= r.start), default=0)
        done.append((r.end, levels[i]))
    return levels


def log_depth(requests: Sequence[Request]) -> int:
    """The longest chain of requests each sent after the previous one was answered."""
    return max(log_levels(requests), default=0)


def dependency_levels(requests: Sequence[Request]) -> list[int]:
    """The level of each afnio request of the workload on its critical path, read from what it
    asks for: 1 stage-1 forward, 2 stage-2 forward, 3 evaluator feedback, 4 feedback through
    stage 2, 5 feedback through stage 1, 6 optimizer. Falls back to :func:`log_levels` for a
    request it does not recognise (e.g. TextGrad's)."""
    levels = []
    for r in requests:
        messages = r.body.get("messages") or []
        text = "\n".join(str(m.get("content", "")) for m in messages)
        user = str(messages[-1].get("content", "")).lstrip() if messages else ""
        schema = ((r.body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        props = (schema or {}).get("properties") or {}
        if "improved_variable" in props:
            level = 6
        elif any(name.startswith("sample_") for name in props):
            level = 3
        elif props and EXTRACT_PROMPT in text:
            level = 5
        elif props and ANSWER_PROMPT in text:
            level = 4
        elif not props and user.startswith("Question "):
            level = 1
        elif not props and user.startswith("FACTS:"):
            level = 2
        else:
            return log_levels(requests)
        levels.append(level)
    return levels


def replay_floor(base_url: str, api_key: str, requests: Sequence[Request], repeats: int) -> float:
    """Replays ``requests`` with the bare async ``openai`` SDK, one level at a time (every
    request of a level at once, as :func:`dependency_levels` groups them), and returns the median
    wall time. This is what the same calls cost through the SDK and HTTP on this machine, with
    no library around them: the floor any Python library built on the SDK stands on. The SDK
    runs its fastest way, the one afnio uses: the aiohttp transport and ``post`` with the body
    as it is."""
    import openai
    from openai.types.chat import ChatCompletion

    levels = dependency_levels(requests)
    grouped: dict[int, list[dict[str, Any]]] = {}
    for level, r in zip(levels, requests):
        grouped.setdefault(level, []).append(r.body)

    async def run() -> list[float]:
        client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
        )
        times = []
        try:
            for _ in range(repeats + 1):  # the first run warms the connection pool up
                t0 = time.perf_counter()
                for level in sorted(grouped):
                    await asyncio.gather(
                        *(
                            client.post("/chat/completions", body=body, cast_to=ChatCompletion)
                            for body in grouped[level]
                        )
                    )
                times.append(time.perf_counter() - t0)
        finally:
            await client.close()
        return times[1:]

    return statistics.median(asyncio.run(run()))
