"""afnio's benchmarks: afnio side by side with what users would pick instead.

``make bench`` (``python -m benchmarks``) runs them all, prints one table per benchmark and writes
``benchmarks/results.json``. Figures are ratios measured in one run on one machine; none of this
is a test. ``--quick`` runs every benchmark at a tiny size (the smoke test does), ``--only NAME``
runs some of them.
"""

BENCHMARKS = ("step", "throughput", "textgrad", "engine", "cache", "widgets", "saved")
"""The benchmark names, in running order; each is a module of this package."""

MODULES = {
    "step": "benchmarks.step_latency",
    "throughput": "benchmarks.throughput",
    "textgrad": "benchmarks.textgrad_compare",
    "engine": "benchmarks.engine_overhead",
    "cache": "benchmarks.cache",
    "widgets": "benchmarks.widgets",
    "saved": "benchmarks.saved_notebooks",
}
