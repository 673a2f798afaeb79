import asyncio
import threading

import pytest

import afnio
from afnio import Variable
from afnio.cognitive import Parameter


def _op():
    x = Variable("a", requires_grad=True)
    return x + x


def test_default_enabled():
    assert afnio.is_grad_enabled()
    y = _op()
    assert y.requires_grad and y.grad_fn is not None and not y.is_leaf


def test_no_grad_context_manager():
    with afnio.no_grad():
        assert not afnio.is_grad_enabled()
        y = _op()
    assert afnio.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None and y.is_leaf


def test_no_grad_decorator_with_and_without_parentheses():
    @afnio.no_grad()
    def with_parens():
        return afnio.is_grad_enabled(), _op()

    @afnio.no_grad
    def bare():
        return afnio.is_grad_enabled(), _op()

    for fn in (with_parens, bare):
        enabled, y = fn()
        assert enabled is False and y.grad_fn is None
    assert afnio.is_grad_enabled()
    assert bare.__name__ == "bare"


def test_no_grad_decorates_coroutines():
    @afnio.no_grad
    async def inner():
        await asyncio.sleep(0)
        return afnio.is_grad_enabled()

    assert asyncio.run(inner()) is False
    assert afnio.is_grad_enabled()


def test_state_restored_on_exception():
    with pytest.raises(ValueError), afnio.no_grad():
        raise ValueError("boom")
    assert afnio.is_grad_enabled()

    @afnio.no_grad
    def fails():
        raise KeyError("x")

    with pytest.raises(KeyError):
        fails()
    assert afnio.is_grad_enabled()


def test_nested_and_enable_grad():
    with afnio.no_grad():
        with afnio.enable_grad():
            assert afnio.is_grad_enabled()
            assert _op().grad_fn is not None
        assert not afnio.is_grad_enabled()

    @afnio.enable_grad
    def inside():
        return afnio.is_grad_enabled()

    with afnio.no_grad():
        assert inside() is True


def test_set_grad_enabled_plain_call_and_context_manager():
    try:
        afnio.set_grad_enabled(False)
        assert not afnio.is_grad_enabled()
        assert _op().requires_grad is False
    finally:
        afnio.set_grad_enabled(True)
    assert afnio.is_grad_enabled()
    with afnio.set_grad_enabled(False):
        assert not afnio.is_grad_enabled()
    assert afnio.is_grad_enabled()
    with afnio.no_grad():
        with afnio.set_grad_enabled(True):
            assert afnio.is_grad_enabled()
        assert not afnio.is_grad_enabled()

    @afnio.set_grad_enabled(False)
    def decorated():
        return afnio.is_grad_enabled()

    assert afnio.is_grad_enabled()  # building the decorator does not leave the mode changed
    assert decorated() is False and afnio.is_grad_enabled()
    with pytest.raises(TypeError, match="`mode` must be a bool"):
        afnio.set_grad_enabled("no")


def test_factories_unaffected():
    with afnio.no_grad():
        v = Variable("x", requires_grad=True)
        p = Parameter("xyz")
    assert v.requires_grad and p.requires_grad


def test_thread_local():
    seen = {}
    barrier = threading.Barrier(2)

    def worker(name, mode):
        with afnio.set_grad_enabled(mode):
            barrier.wait()
            seen[name] = (afnio.is_grad_enabled(), _op().requires_grad)
            barrier.wait()

    threads = [
        threading.Thread(target=worker, args=("off", False)),
        threading.Thread(target=worker, args=("on", True)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"off": (False, False), "on": (True, True)}
    assert afnio.is_grad_enabled()


def test_disabled_in_one_thread_not_in_another():
    result = []
    with afnio.no_grad():
        t = threading.Thread(target=lambda: result.append(afnio.is_grad_enabled()))
        t.start()
        t.join()
    assert result == [True]


def test_no_grad_rejects_non_callable():
    with pytest.raises(TypeError):
        afnio.no_grad(3)
