"""The benchmark workload written with TextGrad's public API (runs in the TextGrad venv).

Usage: ``python -m benchmarks.textgrad_env.run_workload --base-url URL --batches 1,8,32
--repeats 3 --mode sequential`` from the repository root, with the interpreter of
``benchmarks/.venv-textgrad``. Prints one JSON object on the last line of stdout.

The pipeline is the one of :mod:`benchmarks.workload`: two chained ``BlackboxLLM`` calls whose
system prompts are trainable ``Variable``s, an exact-match ``StringBasedFunction`` per sample,
``tg.sum`` of the losses, ``backward()``, one ``TGD`` step. The engine is TextGrad's
``ChatExternalClient`` around an ``openai.OpenAI`` client pointed at the local server (TextGrad's
documented way to use any OpenAI-compatible endpoint).

Modes: ``sequential`` runs the samples one after another, as TextGrad's own training loops do;
``threads`` runs each sample's forward chain in a thread pool (TextGrad has no concurrency of its
own; its evaluation scripts use a ``ThreadPoolExecutor`` the same way). The backward pass and the
optimizer step are TextGrad's, sequential in both modes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.workload import ANSWER_PROMPT, EXTRACT_PROMPT, IMPROVED_REPLY, MODEL, questions


def exact_match(prediction: Any, ground_truth_answer: Any) -> str:
    """1 when the prediction equals the expected answer, else 0 (as text)."""
    return "1" if str(prediction.value).strip() == str(ground_truth_answer.value) else "0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mode", choices=("sequential", "threads"), default="sequential")
    args = parser.parse_args(argv)

    import openai
    import textgrad as tg
    from textgrad.autograd import StringBasedFunction
    from textgrad.engine.local_model_openai_api import ChatExternalClient

    client = openai.OpenAI(base_url=args.base_url, api_key="sk-local-test")
    engine = ChatExternalClient(client=client, model_string=MODEL)
    tg.set_backward_engine(engine, override=True)

    extract_prompt = tg.Variable(
        EXTRACT_PROMPT, requires_grad=True, role_description="system prompt of the fact extractor"
    )
    answer_prompt = tg.Variable(
        ANSWER_PROMPT, requires_grad=True, role_description="system prompt of the answerer"
    )
    extractor = tg.BlackboxLLM(engine, system_prompt=extract_prompt)
    answerer = tg.BlackboxLLM(engine, system_prompt=answer_prompt)
    optimizer = tg.TGD(parameters=[extract_prompt, answer_prompt], engine=engine)
    evaluate = StringBasedFunction(exact_match, function_purpose="exact match")

    def sample(question: str, target: str) -> Any:
        x = tg.Variable(question, requires_grad=False, role_description="question")
        y = tg.Variable(target, requires_grad=False, role_description="expected answer")
        facts = extractor(x)
        answer = answerer(facts)
        return evaluate(
            inputs={"prediction": answer, "ground_truth_answer": y},
            response_role_description="exact-match score of the answer",
        )

    def step(batch: int, tag: str) -> dict[str, Any]:
        qs, targets = questions(batch, tag)
        extract_prompt.set_value(EXTRACT_PROMPT)
        answer_prompt.set_value(ANSWER_PROMPT)
        cpu0 = time.process_time()
        start = time.monotonic()
        t0 = time.perf_counter()
        optimizer.zero_grad()
        if args.mode == "threads":
            with ThreadPoolExecutor(max_workers=batch) as pool:
                losses = list(pool.map(sample, qs, targets))
        else:
            losses = [sample(q, t) for q, t in zip(qs, targets)]
        t1 = time.perf_counter()
        total = tg.sum(losses)
        total.backward()
        t2 = time.perf_counter()
        optimizer.step()
        t3 = time.perf_counter()
        end = time.monotonic()
        updated = extract_prompt.value == answer_prompt.value == IMPROVED_REPLY
        return {
            "batch": batch,
            "mode": args.mode,
            "tag": tag,
            "start": start,
            "end": end,
            "wall": t3 - t0,
            "phases": {"forward": t1 - t0, "backward": t2 - t1, "step": t3 - t2},
            "cpu": time.process_time() - cpu0,
            "prompts_updated": updated,
        }

    batches = [int(b) for b in args.batches.split(",") if b]
    steps: list[dict[str, Any]] = []
    warm = step(1, f"textgrad-{args.mode}-warm")
    warm["warmup"] = True
    steps.append(warm)
    for batch in batches:
        for i in range(args.repeats):
            steps.append(step(batch, f"textgrad-{args.mode}-{batch}-{i}"))
            print(f"textgrad {args.mode} batch {batch}: {steps[-1]['wall']:.2f} s", file=sys.stderr)
    version = getattr(tg, "__version__", None)
    print(json.dumps({"textgrad_version": version, "steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
