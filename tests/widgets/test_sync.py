"""The update rate of every afnio widget: :class:`afnio_widgets._sync.Throttle` and
``AFNIO_WIDGETS_INTERVAL``."""

from __future__ import annotations

from typing import Any

import pytest

import afnio_widgets._sync as sync
from afnio_widgets._sync import DEFAULT_INTERVAL, Throttle, update_interval


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class RecordedTimer:
    """Stands in for ``threading.Timer``: records the delay it was armed with, never fires."""

    armed: list[float] = []

    def __init__(self, delay: float, function: Any) -> None:
        RecordedTimer.armed.append(delay)
        self.daemon = False

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(sync.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(sync.threading, "Timer", RecordedTimer)
    RecordedTimer.armed = []
    return fake


def test_the_interval_counts_from_the_start_of_the_previous_flush(clock: FakeClock) -> None:
    def flush() -> None:
        clock.now += 0.02  # publishing takes 20 ms

    throttle = Throttle(flush, interval=0.1)
    throttle.flush_now()  # runs from t=100.00 to t=100.02
    throttle.poke()
    # the next flush starts 0.1 s after the previous one started: a steady 10 updates a second
    assert RecordedTimer.armed == [pytest.approx(0.08)]


def test_a_slow_flush_waits_three_times_as_long_as_it_took(clock: FakeClock) -> None:
    def flush() -> None:
        clock.now += 0.05

    throttle = Throttle(flush, interval=0.1)
    throttle.flush_now()  # 100.00 to 100.05
    throttle.poke()
    assert RecordedTimer.armed == [pytest.approx(0.15)]  # due at 100.05 + 3 x 0.05


def test_the_first_poke_flushes_at_once(clock: FakeClock) -> None:
    throttle = Throttle(lambda: None, interval=0.1)
    throttle.poke()
    assert RecordedTimer.armed == [0.0]


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFNIO_WIDGETS_INTERVAL", raising=False)
    assert update_interval() == DEFAULT_INTERVAL == 0.08
    assert Throttle(lambda: None).interval == DEFAULT_INTERVAL
    monkeypatch.setenv("AFNIO_WIDGETS_INTERVAL", " 0.25 ")
    assert Throttle(lambda: None).interval == 0.25
    assert Throttle(lambda: None, interval=0.5).interval == 0.5


@pytest.mark.parametrize("raw", ["fast", "0", "-1", "nan", "inf"])
def test_a_bad_interval_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("AFNIO_WIDGETS_INTERVAL", raw)
    with pytest.raises(ValueError, match=r"AFNIO_WIDGETS_INTERVAL must be a positive number"):
        update_interval()


def test_a_large_update_holds_the_next_one_back_by_its_size(clock: FakeClock) -> None:
    sizes = iter([2_000_000, 100])

    throttle = Throttle(lambda: next(sizes), interval=0.08, bytes_per_second=10_000_000)
    throttle.flush_now()  # 2 MB at 10 MB/s: the next flush starts 0.2 s after this one
    throttle.poke()
    assert RecordedTimer.armed == [pytest.approx(0.2)]
    clock.now += 0.2
    throttle.flush_now()  # 100 bytes: back to the interval
    RecordedTimer.armed = []
    throttle._timer = None  # the recorded timer never fires
    throttle.poke()
    assert RecordedTimer.armed == [pytest.approx(0.08)]


def test_a_graph_view_publishes_its_size() -> None:
    import afnio
    from afnio_widgets import GraphView

    view = GraphView(None, live=True)
    _ = afnio.Variable("a" * 500, requires_grad=True) + afnio.Variable("b")
    assert view._publish() == len(view.graph_json) > 500
    assert view._publish() == 0  # nothing changed since
    view.close()
