"""Deterministic operations on Variables: :class:`Add`, :class:`Sum`, :class:`Split` and
:class:`Clone`.

Their backward passes make no model call: each input receives the feedback that reached the
output, introduced by one sentence that names the input's role.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from afnio._variable import Variable
from afnio.autodiff.function import Function, FunctionCtx

__all__ = ["Add", "Clone", "Split", "Sum"]


def _combined_feedback(role: str, feedback: Any) -> Any:
    """The gradient text an input gets from the feedback on the output (item by item)."""
    if isinstance(feedback, list):
        return [_combined_feedback(role, item) for item in feedback]
    if feedback is None or feedback == "":
        return ""
    return (
        f"Here is the combined feedback we got for this specific {role} and other variables: "
        f"{feedback}"
    )


def _input_facts(*inputs: Variable) -> tuple[tuple[str, bool], ...]:
    """The role and ``requires_grad`` of each input when the op ran.

    Backward texts name the inputs as they were: an in-place op (``x += y``) may change an
    input's role afterwards.
    """
    return tuple((v.role, v.requires_grad) for v in inputs)


def _gradient_for(facts: tuple[str, bool], grad_output: Variable) -> Variable | None:
    role, requires_grad = facts
    if not requires_grad:
        return None
    return Variable(_combined_feedback(role, grad_output.data), role=f"feedback to {role}")


def _check_grad_output(name: str, grad_output: Any) -> Variable:
    if not isinstance(grad_output, Variable):
        raise TypeError(
            f"{name} backward expects `grad_output` to be a Variable, but got "
            f"{type(grad_output).__name__}."
        )
    return grad_output


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, str)


def _numeric_sum(values: list[Any], what: str) -> Any:
    total = values[0]
    try:
        for v in values[1:]:
            total = total + v
    except OverflowError:
        raise ValueError(f"The sum of {what} overflows: an int is too large for a float.") from None
    return total


def _add_values(a: Any, b: Any) -> Any:
    if isinstance(a, list) or isinstance(b, list):
        if not (isinstance(a, list) and isinstance(b, list)):
            raise ValueError(
                "Cannot add a scalar and a list: `x` and `y` must both hold scalars, or lists of "
                f"the same length (got {type(a).__name__} and {type(b).__name__})."
            )
        if len(a) != len(b):
            raise ValueError(
                f"Cannot add lists of different lengths: `x` has {len(a)} items, `y` {len(b)}."
            )
        return [_add_values(x, y) for x, y in zip(a, b)]
    if a is None or b is None:
        return None  # a missing sample stays missing
    if _is_number(a) and _is_number(b):
        return _numeric_sum([a, b], "`x` and `y`")
    return f"{a}{b}"


class Add(Function):
    """Adds two Variables: numbers are summed, text is concatenated, lists go item by item.

    The output's role is ``"{x.role} and {y.role}"``. Backward gives each input that requires
    grad the feedback on the output, introduced by
    ``"Here is the combined feedback we got for this specific {role} and other variables: "``.

    Raises:
        TypeError: If ``x`` or ``y`` is not a Variable.
        ValueError: If one holds a list and the other a scalar, or the lists' lengths differ.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.basic_ops import Add
        >>> x = afnio.Variable("abc", role="first input", requires_grad=True)
        >>> y = afnio.Variable("def", role="second input")
        >>> z = Add.apply(x, y)
        >>> z.data, z.role
        ('abcdef', 'first input and second input')
    """

    _inline_backward = True

    @staticmethod
    def forward(ctx: FunctionCtx, x: Variable, y: Variable) -> Variable:
        for name, value in (("x", x), ("y", y)):
            if not isinstance(value, Variable):
                raise TypeError(
                    f"Add expects `{name}` to be a Variable, but got {type(value).__name__}: "
                    f"{value!r:.80}."
                )
        ctx.save_for_backward(*_input_facts(x, y))
        return Variable(_add_values(x.data, y.data), role=f"{x.role} and {y.role}")

    @staticmethod
    def backward(
        ctx: FunctionCtx, grad_output: Variable
    ) -> tuple[Variable | None, Variable | None]:
        grad_output = _check_grad_output("Add", grad_output)
        x, y = ctx.saved_variables
        return _gradient_for(x, grad_output), _gradient_for(y, grad_output)


def _sum_values(values: list[Any]) -> Any:
    if any(isinstance(v, list) for v in values):
        if not all(isinstance(v, list) for v in values):
            raise TypeError(
                "Sum cannot mix Variables holding lists and Variables holding scalars in `x`."
            )
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise ValueError(
                f"Sum needs the lists in `x` to have one length, got lengths {sorted(lengths)}."
            )
        return [_sum_values([v[i] for v in values]) for i in range(lengths.pop())]
    if any(v is None for v in values):
        return None
    if all(_is_number(v) for v in values):
        return _numeric_sum(values, "`x`")
    return "".join(f"<ITEM>{v}</ITEM>" for v in values)


class Sum(Function):
    """Aggregates a list of Variables into one.

    Numbers are summed; text items are concatenated, each wrapped in ``<ITEM></ITEM>``; lists are
    aggregated item by item. The role joins the inputs' roles with ``" and "``. Backward gives each
    input that requires grad the feedback on the output (same sentence as :class:`Add`).

    Raises:
        TypeError: If ``x`` is not a list of Variables, or mixes lists and scalars.
        ValueError: If ``x`` is empty or its lists have different lengths.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.basic_ops import Sum
        >>> a = afnio.Variable("abc", role="input1")
        >>> b = afnio.Variable("def", role="input2")
        >>> Sum.apply([a, b]).data
        '<ITEM>abc</ITEM><ITEM>def</ITEM>'
    """

    _inline_backward = True

    @staticmethod
    def forward(ctx: FunctionCtx, x: list[Variable]) -> Variable:
        if not isinstance(x, (list, tuple)) or not all(isinstance(v, Variable) for v in x):
            raise TypeError(
                f"Sum expects `x` to be a list of Variables, but got {type(x).__name__}: {x!r:.80}."
            )
        if not x:
            raise ValueError("Sum expects `x` to hold at least one Variable, but it is empty.")
        ctx.save_for_backward(*_input_facts(*x))
        data = _sum_values([v.data for v in x])
        return Variable(data, role=" and ".join(v.role for v in x))

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Variable) -> tuple[Variable | None, ...]:
        grad_output = _check_grad_output("Sum", grad_output)
        return tuple(_gradient_for(facts, grad_output) for facts in ctx.saved_variables)


def _unwrap(name: str, value: Any, kinds: tuple[type, ...], what: str) -> Any:
    if isinstance(value, Variable):
        value = value.data
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise TypeError(f"Split expects `{name}` to be {what}, but got {value!r:.80}.")
    return value


class Split(Function):
    """Splits text like ``str.split``, returning one Variable per part.

    With list data each item is split and output ``i`` holds the ``i``-th part of every item;
    items with fewer parts are padded with ``""``. Output ``i`` has role
    ``"split part {i} of {x.role}"``. Backward joins the feedback of all parts in order, each in
    ``<ITEM></ITEM>`` (empty for parts without feedback), after the same sentence as :class:`Add`.

    Args:
        x: A Variable holding a string or a list of strings.
        sep: The separator (a string or a Variable holding one); ``None`` splits on whitespace.
        maxsplit: The maximum number of splits (an int or a Variable holding one); ``-1`` for no
            limit.

    Raises:
        TypeError: If ``x`` does not hold text, or ``sep``/``maxsplit`` have the wrong type.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.basic_ops import Split
        >>> x = afnio.Variable(["afnio is great!", "Deep learning"], role="sentences")
        >>> [p.data for p in Split.apply(x, " ", 2)]
        [['afnio', 'Deep'], ['is', 'learning'], ['great!', '']]
    """

    _inline_backward = True

    @staticmethod
    def forward(
        ctx: FunctionCtx, x: Variable, sep: Any = None, maxsplit: Any = -1
    ) -> tuple[Variable, ...]:
        if not isinstance(x, Variable):
            raise TypeError(f"Split expects `x` to be a Variable, but got {type(x).__name__}.")
        data = x.data
        batched = isinstance(data, list)
        items = data if batched else [data]
        if not all(item is None or isinstance(item, str) for item in items) or (
            not batched and data is None
        ):
            raise TypeError(
                f"Split expects `x.data` to be a string or a list of strings, but got {data!r:.80}."
            )
        sep_value = _unwrap("sep", sep, (str,), "a string, a Variable holding one, or None")
        if sep_value == "":
            raise ValueError("Split expects `sep` to be a non-empty string or None.")
        max_value = _unwrap("maxsplit", maxsplit, (int,), "an int or a Variable holding one")
        if max_value is None:
            max_value = -1
        # str.split takes a C ssize_t; more splits than characters is the same as no limit.
        max_value = -1 if max_value > sys.maxsize else max(max_value, -1)
        ctx.save_for_backward(*_input_facts(x))
        ctx.n_outputs = 0
        pieces = [
            None if item is None else (item.split(sep_value, max_value) or [""]) for item in items
        ]
        n = (
            max(len(p) for p in pieces if p is not None)
            if any(p is not None for p in pieces)
            else 1
        )
        ctx.n_outputs = n
        outputs = []
        for i in range(n):
            if batched:
                part: Any = [None if p is None else (p[i] if i < len(p) else "") for p in pieces]
            else:
                part = pieces[0][i]  # type: ignore[index]
            outputs.append(Variable(part, role=f"split part {i} of {x.role}"))
        return tuple(outputs)

    @staticmethod
    def backward(
        ctx: FunctionCtx, *grad_outputs: Variable | None
    ) -> tuple[Variable | None, None, None]:
        ((role, requires_grad),) = ctx.saved_variables
        if not requires_grad:
            return None, None, None
        for g in grad_outputs:
            if g is not None:
                _check_grad_output("Split", g)
        lists = [g.data for g in grad_outputs if g is not None and isinstance(g.data, list)]

        def joined(index: int | None) -> Any:
            parts = []
            for g in grad_outputs:
                value = None if g is None else g.data
                if isinstance(value, list) and index is not None:
                    value = value[index]
                parts.append(f"<ITEM>{'' if value is None else value}</ITEM>")
            return _combined_feedback(role, "".join(parts))

        data: Any = [joined(j) for j in range(len(lists[0]))] if lists else joined(None)
        return Variable(data, role=f"feedback to {role}"), None, None


class Clone(Function):
    """Copies a Variable (data and role) inside the graph; backward passes the feedback on the
    copy to the original unchanged. ``Variable.clone()`` calls it.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.basic_ops import Clone
        >>> x = afnio.Variable(["a", "b"], role="drafts", requires_grad=True)
        >>> y = Clone.apply(x)
        >>> y.data, y.role, y.grad_fn.name()
        (['a', 'b'], 'drafts', 'CloneBackward0')
    """

    _inline_backward = True

    @staticmethod
    def forward(ctx: FunctionCtx, x: Variable) -> Variable:
        if not isinstance(x, Variable):
            raise TypeError(
                f"Clone expects `x` to be a Variable, but got {type(x).__name__}: {x!r:.80}."
            )
        ctx.save_for_backward(*_input_facts(x))
        return Variable(copy.deepcopy(x.data), role=x.role)

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Variable) -> Variable | None:
        grad_output = _check_grad_output("Clone", grad_output)
        ((role, requires_grad),) = ctx.saved_variables
        if not requires_grad:
            return None
        return Variable(copy.deepcopy(grad_output.data), role=f"feedback to {role}")
