"""cProfile across afnio's threads: the caller, afnio's event-loop thread and worker threads.

``cProfile`` sees one thread only, and afnio runs its backward passes and async model calls on
its own loop thread and sync SDK calls in worker threads. :class:`ThreadsProfile` enables one
profiler in the calling thread, one in the loop thread, and one in every thread started while it
is active (so clients whose thread pools are made lazily are covered), then merges them. Times
are CPU times of each thread (``time.thread_time``), not wall time.
"""

from __future__ import annotations

import cProfile
import functools
import os
import pstats
import sys
import threading
import time
from typing import Any

__all__ = ["ThreadsProfile", "by_package", "cumulative", "top_functions", "total"]

_IDLE = ("method 'poll' of 'select.epoll'", "method 'acquire' of '_thread", "method 'wait' of")


class ThreadsProfile:
    """Profiles the calling thread, afnio's loop thread and threads started meanwhile.

    Threads started while profiling keep their profiler afterwards (only a thread can switch
    its own profiler off): profile last, with clients that later measurements do not reuse.
    """

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        self._caller: cProfile.Profile | None = None
        self._lock = threading.Lock()

    def _new(self, ident: int) -> cProfile.Profile:
        # Each profiler times its thread with that thread's CPU clock: a thread blocked on a
        # socket, a queue or the GIL spends no CPU, so waits do not show as costs. The clock is
        # read by thread id, so that calls still open when the stats are read (from another
        # thread) are closed with the right clock.
        clock = time.pthread_getcpuclockid(ident)
        profile = cProfile.Profile(functools.partial(time.clock_gettime, clock))
        with self._lock:
            self._profiles.append(profile)
        return profile

    def _thread_hook(self, *args: Any) -> None:
        # Runs on a new thread's first event: swap this hook for a real profiler.
        sys.setprofile(None)
        self._new(threading.get_ident()).enable()

    def __enter__(self) -> ThreadsProfile:
        from afnio._runtime import get_loop, run_sync

        get_loop()

        async def loop_ident() -> int:
            return threading.get_ident()

        loop_profile = self._new(run_sync(loop_ident()))

        async def enable() -> None:
            loop_profile.enable()

        run_sync(enable())
        threading.setprofile(self._thread_hook)
        self._caller = self._new(threading.get_ident())
        self._caller.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        from afnio._runtime import run_sync

        if self._caller is not None:
            self._caller.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        loop_profile = self._profiles[0]

        async def disable() -> None:
            loop_profile.disable()

        run_sync(disable())

    @property
    def threads(self) -> int:
        """How many threads were profiled."""
        return len(self._profiles)

    def stats(self) -> pstats.Stats:
        """The merged statistics (worker profilers still running are read as they are)."""
        with self._lock:
            profiles = list(self._profiles)
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            try:
                stats.add(profile)
            except TypeError:  # a profiler that never saw an event
                continue
        return stats


def _is_idle(name: str) -> bool:
    return any(marker in name for marker in _IDLE)


def _package(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    parts = filename.replace(os.sep, "/").split("/")
    if "site-packages" in parts:
        i = parts.index("site-packages")
        return parts[i + 1].removesuffix(".py") if i + 1 < len(parts) else "site-packages"
    if "afnio" in parts:
        i = len(parts) - 1 - parts[::-1].index("afnio")
        return "afnio." + parts[i + 1].removesuffix(".py") if i + 1 < len(parts) else "afnio"
    return "stdlib:" + parts[-1].removesuffix(".py")


def _entries(stats: pstats.Stats) -> list[tuple[str, str, int, float, float]]:
    out = []
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{filename}:{line}({func})" if line else func
        if _is_idle(func):
            continue
        out.append((name, filename, ncalls, tottime, cumtime))
    return out


def by_package(stats: pstats.Stats, top: int = 8) -> list[dict[str, Any]]:
    """Own CPU time (tottime) per package, largest first."""
    totals: dict[str, float] = {}
    for _, filename, _, tottime, _ in _entries(stats):
        key = _package(filename)
        totals[key] = totals.get(key, 0.0) + tottime
    grand = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"package": k, "seconds": round(v, 4), "share": round(v / grand, 3)} for k, v in ranked]


def top_functions(
    stats: pstats.Stats, top: int = 10, key: str = "tottime", root: str = ""
) -> list[dict[str, Any]]:
    """The ``top`` functions by ``key`` (``tottime`` or ``cumtime``), idle waits excluded;
    paths are shortened to start at ``root`` when given."""
    entries = _entries(stats)
    index = 3 if key == "tottime" else 4
    entries.sort(key=lambda e: -e[index])
    rows = []
    for name, _, ncalls, tottime, cumtime in entries[:top]:
        if root and root in name:
            name = name[name.index(root) :]
        elif "site-packages/" in name:
            name = name[name.index("site-packages/") + len("site-packages/") :]
        rows.append(
            {
                "function": name,
                "calls": ncalls,
                "tottime": round(tottime, 4),
                "cumtime": round(cumtime, 4),
            }
        )
    return rows


def total(stats: pstats.Stats) -> float:
    """All the CPU time profiled (the sum of every function's own time)."""
    return sum(e[3] for e in _entries(stats))


def cumulative(stats: pstats.Stats, path_part: str, functions: tuple[str, ...]) -> float:
    """The cumulative time of ``functions`` defined in a file whose path contains
    ``path_part`` (e.g. an entry point and everything it calls)."""
    out = 0.0
    for (filename, _, func), (_, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if path_part in filename.replace(os.sep, "/") and func in functions:
            out += cumtime
    return out
