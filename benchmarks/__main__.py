"""The benchmark runner: ``python -m benchmarks [--quick] [--only NAME ...] [--output PATH]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from benchmarks import BENCHMARKS, MODULES
from benchmarks._report import machine, now, versions

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure afnio side by side with what users would pick instead.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: proves every benchmark still runs"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where to write the JSON results (default: benchmarks/results.json for a full run; "
        "nothing for --quick or --only)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown!r}; choose from {', '.join(BENCHMARKS)}")
    args.names = [n for n in BENCHMARKS if n in names] if names else list(BENCHMARKS)
    if args.output is None and not args.quick and not names:
        args.output = DEFAULT_OUTPUT
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # torch warns once that numpy is missing; it does not matter for scalar autograd.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    started = time.perf_counter()
    info = machine()
    info["load_average_at_start"] = _load_average()
    print(f"afnio benchmarks - {now()}")
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB, {info['os']}")
    results: dict[str, Any] = {}
    failed: list[str] = []
    for index, name in enumerate(args.names, start=1):
        t0 = time.perf_counter()
        title = name
        try:
            module = importlib.import_module(MODULES[name])
            title = module.TITLE
            print(f"\n== {index}. {title} [{name}] ==", flush=True)
            result = module.run(quick=args.quick)
        except Exception as exc:
            traceback.print_exc()
            failed.append(name)
            result = {"title": title, "error": f"{type(exc).__name__}: {exc}"}
        result["duration_s"] = round(time.perf_counter() - t0, 1)
        results[name] = result
        if result.get("table"):
            print()
            print(result["table"])
        for note in result.get("notes", []):
            print(f"note: {note}")
        print(f"({name}: {result['duration_s']} s)", flush=True)
    info["load_average_at_end"] = _load_average()
    textgrad = results.get("textgrad", {}).get("textgrad_version")
    report = {
        "date": now(),
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "quick": args.quick,
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": info,
        "versions": versions(textgrad=textgrad),
        "benchmarks": results,
    }
    print(f"\ntotal: {report['duration_s']} s")
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.output}")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
