"""One leg of the throughput benchmark, in a process of its own (see :mod:`benchmarks.throughput`).

Usage: ``python -m benchmarks.throughput_client --client NAME --base-url URL --requests N
--concurrency C`` from the repository root. Prints one JSON object on the last line of stdout:
wall time, calls per second and the client process's CPU per call (``resource.getrusage``, user
+ system, every thread of the process), measured over the ``N`` requests after a warm-up that
opens the connections.

Clients (each sends the same chat request, ``C`` at a time):

- ``afnio-achat``: ``await afnio.models.AsyncOpenAI.achat(...)`` from the caller's event loop
  (each call hops to afnio's loop and back).
- ``afnio-op``: ``afnio.cognitive.functional.chat_completion`` over a batch of ``N`` inputs, the
  path of a graph operation (its calls run on afnio's loop; one graph node records them all).
- ``sdk-httpx``, ``sdk-aiohttp``: the bare ``openai.AsyncOpenAI.chat.completions.create`` with the
  SDK's default HTTP stack and with its aiohttp transport.
- ``sdk-aiohttp-post``: the bare SDK's ``post("/chat/completions", body=...)`` over aiohttp, the
  request path afnio uses.
- ``litellm``: ``litellm.acompletion`` (what DSPy runs), in LiteLLM's own environment.

Only the standard library is imported at module level: the LiteLLM leg runs with an interpreter
where neither afnio nor its dependencies are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

CLIENTS = ("afnio-achat", "afnio-op", "sdk-httpx", "sdk-aiohttp", "sdk-aiohttp-post", "litellm")
MODEL = "gpt-4o-mini"
WARMUP = 64


def request_messages(i: int) -> list[dict[str, str]]:
    """The chat request of call ``i``: a system prompt and a distinct question."""
    return [
        {"role": "system", "content": "You answer questions about arithmetic, briefly."},
        {"role": "user", "content": f"Question load.{i}: what is {i} plus {i}?"},
    ]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _drive(call: Callable[[int], Awaitable[Any]], n: int, concurrency: int) -> None:
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await call(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _figures(n: int, wall: float, cpu: float) -> dict[str, Any]:
    return {
        "requests": n,
        "wall_s": round(wall, 4),
        "calls_per_s": round(n / wall, 1),
        "cpu_s": round(cpu, 4),
        "cpu_ms_per_call": round(cpu / n * 1000, 4),
    }


def _measure(run: Callable[[int], None], n: int) -> dict[str, Any]:
    """Times ``run(n)`` after a warm-up ``run(WARMUP)`` (for clients driven synchronously)."""
    run(WARMUP)
    cpu0, t0 = _cpu(), time.perf_counter()
    run(n)
    return _figures(n, time.perf_counter() - t0, _cpu() - cpu0)


async def _measure_async(
    call: Callable[[int], Awaitable[Any]], n: int, concurrency: int
) -> dict[str, Any]:
    """Times ``n`` calls, ``concurrency`` at a time, after a warm-up, inside a running loop."""
    await _drive(call, WARMUP, concurrency)
    cpu0, t0 = _cpu(), time.perf_counter()
    await _drive(call, n, concurrency)
    return _figures(n, time.perf_counter() - t0, _cpu() - cpu0)


def _sdk(base_url: str, api_key: str, client: str, n: int, concurrency: int) -> dict[str, Any]:
    import openai
    from openai.types.chat import ChatCompletion

    async def main() -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if client != "sdk-httpx":
            extra["http_client"] = openai.DefaultAioHttpClient()
        sdk = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, **extra)

        async def create(i: int) -> None:
            messages: Any = request_messages(i)
            await sdk.chat.completions.create(messages=messages, model=MODEL)

        async def post(i: int) -> None:
            body = {"messages": request_messages(i), "model": MODEL}
            await sdk.post("/chat/completions", body=body, cast_to=ChatCompletion)

        try:
            return await _measure_async(
                post if client == "sdk-aiohttp-post" else create, n, concurrency
            )
        finally:
            await sdk.close()

    result = asyncio.run(main())
    result["version"] = openai.__version__
    return result


def _afnio_achat(base_url: str, api_key: str, n: int, concurrency: int) -> dict[str, Any]:
    from afnio.models import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_concurrency=concurrency)

    async def call(i: int) -> None:
        await client.achat(messages=request_messages(i), model=MODEL)

    def run(k: int) -> None:
        asyncio.run(_drive(call, k, concurrency))

    result = _measure(run, n)
    client.close()
    return result


def _afnio_op(base_url: str, api_key: str, n: int, concurrency: int) -> dict[str, Any]:
    import afnio
    import afnio.cognitive.functional as F
    from afnio.models import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_concurrency=concurrency)
    system = afnio.Variable("You answer questions about arithmetic, briefly.", role="system")
    template = afnio.Variable("{question}", role="question")

    def run(k: int) -> None:
        questions = [request_messages(i)[1]["content"] for i in range(k)]
        out = F.chat_completion(
            client,
            [
                {"role": "system", "content": [system]},
                {"role": "user", "content": [template]},
            ],
            inputs={"question": questions},
            model=MODEL,
        )
        if len(out.data) != k:
            raise RuntimeError(f"chat_completion returned {len(out.data)} answers for {k}.")

    result = _measure(run, n)
    client.close()
    return result


def _litellm(base_url: str, api_key: str, n: int, concurrency: int) -> dict[str, Any]:
    import litellm

    litellm.telemetry = False

    async def call(i: int) -> None:
        await litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=request_messages(i),
            api_base=base_url,
            api_key=api_key,
            max_retries=0,
        )

    result = asyncio.run(_measure_async(call, n, concurrency))
    from importlib import metadata

    result["version"] = metadata.version("litellm")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput_client")
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    api_key = os.environ.get("BENCH_API_KEY", "sk-local-test")
    if args.client == "afnio-achat":
        result = _afnio_achat(args.base_url, api_key, args.requests, args.concurrency)
    elif args.client == "afnio-op":
        result = _afnio_op(args.base_url, api_key, args.requests, args.concurrency)
    elif args.client == "litellm":
        result = _litellm(args.base_url, api_key, args.requests, args.concurrency)
    else:
        result = _sdk(args.base_url, api_key, args.client, args.requests, args.concurrency)
    if args.client.startswith("afnio"):
        from importlib import metadata

        result["version"] = metadata.version("afnio")
    result["client"] = args.client
    result["python"] = sys.version.split()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
