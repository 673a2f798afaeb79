"""The :class:`Optimizer` base class: parameter groups, per-parameter state, state dicts."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any, Union

from afnio._variable import Variable
from afnio.models.model import BaseModel

__all__ = ["Optimizer", "ParamsT", "StateDict"]

ParamsT = Union[Iterable[Variable], Iterable[dict[str, Any]]]
"""What optimizers accept: Variables, or dicts (parameter groups) with a ``"params"`` entry."""

StateDict = dict[str, Any]

_MODEL_KEYS = frozenset({"class_type", "provider", "usage"})


def _is_saved_model(value: Any) -> bool:
    """Whether ``value`` is a model client in state-dict form (what ``deepcopy`` returns)."""
    return isinstance(value, Mapping) and set(value) == _MODEL_KEYS


def _copy_value(value: Any) -> Any:
    """Copies loaded state: containers and Variables are copied, model clients are kept."""
    if isinstance(value, BaseModel):
        return value
    if isinstance(value, Variable):
        return copy.deepcopy(value) if value.is_leaf else value.detach()
    if isinstance(value, tuple):
        return tuple(_copy_value(item) for item in value)
    if isinstance(value, list):
        return [_copy_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy_value(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _brief(value: Any) -> str:
    """A short rendering for reprs: Variables as their ``str`` (long texts elided)."""
    if isinstance(value, Variable):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_brief(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_brief(item)}" for key, item in value.items()) + "}"
    return repr(value)


class Optimizer:
    """Base class of optimizers, as ``torch.optim.Optimizer``.

    Args:
        params: The Variables to optimize, in a deterministic order (a list, a generator such as
            ``module.parameters()``, not a set), or dicts defining parameter groups: each has a
            ``"params"`` entry and may override any of ``defaults``.
        defaults: Default options of every parameter group.

    Attributes:
        defaults: The default options.
        param_groups: One dict per group: its options and ``"params"``, a list of Variables.
        state: Per-parameter state, a ``defaultdict(dict)`` keyed by Variable.

    Raises:
        TypeError: If ``params`` is a Variable, a set, or holds something other than Variables.
        ValueError: If ``params`` is empty, holds a non-leaf, or holds a Variable twice.

    Example:
        >>> import afnio
        >>> from afnio.optim import Optimizer
        >>> a = afnio.Variable("a", requires_grad=True)
        >>> b = afnio.Variable("b", requires_grad=True)
        >>> opt = Optimizer([{"params": [a]}, {"params": [b], "momentum": 2}], {"momentum": 0})
        >>> [g["momentum"] for g in opt.param_groups]
        [0, 2]
        >>> opt.state_dict()["param_groups"]
        [{'momentum': 0, 'params': [0]}, {'momentum': 2, 'params': [1]}]
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Variable):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Variables or "
                f"dicts, but got {type(params).__name__}."
            )
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of Variables in sets will change between runs. Please use a list "
                "instead."
            )
        try:
            groups: list[Any] = list(params)
        except TypeError:
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Variables or "
                f"dicts, but got {type(params).__name__}."
            ) from None
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a parameter group (appended to the same :attr:`param_groups` list).

        Options missing from ``param_group`` are taken from :attr:`defaults`.

        Raises:
            TypeError: If ``param_group`` is not a dict, its params are a set, or not Variables.
            ValueError: If a param is a non-leaf, or appears twice (in this or another group).

        Example:
            >>> import afnio
            >>> from afnio.optim import Optimizer
            >>> opt = Optimizer([afnio.Variable("a", requires_grad=True)], {"momentum": 0})
            >>> opt.add_param_group({"params": afnio.Variable("b", requires_grad=True)})
            >>> len(opt.param_groups), opt.param_groups[1]["momentum"]
            (2, 0)
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}.")
        params = param_group.get("params")
        if isinstance(params, Variable):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of Variables in sets will change between runs. Please use a list "
                "instead."
            )
        elif params is None:
            raise ValueError("param_group must have a 'params' entry.")
        else:
            params = list(params)
        for param in params:
            if not isinstance(param, Variable):
                raise TypeError(
                    "optimizer can only optimize Variables, but one of the params is "
                    f"{type(param).__name__}."
                )
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Variable")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def clear_grad(self) -> None:
        """Empties the gradient list of every parameter, in place (same list objects).

        Example:
            >>> import afnio
            >>> from afnio.optim import Optimizer
            >>> p = afnio.Variable("a", requires_grad=True)
            >>> p.append_grad(afnio.Variable("shorter"))
            >>> grads = p.grad
            >>> Optimizer([p], {}).clear_grad()
            >>> p.grad is grads, p.grad
            (True, [])
        """
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad:
                    param.grad.clear()

    def zero_grad(self) -> None:
        """Alias of :meth:`clear_grad` (PyTorch's name)."""
        self.clear_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Updates the parameters from their gradients. Subclasses implement it.

        Args:
            closure: Re-evaluates the agent and returns the loss ``(score, explanation)``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement step().")

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self) -> StateDict:
        """Returns ``{"state": {index: state}, "param_groups": [...]}``.

        Parameters are replaced by indices numbered consecutively across groups; model clients
        in group options by their state-dict form ``{"class_type", "provider", "usage"}``.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {
                key: (copy.deepcopy(value) if isinstance(value, BaseModel) else value)
                for key, value in group.items()
                if key != "params"
            }
            for param in group["params"]:
                index.setdefault(id(param), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            (index[id(key)] if isinstance(key, Variable) else key): value
            for key, value in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(
        self, state_dict: StateDict, model_clients: Mapping[str, BaseModel] | None = None
    ) -> None:
        """Loads a state dict from :meth:`state_dict` into this optimizer.

        Saved parameter indices are mapped to this optimizer's parameters in order; the saved
        state and options are copied. Options saved as model clients need a live client in
        ``model_clients`` (keyed by the option name, e.g. ``"model_client"``); the saved usage is
        added to it. Everything is checked before anything changes.

        Raises:
            TypeError: If ``state_dict`` is not a mapping, or a model client has the wrong type.
            ValueError: If the groups differ in number or size, or a model client is missing.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"Expected state_dict to be dict-like, got {type(state_dict).__name__}."
            )
        if "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(
                "An optimizer state dict must have 'state' and 'param_groups' entries."
            )
        model_clients = model_clients or {}
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("Loaded state dict has a different number of parameter groups.")
        if any(
            len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)
        ):
            raise ValueError(
                "Loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group."
            )
        restores: list[tuple[BaseModel, Any]] = []
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group: dict[str, Any] = {}
            for key, value in saved.items():
                if key == "params":
                    continue
                if _is_saved_model(value):
                    client = self._client_for(key, value, model_clients)
                    restores.append((client, value["usage"]))
                    new_group[key] = client
                else:
                    new_group[key] = _copy_value(value)
            new_group["params"] = group["params"]
            new_groups.append(new_group)
        id_map = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups),
                chain.from_iterable(g["params"] for g in self.param_groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            state[id_map.get(key, key)] = _copy_value(value)

        self.param_groups[:] = new_groups
        self.state = state
        for client, usage in restores:
            if isinstance(usage, Mapping):
                client.update_usage(copy.deepcopy(dict(usage)))

    @staticmethod
    def _client_for(key: str, saved: Mapping[str, Any], clients: Mapping[str, Any]) -> BaseModel:
        class_type = saved["class_type"]
        client = clients.get(key)
        if client is None:
            raise ValueError(
                f"Missing model client for '{key}' of expected type '{class_type}'. Please "
                f"provide an instance of '{class_type}' using the `model_clients` input "
                "dictionary and retry the `load_state_dict()` operation."
            )
        try:
            from afnio.models.model_registry import MODEL_REGISTRY

            expected = MODEL_REGISTRY.get(class_type)
        except ImportError:  # pragma: no cover - registry not available
            expected = None
        ok = isinstance(client, expected) if expected else type(client).__name__ == class_type
        if not isinstance(client, BaseModel) or not ok:
            raise TypeError(
                f"The model client given for '{key}' must be an instance of '{class_type}', but "
                f"got {type(client).__name__}."
            )
        return client

    # -- pickling and printing -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {_brief(group[key])}")
        lines.append(")")
        return "\n".join(lines)
