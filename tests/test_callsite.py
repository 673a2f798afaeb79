"""The user's line carried to afnio's event loop is a small record, never a frame."""

from __future__ import annotations

import contextvars
import gc
import sys
import types
import warnings
import weakref

from afnio import _callsite
from afnio._runtime import run_sync


class _Owner:
    """Stands for a client: something a caller's frame holds as a local."""


def _frames_in(value: object) -> list[object]:
    items = value if isinstance(value, tuple) else (value,)
    return [item for item in items if isinstance(item, types.FrameType)]


def test_the_context_on_the_loop_holds_no_frame_of_the_caller():
    async def context_on_the_loop() -> contextvars.Context:
        return contextvars.copy_context()

    context = run_sync(context_on_the_loop())
    sites = [value for value in context.values() if isinstance(value, _callsite.CallSite)]
    assert len(sites) == 1
    assert sites[0].filename == __file__
    assert all(_frames_in(value) == [] for value in context.values())


def test_a_context_copy_that_outlives_the_call_keeps_no_local_of_the_caller_alive():
    # asyncio copies the context into every callback and timer; a cancelled timer can keep that
    # copy for a while. The caller's locals (a dropped client, say) must not live on in it.
    kept: list[contextvars.Context] = []

    async def keep_a_copy() -> None:
        kept.append(contextvars.copy_context())

    def caller() -> weakref.ref[_Owner]:
        owner = _Owner()
        run_sync(keep_a_copy())
        return weakref.ref(owner)

    owner = caller()
    gc.collect()
    assert owner() is None
    assert kept  # the copy is still there


def test_warnings_from_the_loop_point_at_the_callers_line():
    async def warn_on_the_loop() -> None:
        _callsite.warn("said on the loop")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        run_sync(warn_on_the_loop())
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line)]


def test_a_warning_for_code_read_from_stdin_is_shown_not_raised():
    # `python -` runs __main__ from stdin: its loader has no source to give for the warned line.
    import subprocess

    script = (
        "import afnio._callsite as cs\n"
        "from afnio._runtime import run_sync\n"
        "async def warns():\n"
        "    cs.warn('unpriced')\n"
        "run_sync(warns())\n"
        "print('went on')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-"], input=script, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "went on\n"
    assert "<stdin>:5: UserWarning: unpriced" in done.stderr
