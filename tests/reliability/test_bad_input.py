"""Bad input everywhere: only the documented exception types, a message that names the
argument, and nothing left half done (no graph node, no request, no changed member).

Each section draws inputs with hypothesis and checks them against an oracle written from the
spec (``afnio-api.md`` §18) and the docstrings; the failed call must leave no trace: a graph
observer sees no new node, the local server sees no request, and the objects involved keep
their state.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import afnio.cognitive as cog
import afnio.cognitive.functional as F
from afnio import Variable
from afnio.autodiff.graph import register_graph_observer
from afnio.cognitive import Parameter
from afnio.models.openai import AsyncOpenAI
from afnio.optim import TGD
from afnio.testing import LocalServer
from afnio.utils.data import DataLoader, RandomSampler, WeightedRandomSampler

SECTION = "bad_input"
PROPERTIES = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run (and no example database)
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Integers that fit a float; bigger ones have their own tests at the end.
SMALL_INTS = st.integers(min_value=-(2**53), max_value=2**53)
SCALARS = st.one_of(st.none(), st.booleans(), SMALL_INTS, st.floats(), st.text(max_size=8))
OTHERS = st.one_of(
    st.binary(max_size=4),
    st.complex_numbers(),
    st.just(object()),
    st.just(Ellipsis),
    st.sets(SMALL_INTS, max_size=2),
    st.builds(Variable, st.text(max_size=3)),
)


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), leaves), lambda inner: st.lists(inner, max_size=4), max_leaves=10
    )


# Valid data by construction: text, or numbers (bools count as ints), possibly nested, with None.
VALID_DATA = st.one_of(
    _nested(st.text(max_size=6)), _nested(st.one_of(SMALL_INTS, st.floats(), st.booleans()))
)


def _anything() -> st.SearchStrategy[Any]:
    """Valid data, nearly valid data and plain garbage, nested."""
    garbage = st.recursive(
        st.one_of(SCALARS, OTHERS),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.tuples(inner, inner),
            st.dictionaries(st.text(max_size=3), inner, max_size=2),
        ),
        max_leaves=10,
    )
    return st.one_of(VALID_DATA, garbage)


ANYTHING = _anything()
_counts: dict[str, int] = {}


def _count(name: str) -> None:
    _counts[name] = _counts.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report(figures):
    yield
    for name, count in sorted(_counts.items()):
        figures.add(SECTION, name, count)


@contextmanager
def no_new_nodes() -> Iterator[list[Any]]:
    """Fails if a graph node is created inside the block."""
    created: list[Any] = []
    with register_graph_observer(
        lambda event: created.append(event) if event.kind == "node_created" else None
    ):
        yield created
    assert created == [], f"a failed operation created graph nodes: {created}"


def _expect(error: type[BaseException], *names: str) -> Callable[[BaseException], None]:
    def check(exc: BaseException) -> None:
        assert type(exc) is error or isinstance(exc, error), f"{type(exc).__name__}: {exc}"
        text = str(exc)
        assert any(name in text for name in names), f"{text!r} names none of {names}"

    return check


# -- an oracle for Variable data ----------------------------------------------------------------


class Invalid(Exception):
    pass


def normalized(data: Any) -> Any:
    """What ``Variable(data).data`` must be (spec §2.1, 0.3.7), or raises :class:`Invalid`."""
    if data is None or isinstance(data, (str, int, float)):
        return data
    if not isinstance(data, list):
        raise Invalid
    kinds: set[str] = set()

    def scan(items: list) -> None:
        for item in items:
            if item is None:
                continue
            if isinstance(item, list):
                scan(item)
            elif isinstance(item, str):
                kinds.add("str")
            elif isinstance(item, float):
                kinds.add("float")
            elif isinstance(item, int):
                kinds.add("int")
            else:
                raise Invalid

    scan(data)
    if "str" in kinds and len(kinds) > 1:
        raise Invalid

    def promote(items: list) -> list:
        return [
            promote(x) if isinstance(x, list) else (float(x) if isinstance(x, int) else x)
            for x in items
        ]

    return promote(data) if kinds == {"int", "float"} else data


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _valid_data() -> st.SearchStrategy[Any]:
    return VALID_DATA


# -- Variable construction and assignment -------------------------------------------------------


@PROPERTIES
@given(
    data=ANYTHING,
    role=st.one_of(st.text(max_size=5), st.none(), SMALL_INTS, st.binary(max_size=2)),
    requires_grad=st.one_of(st.booleans(), st.integers(0, 1), st.none(), st.text(max_size=2)),
)
def test_variable_construction(data, role, requires_grad):
    _count("variable_constructions")
    problems = []
    if not isinstance(requires_grad, bool):
        problems.append("`requires_grad`")
    if role is not None and not isinstance(role, str):
        problems.append("`role`")
    try:
        expected = normalized(data)
    except Invalid:
        problems.append("`data`")
    event("rejected" if problems else "accepted")
    if problems:
        with pytest.raises(TypeError) as info:
            Variable(data, role=role, requires_grad=requires_grad)
        _expect(TypeError, *problems)(info.value)
        return
    v = Variable(data, role=role, requires_grad=requires_grad)
    assert _same(v.data, expected)
    assert v.is_leaf and v.grad_fn is None and v.grad == []


@PROPERTIES
@given(old=_valid_data(), new=ANYTHING)
def test_data_assignment_is_all_or_nothing(old, new):
    _count("data_assignments")
    v = Variable(old, role="r", requires_grad=True)
    before = v.data
    snapshot = copy.deepcopy(before)
    try:
        expected = normalized(new)
    except Invalid:
        event("rejected")
        with pytest.raises(TypeError) as info:
            v.data = new
        _expect(TypeError, "`data`")(info.value)
        assert v.data is before and _same(v.data, snapshot)
        return
    v.data = new
    assert _same(v.data, expected)


@PROPERTIES
@given(value=st.one_of(ANYTHING, st.lists(st.builds(Variable, st.text(max_size=3)), max_size=2)))
def test_other_setters_keep_the_old_value_on_error(value):
    _count("setter_calls")
    v = Variable("x", requires_grad=True)
    grads = v.grad
    grads.append(Variable("kept"))
    for name, ok in (
        ("grad", isinstance(value, list) and all(isinstance(g, Variable) for g in value)),
        ("requires_grad", isinstance(value, bool)),
        ("output_nr", isinstance(value, int) and not isinstance(value, bool) and value >= 0),
    ):
        before = getattr(v, name)
        if ok:
            continue
        with pytest.raises(TypeError) as info:
            setattr(v, name, value)
        _expect(TypeError, f"`{name}`")(info.value)
        assert getattr(v, name) is before or getattr(v, name) == before
    assert v.grad is grads and [g.data for g in v.grad] == ["kept"]


# -- basic ops -----------------------------------------------------------------------------------


def _variables() -> st.SearchStrategy[Variable]:
    return st.builds(
        Variable,
        _valid_data(),
        role=st.text(max_size=3),
        requires_grad=st.booleans(),
    )


def _add_oracle(a: Any, b: Any) -> Any:
    """``x.data + y.data`` as Add documents it, or raises ValueError."""
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
            raise ValueError
        return [_add_oracle(x, y) for x, y in zip(a, b)]
    if a is None or b is None:
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b
    return f"{a}{b}"


@PROPERTIES
@given(x=_variables(), y=st.one_of(_variables(), ANYTHING))
def test_add(x, y):
    _count("add_calls")
    before = (copy.deepcopy(x.data), copy.deepcopy(getattr(y, "data", None)))
    if not isinstance(y, Variable):
        with no_new_nodes(), pytest.raises(TypeError, match="Only Variables can be added"):
            x + y
        with no_new_nodes(), pytest.raises(TypeError, match="`y`"):
            F.add(x, y)
        return
    try:
        expected = normalized(_add_oracle(x.data, y.data))
    except ValueError:
        event("shape error")
        with no_new_nodes(), pytest.raises(ValueError):
            x + y
        assert _same(x.data, before[0]) and _same(y.data, before[1])
        return
    except Invalid:  # the sum itself is no valid data (cannot happen for valid inputs)
        pytest.fail(f"valid inputs {x.data!r} + {y.data!r} give invalid data")
    z = x + y
    assert _same(z.data, expected)
    assert z.requires_grad == (x.requires_grad or y.requires_grad)


def _sum_oracle(values: list[Any]) -> Any:
    if any(isinstance(v, list) for v in values):
        if not all(isinstance(v, list) for v in values):
            raise TypeError
        if len({len(v) for v in values}) != 1:
            raise ValueError
        return [_sum_oracle([v[i] for v in values]) for i in range(len(values[0]))]
    if any(v is None for v in values):
        return None
    if all(isinstance(v, (int, float)) for v in values):
        total = values[0]
        for v in values[1:]:
            total = total + v
        return total
    return "".join(f"<ITEM>{v}</ITEM>" for v in values)


@PROPERTIES
@given(
    items=st.one_of(st.lists(_variables(), max_size=4), st.lists(ANYTHING, max_size=3), ANYTHING)
)
def test_sum(items):
    _count("sum_calls")
    if not isinstance(items, list) or not all(isinstance(v, Variable) for v in items):
        assume(not isinstance(items, tuple))  # a tuple of Variables is accepted
        with no_new_nodes(), pytest.raises(TypeError) as info:
            F.sum(items)
        _expect(TypeError, "`x`")(info.value)
        return
    if not items:
        with no_new_nodes(), pytest.raises(ValueError) as info:
            F.sum(items)
        _expect(ValueError, "`x`")(info.value)
        return
    try:
        expected = normalized(_sum_oracle([v.data for v in items]))
    except (TypeError, ValueError) as exc:
        event(f"sum {type(exc).__name__}")
        with no_new_nodes(), pytest.raises(type(exc)):
            F.sum(items)
        return
    out = F.sum(items)
    assert _same(out.data, expected)
    assert out.role == " and ".join(v.role for v in items)


SEPS = st.one_of(
    st.none(),
    st.text(max_size=2),
    st.builds(Variable, st.one_of(st.text(max_size=2), st.none(), SMALL_INTS)),
    SMALL_INTS,
    st.booleans(),
    st.lists(st.text(max_size=1), max_size=1),
)
MAXSPLITS = st.one_of(
    st.integers(-2, 4),
    st.builds(Variable, st.one_of(st.integers(-1, 3), st.text(max_size=1))),
    st.booleans(),
    st.text(max_size=1),
    st.floats(),
    st.none(),
)


TEXTS = st.builds(
    Variable,
    st.one_of(
        st.text(max_size=12), st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=3)
    ),
    role=st.text(max_size=3),
)


@PROPERTIES
@given(
    x=st.one_of(TEXTS, _variables(), ANYTHING),
    sep=st.one_of(st.sampled_from([None, " ", ",", "ab"]), SEPS),
    maxsplit=st.one_of(st.integers(-1, 3), MAXSPLITS),
)
def test_split(x, sep, maxsplit):
    _count("split_calls")

    def unwrap(value: Any) -> Any:
        return value.data if isinstance(value, Variable) else value

    sep_value, max_value = unwrap(sep), unwrap(maxsplit)
    data = x.data if isinstance(x, Variable) else None
    items = data if isinstance(data, list) else [data]
    problem: tuple[type[BaseException], str] | None = None
    if not isinstance(x, Variable):
        problem = (TypeError, "`x`")
    elif data is None or not all(i is None or isinstance(i, str) for i in items):
        problem = (TypeError, "`x.data`")
    elif sep_value is not None and (isinstance(sep_value, bool) or not isinstance(sep_value, str)):
        problem = (TypeError, "`sep`")
    elif sep_value == "":
        problem = (ValueError, "`sep`")
    elif max_value is not None and (isinstance(max_value, bool) or not isinstance(max_value, int)):
        problem = (TypeError, "`maxsplit`")
    event(f"split: {problem[1] if problem else 'ok'}")
    if problem is not None:
        with no_new_nodes(), pytest.raises(problem[0]) as info:
            F.split(x, sep, maxsplit)
        _expect(*problem)(info.value)
        return
    parts = F.split(x, sep, maxsplit)
    limit = -1 if max_value is None else max_value
    if isinstance(data, list):
        pieces = [None if i is None else (i.split(sep_value, limit) or [""]) for i in data]
        for k, part in enumerate(parts):
            assert part.data == [
                None if p is None else (p[k] if k < len(p) else "") for p in pieces
            ]
    else:
        assert [p.data for p in parts] == (data.split(sep_value, limit) or [""])


# -- chat completion -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.fixture(scope="module")
def model(server) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _chat() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": [Parameter("Answer briefly.", role="system prompt")]},
        {"role": "user", "content": [Variable("Translate {text} to {lang}.", role="task")]},
    ]


def _inputs() -> dict[str, Any]:
    return {"text": ["hello", "bye"], "lang": "Italian"}


NOT_A_CLIENT = st.one_of(st.none(), st.text(max_size=3), st.just(object()), st.builds(dict))
BAD_MESSAGE_LISTS = st.one_of(
    st.none(), st.text(max_size=3), st.builds(dict), st.tuples(st.builds(dict)), SMALL_INTS
)


def _mutations() -> st.SearchStrategy[tuple[str, Callable[[dict[str, Any]], None], tuple]]:
    """One thing wrong with a valid chat_completion call: (label, mutation, expected)."""

    def set_(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda call: call.__setitem__(key, value)

    def message(i: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
        def mutate(call: dict[str, Any]) -> None:
            msg = dict(call["messages"][i])
            for key, value in changes.items():
                if value is KeyError:
                    msg.pop(key)
                else:
                    msg[key] = value
            call["messages"][i] = msg

        return mutate

    def input_(name: Any, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda call: call["inputs"].__setitem__(name, value)

    def drop_model(call: dict[str, Any]) -> None:
        call["args"].pop("model")

    return st.one_of(
        NOT_A_CLIENT.map(
            lambda v: ("client", set_("client", v), (TypeError, "forward_model_client"))
        ),
        BAD_MESSAGE_LISTS.map(
            lambda v: ("messages", set_("messages", v), (TypeError, "`messages`"))
        ),
        st.sampled_from(
            [
                (
                    "message item",
                    lambda c: c["messages"].append("hi"),
                    (TypeError, "`messages[2]`"),
                ),
                ("no role", message(0, role=KeyError), (ValueError, "`messages[0]`")),
                ("no content", message(1, content=KeyError), (ValueError, "`messages[1]`")),
                ("role type", message(0, role=1), (TypeError, "`messages[0]['role']`")),
                ("content str", message(1, content="hi"), (TypeError, "`messages[1]['content']`")),
                (
                    "content item",
                    message(1, content=["hi"]),
                    (TypeError, "`messages[1]['content']`"),
                ),
                ("inputs list", set_("inputs", ["hello"]), (TypeError, "`inputs`")),
                ("inputs key", input_(3, "x"), (TypeError, "`inputs`")),
                ("input None", input_("lang", None), (TypeError, "`inputs['lang']`")),
                ("input dict", input_("lang", {"a": 1}), (TypeError, "`inputs['lang']`")),
                ("input tuple", input_("lang", ("a",)), (TypeError, "`inputs['lang']`")),
                ("input mixed", input_("text", ["a", 1.5, None]), (TypeError, "`inputs['text']`")),
                ("input empty", input_("text", []), (ValueError, "`inputs['text']`")),
                ("batch sizes", input_("lang", ["a", "b", "c"]), (ValueError, "inputs['lang']")),
                (
                    "nested batch",
                    input_("text", [Variable(["a"]), Variable(["b"])]),
                    (TypeError, "`inputs['text']`"),
                ),
                ("placeholder", lambda c: c["inputs"].pop("lang"), (ValueError, "{lang}")),
                ("model", drop_model, (TypeError, "model")),
            ]
        ),
    )


@PROPERTIES
@given(mutation=_mutations())
def test_chat_completion_rejects_bad_arguments_before_any_call(mutation, server, model):
    _count("chat_completion_calls")
    label, mutate, (error, name) = mutation
    call = {
        "client": model,
        "messages": _chat(),
        "inputs": _inputs(),
        "args": {"model": "gpt-4o-mini"},
    }
    mutate(call)
    server.clear_log()
    with no_new_nodes(), pytest.raises(error) as info:
        F.chat_completion(call["client"], call["messages"], call["inputs"], **call["args"])
    _expect(error, name)(info.value)
    assert server.requests == [], f"{label}: a request reached the model"


def test_chat_completion_valid_call_goes_through(server, model):
    server.clear_log()
    out = F.chat_completion(model, _chat(), _inputs(), model="gpt-4o-mini")
    assert len(out.data) == 2 and len(server.requests) == 2 and out.grad_fn is not None


# -- evaluators ----------------------------------------------------------------------------------


def exact(p: Any, t: Any) -> int:
    return int(p == t)


def _evaluator_mutations() -> st.SearchStrategy[tuple[str, dict[str, Any], tuple]]:
    bad_targets = st.one_of(
        st.none(),
        st.builds(dict),
        st.tuples(st.text(max_size=1)),
        st.binary(max_size=2),
        st.complex_numbers(),
        st.just(object()),
    )
    bad_purposes = st.one_of(SMALL_INTS, st.none(), st.builds(Variable, SMALL_INTS))
    not_callable = st.one_of(SMALL_INTS, st.text(max_size=2), st.builds(dict))
    return st.one_of(
        st.one_of(ANYTHING.filter(lambda v: not isinstance(v, Variable))).map(
            lambda v: ("prediction", {"prediction": v}, (TypeError, "`prediction`"))
        ),
        bad_targets.map(lambda v: ("target", {"target": v}, (TypeError, "`target`"))),
        not_callable.map(lambda v: ("eval_fn", {"eval_fn": v}, (TypeError, "`eval_fn`"))),
        bad_purposes.map(lambda v: ("purpose", {"purpose": v}, (TypeError, "`eval_fn_purpose`"))),
        st.sampled_from(["", "   ", Variable("")]).map(
            lambda v: ("empty purpose", {"purpose": v}, (ValueError, "`eval_fn_purpose`"))
        ),
        not_callable.map(lambda v: ("success_fn", {"success_fn": v}, (TypeError, "`success_fn`"))),
        not_callable.map(
            lambda v: ("reduction_fn", {"reduction_fn": v}, (TypeError, "`reduction_fn`"))
        ),
        st.sampled_from(
            [
                ("empty reduction purpose", {"reduction_purpose": ""}, ValueError),
                ("no reduction purpose", {"reduction_purpose": None}, TypeError),
            ]
        ).map(lambda case: (case[0], case[1], (case[2], "`reduction_fn_purpose`"))),
        st.sampled_from(
            [
                ("target length", {"target": ["a"]}, (ValueError, "`target`")),
                ("scalar vs batch", {"prediction": Variable("a")}, (ValueError, "`target`")),
                ("eval_fn result", {"eval_fn": lambda p, t: "yes"}, (TypeError, "`eval_fn`")),
                ("eval_fn list", {"eval_fn": lambda p, t: [1]}, (TypeError, "`eval_fn`")),
            ]
        ),
    )


@PROPERTIES
@given(mutation=_evaluator_mutations())
def test_deterministic_evaluator_rejects_bad_arguments(mutation):
    _count("evaluator_calls")
    label, changes, (error, name) = mutation
    call = {
        "prediction": Variable(["a", "b"], role="labels", requires_grad=True),
        "target": ["a", "c"],
        "eval_fn": exact,
        "purpose": "exact match",
        "success_fn": None,
        "reduction_fn": sum,
        "reduction_purpose": "summation",
        **changes,
    }
    with no_new_nodes(), pytest.raises((TypeError, ValueError)) as info:
        F.deterministic_evaluator(
            call["prediction"],
            call["target"],
            call["eval_fn"],
            call["purpose"],
            call["success_fn"],
            call["reduction_fn"],
            call["reduction_purpose"],
        )
    _expect(error, name)(info.value)


@PROPERTIES
@given(mutation=_evaluator_mutations())
def test_exact_match_evaluator_rejects_bad_arguments(mutation):
    label, changes, (error, name) = mutation
    assume(not ({"eval_fn", "purpose", "success_fn"} & set(changes)))
    _count("evaluator_calls")
    call = {
        "prediction": Variable(["a", "b"], role="labels"),
        "target": ["a", "c"],
        "reduction_fn": sum,
        "reduction_purpose": "summation",
        **changes,
    }
    with no_new_nodes(), pytest.raises((TypeError, ValueError)) as info:
        F.exact_match_evaluator(
            call["prediction"], call["target"], call["reduction_fn"], call["reduction_purpose"]
        )
    _expect(error, name)(info.value)


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        ({"client": None}, TypeError, "forward_model_client"),
        ({"messages": "judge"}, TypeError, "`messages`"),
        ({"prediction": "a"}, TypeError, "`prediction`"),
        ({"inputs": {"prediction": "x"}}, ValueError, "`inputs`"),
        ({"inputs": {"target": "x"}}, ValueError, "`inputs`"),
        ({"inputs": ["x"]}, TypeError, "`inputs`"),
        ({"eval_mode": "yes"}, TypeError, "`eval_mode`"),
        ({"success_fn": 3}, TypeError, "`success_fn`"),
        ({"reduction_fn": 3}, TypeError, "`reduction_fn`"),
        ({"reduction_fn_purpose": ""}, ValueError, "`reduction_fn_purpose`"),
        ({"target": ["a", "b", "c"]}, ValueError, "target"),
        ({"args": {}}, TypeError, "model"),
    ],
)
def test_lm_judge_rejects_bad_arguments_before_any_call(changes, error, name, server, model):
    _count("evaluator_calls")
    call = {
        "client": model,
        "messages": [{"role": "user", "content": [Variable("Is {prediction} {target}?")]}],
        "prediction": Variable(["a", "b"], requires_grad=True),
        "target": ["a", "c"],
        "inputs": None,
        "success_fn": None,
        "reduction_fn": sum,
        "reduction_fn_purpose": "summation",
        "eval_mode": True,
        "args": {"model": "gpt-4o-mini"},
        **changes,
    }
    args = call.pop("args")
    client = call.pop("client")
    messages = call.pop("messages")
    prediction = call.pop("prediction")
    server.clear_log()
    with no_new_nodes(), pytest.raises(error) as info:
        F.lm_judge_evaluator(client, messages, prediction, **call, **args)
    _expect(error, name)(info.value)
    assert server.requests == []


# -- data loading --------------------------------------------------------------------------------

LOADER_MUTATIONS = st.one_of(
    st.sampled_from([3, None, object(), iter([1, 2])]).map(
        lambda v: ({"dataset": v}, TypeError, "dataset")
    ),
    st.sampled_from([0, -1, True, 1.5, "2", None]).map(
        lambda v: ({"batch_size": v}, ValueError, "batch_size")
    ),
    st.sampled_from([1, 0, "yes", None]).map(lambda v: ({"shuffle": v}, ValueError, "shuffle")),
    st.sampled_from([1, "no", None]).map(lambda v: ({"drop_last": v}, ValueError, "drop_last")),
    st.sampled_from([1.5, "1", True]).map(lambda v: ({"seed": v}, TypeError, "seed")),
    st.just(({"sampler": [0, 1], "shuffle": True}, ValueError, "sampler")),
    st.sampled_from([3, 2.5]).map(lambda v: ({"sampler": v}, TypeError, "sampler")),
)


@PROPERTIES
@given(mutation=LOADER_MUTATIONS)
def test_dataloader_rejects_bad_arguments(mutation):
    _count("dataloader_constructions")
    changes, error, name = mutation
    args = {"dataset": list("abcde"), "batch_size": 2, **changes}
    with pytest.raises(error) as info:
        DataLoader(**args)
    _expect(error, name)(info.value)


SAMPLER_CASES = [
    (lambda: RandomSampler(range(3), replacement=1), TypeError, "replacement"),
    (lambda: RandomSampler(range(3), num_samples=0), ValueError, "num_samples"),
    (lambda: RandomSampler(range(3), num_samples=True), ValueError, "num_samples"),
    (lambda: RandomSampler(range(3), num_samples=2.0), ValueError, "num_samples"),
    (lambda: RandomSampler([]), ValueError, "num_samples"),
    (lambda: RandomSampler(range(3), seed="1"), TypeError, "seed"),
    (lambda: WeightedRandomSampler([1.0], num_samples=0), ValueError, "num_samples"),
    (lambda: WeightedRandomSampler([1.0], 1, replacement="yes"), ValueError, "replacement"),
    (lambda: WeightedRandomSampler([], 1), ValueError, "eights"),
    (lambda: WeightedRandomSampler("ab", 1), ValueError, "eights"),
    (lambda: WeightedRandomSampler([True, 1.0], 1), ValueError, "eights"),
    (lambda: WeightedRandomSampler([1.0, -1.0], 1), ValueError, "weights"),
    (lambda: WeightedRandomSampler([1.0, math.nan], 1), ValueError, "weights"),
    (lambda: WeightedRandomSampler([1.0, math.inf], 1), ValueError, "weights"),
    (lambda: WeightedRandomSampler([0.0, 0.0], 1), ValueError, "weights"),
    (lambda: WeightedRandomSampler([1.0, 2.0], 3, replacement=False), ValueError, "num_samples"),
    (lambda: WeightedRandomSampler([1.0, 0.0], 2, replacement=False), ValueError, "num_samples"),
    (lambda: WeightedRandomSampler([1.0], 1, seed=1.0), TypeError, "seed"),
]


@pytest.mark.parametrize(("make", "error", "name"), SAMPLER_CASES)
def test_samplers_reject_bad_arguments(make, error, name):
    _count("sampler_constructions")
    with pytest.raises(error) as info:
        make()
    _expect(error, name)(info.value)


@PROPERTIES
@given(
    n=st.integers(0, 25),
    batch_size=st.integers(1, 8),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.one_of(st.none(), st.integers(0, 2**32)),
)
def test_dataloader_loses_and_repeats_nothing(n, batch_size, shuffle, drop_last, seed):
    _count("dataloader_passes")
    samples = [Variable(f"s{i}", role="sample") for i in range(n)]
    if n == 0 and shuffle:  # a RandomSampler refuses an empty dataset (spec §14.2)
        with pytest.raises(ValueError, match="num_samples"):
            DataLoader(samples, batch_size, shuffle=True, seed=seed)
        return
    loader = DataLoader(samples, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    batches = [batch.data for batch in loader]
    assert len(batches) == len(loader)
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = [item for batch in batches for item in batch]
    expected = n - (n % batch_size if drop_last else 0)
    assert len(seen) == len(set(seen)) == expected
    assert set(seen) <= {f"s{i}" for i in range(n)}
    if not shuffle:
        assert seen == [f"s{i}" for i in range(expected)]
    elif seed is not None:
        assert [batch.data for batch in loader] == batches  # the same order on every pass


# -- Module registration and state dicts ---------------------------------------------------------


def _agent() -> cog.Module:
    agent = cog.Module()
    agent.prompt = Parameter("Be brief.", role="system prompt")
    agent.examples = Parameter(["a", "b"], role="examples", requires_grad=False)
    agent.register_buffer("sep", Variable(" | ", role="separator"))
    agent.chat = [{"role": "system", "content": [Variable("Hi", role="greeting")]}]
    agent.args = {"temperature": 0}
    agent.reduce = sum
    agent.child = cog.Module()
    agent.child.inner = Parameter("inner", role="inner prompt")
    agent.plain = "a plain attribute"
    return agent


def _snapshot(module: cog.Module) -> Any:
    """Everything a failed operation must leave as it was (objects and their contents)."""
    registries = {
        name: list(getattr(module, name).items())
        for name in (
            "_parameters",
            "_buffers",
            "_chats",
            "_models",
            "_completion_configs",
            "_functions",
            "_modules",
        )
    }
    values = [
        (v, copy.deepcopy(v.data), v.role, v.requires_grad)
        for v in [*module.parameters(), *module.buffers()]
        + [var for chat in module.chats() for msg in chat for var in msg["content"]]
    ]
    configs = [copy.deepcopy(c) for c in module.completion_configs()]
    attributes = {k: v for k, v in vars(module).items() if k not in registries}
    return registries, values, configs, attributes, set(module._non_persistent_buffers_set)


def _same_snapshot(a: Any, b: Any) -> bool:
    (ra, va, ca, aa, na), (rb, vb, cb, ab, nb) = a, b
    return (
        all(
            len(ra[k]) == len(rb[k])
            and all(x[0] == y[0] and x[1] is y[1] for x, y in zip(ra[k], rb[k]))
            for k in ra
        )
        and len(va) == len(vb)
        and all(x[0] is y[0] and _same(x[1], y[1]) and x[2:] == y[2:] for x, y in zip(va, vb))
        and ca == cb
        and aa.keys() == ab.keys()
        and all(aa[k] is ab[k] for k in aa)
        and na == nb
    )


NAMES = st.one_of(
    st.sampled_from(["", "a.b", "forward", "training", "parameters", "state_dict"]),
    st.one_of(SMALL_INTS, st.none(), st.binary(max_size=2)),
)
VALUES = st.one_of(ANYTHING, st.builds(Parameter, st.text(max_size=2)), st.just(cog.Module()))
REGISTER = ["parameter", "buffer", "chat", "model", "completion_config", "function", "module"]


def _registration_error(kind: str, name: Any, value: Any) -> type[BaseException] | None:
    """What ``register_{kind}(name, value)`` must raise (§9.3 and docstrings), if anything."""
    if not isinstance(name, str):
        return TypeError
    if name in ("", "a.b", "forward", "training", "parameters", "state_dict"):
        return KeyError
    accepted = {
        "parameter": lambda v: isinstance(v, Parameter),
        "buffer": lambda v: isinstance(v, Variable),
        "chat": lambda v: False,
        "model": lambda v: False,
        "completion_config": lambda v: isinstance(v, dict),
        "function": lambda v: False,
        "module": lambda v: isinstance(v, cog.Module),
    }[kind]
    if value is None or accepted(value):
        return None
    if (
        kind == "chat"
        and isinstance(value, list)
        and any(isinstance(m, dict) and not {"role", "content"} <= set(m) for m in value)
    ):
        return ValueError
    return TypeError


@PROPERTIES
@given(kind=st.sampled_from(REGISTER), name=st.one_of(NAMES, st.just("fresh")), value=VALUES)
def test_failed_registration_changes_nothing(kind, name, value):
    _count("registrations")
    agent = _agent()
    expected = _registration_error(kind, name, value)
    assume(expected is not None)
    before = _snapshot(agent)
    with pytest.raises((TypeError, KeyError, ValueError)) as info:
        getattr(agent, f"register_{kind}")(name, value)
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert _same_snapshot(before, _snapshot(agent))


MEMBERS = ["prompt", "sep", "chat", "args", "reduce", "child"]


@PROPERTIES
@given(name=st.sampled_from(MEMBERS), value=ANYTHING)
def test_assigning_a_wrong_type_to_a_member_changes_nothing(name, value):
    _count("registrations")
    agent = _agent()
    kind = agent._registry_of(name)
    try:
        accepted = value is None or agent._accepts(kind, value) or isinstance(value, Parameter)
    except ValueError:  # looks like chat messages but is malformed: refused too
        accepted = False
    assume(not accepted)
    before = _snapshot(agent)
    with pytest.raises((TypeError, ValueError)) as info:
        setattr(agent, name, value)
    _expect(type(info.value), name)(info.value)
    assert _same_snapshot(before, _snapshot(agent))


def _corruptions() -> st.SearchStrategy[tuple[str, Callable[[dict[str, Any]], None]]]:
    def drop(key: str) -> Callable[[dict[str, Any]], None]:
        return lambda sd: sd.pop(key)

    def put(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda sd: sd.__setitem__(key, value)

    return st.sampled_from(
        [
            ("missing parameter", drop("prompt")),
            ("missing child parameter", drop("child.inner")),
            ("unexpected key", put("nonsense", Variable("x"))),
            ("unexpected child key", put("child.nonsense", 1)),
            ("parameter is a str", put("prompt", "Be brief.")),
            ("list where a scalar was", put("prompt", Variable(["a"]))),
            ("scalar where a list was", put("examples", Variable("a"))),
            ("list of another length", put("examples", Variable(["a", "b", "c"]))),
            ("buffer is None", put("sep", None)),
            ("chat of another length", put("chat", [])),
            (
                "chat with another role",
                put("chat", [{"role": "user", "content": [Variable("Hi")]}]),
            ),
            ("chat not messages", put("chat", "Hi")),
            ("config not a dict", put("args", [("temperature", 1)])),
            ("function not a function", put("reduce", "sum")),
        ]
    )


@PROPERTIES
@given(
    corruption=_corruptions(),
    also_valid=st.booleans(),
    strict=st.booleans(),
)
def test_failed_load_state_dict_changes_nothing(corruption, also_valid, strict):
    _count("load_state_dict_calls")
    label, corrupt = corruption
    assume(strict or not label.startswith(("missing", "unexpected")))
    agent = _agent()
    state = agent.state_dict()
    if also_valid:  # valid changes next to the bad one: none of them may be applied either
        state["child.inner"] = Variable("changed", role="changed")
        state["args"] = {"temperature": 1}
    corrupt(state)
    before = _snapshot(agent)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict"):
        agent.load_state_dict(state, strict=strict)
    assert _same_snapshot(before, _snapshot(agent))


@pytest.mark.parametrize("state", [None, "state", ["prompt"], 3])
def test_load_state_dict_rejects_non_mappings(state):
    agent = _agent()
    before = _snapshot(agent)
    with pytest.raises(TypeError, match="state_dict"):
        agent.load_state_dict(state)
    assert _same_snapshot(before, _snapshot(agent))


def _optimizer() -> TGD:
    params = [Parameter("a", role="first"), Parameter("b", role="second")]
    optimizer = TGD(params, model_client=None, momentum=1, model="m")
    optimizer.state[params[0]]["momentum_buffer"] = [(Variable("old"), [Variable("fb")])]
    return optimizer


@pytest.mark.parametrize(
    ("corrupt", "error"),
    [
        (lambda sd: sd.pop("state"), ValueError),
        (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), ValueError),
        (lambda sd: sd["param_groups"][0]["params"].pop(), ValueError),
        (
            lambda sd: sd["param_groups"][0].update(
                model_client={"class_type": "AsyncOpenAI", "provider": "openai", "usage": {}}
            ),
            ValueError,
        ),
    ],
    ids=["no state", "group count", "group size", "missing client"],
)
def test_failed_optimizer_load_state_dict_changes_nothing(corrupt, error):
    _count("load_state_dict_calls")
    optimizer = _optimizer()
    state = optimizer.state_dict()
    state["state"][0]["momentum_buffer"] = [(Variable("new"), [])]
    corrupt(state)
    groups_before = [dict(g) for g in optimizer.param_groups]
    state_before = {k: dict(v) for k, v in optimizer.state.items()}
    with pytest.raises(error):
        optimizer.load_state_dict(state)
    assert [dict(g) for g in optimizer.param_groups] == groups_before
    assert {k: dict(v) for k, v in optimizer.state.items()} == state_before


# -- edge cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("old", ["buffer", "plain attribute"])
def test_a_rejected_parameter_keeps_the_member_it_would_replace(old):
    agent = _agent()
    name = "sep" if old == "buffer" else "plain"
    non_leaf = Parameter("a", role="p", requires_grad=False)
    non_leaf += Variable("b", requires_grad=True)
    assert non_leaf.grad_fn is not None
    before = _snapshot(agent)
    with pytest.raises(ValueError, match="non-leaf"):
        setattr(agent, name, non_leaf)
    assert _same_snapshot(before, _snapshot(agent))


def test_a_rejected_name_keeps_the_attribute_it_would_replace():
    agent = _agent()
    setattr(agent, "a.b", "plain value")
    with pytest.raises(KeyError):
        setattr(agent, "a.b", {"temperature": 0})
    assert getattr(agent, "a.b") == "plain value"


def test_huge_ints_in_a_mixed_list_raise_the_documented_error():
    with pytest.raises(TypeError, match="`data`"):
        Variable([10**400, 0.5])


@pytest.mark.parametrize("op", ["add", "sum"])
def test_adding_huge_ints_to_floats_raises_a_documented_error(op):
    x, y = Variable(10**400, role="x"), Variable(0.5, role="y")
    with no_new_nodes(), pytest.raises((TypeError, ValueError)):
        F.add(x, y) if op == "add" else F.sum([x, y])


def test_split_with_a_huge_maxsplit():
    assert [p.data for p in F.split(Variable("a b c"), " ", 10**30)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.add(Variable("a"), Variable(["a"])),
        lambda: F.add(Variable(["a"]), Variable(["a", "b"])),
        lambda: F.sum([Variable("a"), Variable(["a"])]),
        lambda: F.sum([Variable(["a"]), Variable(["a", "b"])]),
    ],
    ids=["add scalar+list", "add lengths", "sum scalar+list", "sum lengths"],
)
def test_shape_errors_of_add_and_sum_name_their_arguments(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert "`x`" in str(info.value) or "`y`" in str(info.value)
