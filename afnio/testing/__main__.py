"""Command line of the local OpenAI-compatible server.

Run it with ``python -m afnio.testing.server`` (or ``python -m afnio.testing``); it prints the base
URL on its first line of output and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, cast

from afnio.testing.faults import DEFAULT_FAULT_KINDS, FAULT_KINDS, Faults
from afnio.testing.script import ScriptedModel
from afnio.testing.server import LocalServer, Script

__all__ = ["main"]


def _parse_latency(text: str) -> float | tuple[float, float]:
    if "," in text:
        low, high = (float(part) for part in text.split(",", 1))
        return (low, high)
    return float(text)


def _load_script(spec: str) -> Script:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--script expects 'module:attribute', got {spec!r}")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if not isinstance(value, ScriptedModel) and not callable(value):
        raise TypeError(f"{spec!r} is neither a ScriptedModel nor a callable: {value!r}")
    return cast(Script, value)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a :class:`LocalServer` until interrupted (Ctrl-C, SIGTERM).

    Prints the base URL on the first line of standard output.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.

    Example:
        ``python -m afnio.testing.server --port 8000 --latency 0.05,0.2 --fault-rate 0.1``
    """
    parser = argparse.ArgumentParser(
        prog="python -m afnio.testing.server",
        description="A local OpenAI-compatible server answering from a deterministic script.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks one (8000)")
    parser.add_argument(
        "--latency",
        type=_parse_latency,
        default=0.0,
        help="seconds per request, or LOW,HIGH for a per-request deterministic draw (0)",
    )
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fault probability (0)")
    parser.add_argument("--fault-seed", type=int, default=0, help="fault seed (0)")
    parser.add_argument(
        "--fault-kinds",
        default=",".join(DEFAULT_FAULT_KINDS),
        help=f"comma-separated faults among {','.join(FAULT_KINDS)}",
    )
    parser.add_argument(
        "--check-api-key",
        action="store_true",
        help=f"refuse (401) any API key but {LocalServer.api_key!r}, as a real server does",
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated model ids to list; with --known-models-only, the only ones served",
    )
    parser.add_argument(
        "--known-models-only",
        action="store_true",
        help="answer chat completions for other models with 404 model_not_found",
    )
    parser.add_argument(
        "--script",
        default=None,
        help="module:attribute of a ScriptedModel or callable answering requests",
    )
    args = parser.parse_args(argv)
    try:
        script = _load_script(args.script) if args.script else None
        faults = None
        if args.fault_rate > 0:
            kinds = tuple(kind.strip() for kind in args.fault_kinds.split(",") if kind.strip())
            faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.fault_seed)
        models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        server = LocalServer(
            script,
            latency=args.latency,
            faults=faults,
            host=args.host,
            port=args.port,
            check_api_key=args.check_api_key,
            known_models_only=args.known_models_only,
            **({"models": models} if models else {}),
        )
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        parser.error(str(error))

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.start()
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
