"""``Module.state_dict`` and ``Module.load_state_dict``.

Loading is done in two phases: every entry is checked against the live module first, and only
when nothing is wrong are the members changed, so a failed load leaves the module untouched.
"""

from __future__ import annotations

import collections
import copy
import functools
import pickle
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from afnio._utils import validate_function, validate_multi_turn_messages
from afnio._variable import Variable
from afnio.autodiff.grad_mode import no_grad
from afnio.cognitive.parameter import Parameter
from afnio.models.model import BaseModel

if TYPE_CHECKING:
    from afnio.cognitive.modules.module import Module

__all__ = ["IncompatibleKeys", "StateDict", "load_state", "save_state"]

_EXTRA_STATE = "_extra_state"


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` found: keys the module expected but did not get, and keys it
    did not know."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )

    def __str__(self) -> str:
        return self.__repr__()


class StateDict(collections.OrderedDict):
    """The ordered dict returned by ``Module.state_dict()``.

    It pickles as a plain ``collections.OrderedDict`` (with its ``_metadata``), after checking
    that every function in it can be saved by reference, so that ``afnio.save`` fails with an
    error naming the member instead of a bare pickling error.
    """

    _metadata: dict[str, Any]

    def __reduce_ex__(self, protocol: Any) -> Any:
        for key, value in self.items():
            _check_savable(key, value)
        state = dict(vars(self)) or None
        return (collections.OrderedDict, (), state, None, iter(self.items()))

    def __copy__(self) -> StateDict:
        new = type(self)(self)
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> StateDict:
        new = type(self)()
        memo[id(self)] = new
        for key, value in self.items():
            new[key] = copy.deepcopy(value, memo)
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new


def _check_savable(key: str, value: Any) -> None:
    from afnio.cognitive.modules._registries import is_function

    if not is_function(value):
        return
    try:
        validate_function(value)
    except (TypeError, ValueError) as exc:
        raise pickle.PicklingError(
            f"Cannot save the function registered as '{key}': {exc} Functions are saved by "
            "name, so only functions defined with `def` at module level and builtins (such as "
            "`sum`) can be saved."
        ) from None


# -- saving ------------------------------------------------------------------------------------
def _has_extra_state(module: Module) -> bool:
    from afnio.cognitive.modules.module import Module

    return type(module).get_extra_state is not Module.get_extra_state


def _detach_chat(messages: list[dict[str, Any]], keep_vars: bool) -> list[dict[str, Any]]:
    return [
        {
            "role": message["role"],
            "content": [v if keep_vars else v.detach() for v in message["content"]],
        }
        for message in messages
    ]


def _save_members(module: Module, destination: Any, prefix: str, keep_vars: bool) -> None:
    for name, param in module._parameters.items():
        if param is not None:
            destination[prefix + name] = param if keep_vars else param.detach()
    for name, buffer in module._buffers.items():
        if buffer is not None and name not in module._non_persistent_buffers_set:
            destination[prefix + name] = buffer if keep_vars else buffer.detach()
    for name, chat in module._chats.items():
        if chat is not None:
            destination[prefix + name] = _detach_chat(chat, keep_vars)
    for name, model in module._models.items():
        if model is not None:
            destination[prefix + name] = copy.deepcopy(model)
    for name, config in module._completion_configs.items():
        if config is not None:
            destination[prefix + name] = config if keep_vars else dict(config)
    for name, func in module._functions.items():
        if func is not None:
            destination[prefix + name] = func
    if _has_extra_state(module):
        destination[prefix + _EXTRA_STATE] = module.get_extra_state()


def save_state(module: Module, destination: Any, prefix: str, keep_vars: bool) -> Any:
    """Implements ``Module.state_dict``."""
    if destination is None:
        destination = StateDict()
        destination._metadata = collections.OrderedDict()
    metadata = getattr(destination, "_metadata", None)
    if metadata is not None:
        metadata[prefix[:-1]] = {"version": module._version}
    _save_members(module, destination, prefix, keep_vars)
    for name, child in module._modules.items():
        if child is not None:
            save_state(child, destination, prefix + name + ".", keep_vars)
    return destination


# -- loading -----------------------------------------------------------------------------------
class _Plan:
    """Problems found and changes to make, collected over the whole module tree."""

    def __init__(self, model_clients: Mapping[str, BaseModel], owned: set[int]) -> None:
        self.model_clients = model_clients
        # Variables loaded through their own parameter/buffer keys; chats holding them skip them.
        self.owned = owned
        self.missing: list[str] = []
        self.unexpected: list[str] = []
        self.errors: list[str] = []
        self.actions: list[Callable[[], None]] = []


def _shape_error(key: str, current: Variable, saved: Variable) -> str | None:
    cur_list, new_list = isinstance(current.data, list), isinstance(saved.data, list)
    if cur_list != new_list:
        what = ("a scalar", "non-scalar") if not new_list else ("a non-scalar", "scalar")
        return (
            f"Type mismatch for {key}: copying {what[0]} param from checkpoint, but the param "
            f"in the current model is {what[1]}."
        )
    if new_list and len(current.data) != len(saved.data):
        return (
            f"Size mismatch for '{key}': copying a param with `.data` list of length "
            f"{len(saved.data)} from checkpoint, but the param in the current model has length "
            f"{len(current.data)}."
        )
    if current.shape != saved.shape:
        return (
            f"Size mismatch for '{key}': copying a param of shape {saved.shape} from "
            f"checkpoint, but the param in the current model has shape {current.shape}."
        )
    return None


def _copy_into(target: Variable, source: Variable) -> None:
    """Copies data and role, keeping ``target``'s ``requires_grad``."""
    requires_grad = target.requires_grad
    with no_grad():
        target.copy_(source)
    if target.is_leaf:
        target.requires_grad = requires_grad


def _plan_variable(
    module: Module, name: str, key: str, saved: Any, plan: _Plan, assign: bool, is_param: bool
) -> None:
    registry = module._parameters if is_param else module._buffers
    current = registry[name]
    if not isinstance(saved, Variable):
        kind = "parameter" if is_param else "buffer"
        plan.errors.append(
            f'While copying the {kind} named "{key}", expected afnio.Variable from checkpoint '
            f"but received {type(saved).__name__}."
        )
        return
    if current is not None and not assign:
        error = _shape_error(key, current, saved)
        if error:
            plan.errors.append(error)
            return
        plan.actions.append(lambda: _copy_into(current, saved))
        return
    if is_param:
        if isinstance(saved, Parameter):
            new: Variable = saved
        else:
            requires_grad = current.requires_grad if current is not None else True
            new = Parameter(copy.deepcopy(saved.data), role=saved.role, requires_grad=requires_grad)
    else:
        new = saved
    plan.actions.append(lambda: setattr(module, name, new))


def _plan_chat(module: Module, name: str, key: str, saved: Any, plan: _Plan, assign: bool) -> None:
    try:
        validate_multi_turn_messages(saved)
    except (TypeError, ValueError) as exc:
        plan.errors.append(f'While copying the chat named "{key}": {exc}')
        return
    current = module._chats[name]
    if current is None or assign:
        if not saved:
            plan.errors.append(f'While copying the chat named "{key}": the saved chat is empty.')
            return
        plan.actions.append(lambda: setattr(module, name, saved))
        return
    if len(current) != len(saved):
        plan.errors.append(
            f"Size mismatch for '{key}': copying a chat of {len(saved)} messages from "
            f"checkpoint, but the chat in the current model has {len(current)} messages."
        )
        return
    pairs: list[tuple[Variable, Variable]] = []
    for i, (cur_msg, new_msg) in enumerate(zip(current, saved)):
        where = f"{key}[{i}]"
        if cur_msg["role"] != new_msg["role"]:
            plan.errors.append(
                f"Role mismatch for '{where}': copying a '{new_msg['role']}' message from "
                f"checkpoint, but the message in the current model is '{cur_msg['role']}'."
            )
            return
        if len(cur_msg["content"]) != len(new_msg["content"]):
            plan.errors.append(
                f"Size mismatch for '{where}': copying a message with {len(new_msg['content'])} "
                f"content Variables from checkpoint, but the message in the current model has "
                f"{len(cur_msg['content'])}."
            )
            return
        for j, (cur_var, new_var) in enumerate(zip(cur_msg["content"], new_msg["content"])):
            if id(cur_var) in plan.owned:
                continue
            error = _shape_error(f"{where}['content'][{j}]", cur_var, new_var)
            if error:
                plan.errors.append(error)
                return
            pairs.append((cur_var, new_var))

    def copy_all() -> None:
        for target, source in pairs:
            _copy_into(target, source)

    plan.actions.append(copy_all)


def _plan_model(module: Module, name: str, key: str, saved: Any, plan: _Plan) -> None:
    if isinstance(saved, BaseModel):
        plan.actions.append(lambda: setattr(module, name, saved))
        return
    if not isinstance(saved, Mapping) or not isinstance(saved.get("class_type"), str):
        plan.errors.append(
            f'While loading the model named "{key}", expected a dict with a "class_type" key '
            f"from checkpoint but received {type(saved).__name__}."
        )
        return
    class_type = saved["class_type"]
    expected = _model_registry().get(class_type)
    client = plan.model_clients.get(key)
    if client is None:
        plan.errors.append(
            f"Missing model client for '{key}' of expected type '{class_type}'. Please provide "
            f"an instance of '{class_type}' using the `model_clients` dictionary when calling "
            "`load_state_dict()`."
        )
        return
    matches = (
        isinstance(client, expected)
        if expected is not None
        else type(client).__name__ == class_type
    )
    if not isinstance(client, BaseModel) or not matches:
        plan.errors.append(
            f"The model client given for '{key}' must be an instance of '{class_type}', but got "
            f"{type(client).__name__}."
        )
        return
    usage = saved.get("usage")

    def restore() -> None:
        setattr(module, name, client)
        if isinstance(usage, Mapping):
            client.update_usage(copy.deepcopy(dict(usage)))

    plan.actions.append(restore)


def _model_registry() -> Mapping[str, type]:
    try:
        from afnio.models.model_registry import MODEL_REGISTRY
    except ImportError:  # pragma: no cover - registry not available
        return {}
    return MODEL_REGISTRY


def _plan_module(
    module: Module,
    state_dict: Mapping[str, Any],
    prefix: str,
    plan: _Plan,
    assign: bool,
) -> None:
    from afnio.cognitive.modules._registries import is_function

    local: set[str] = set()

    def visit(name: str, optional: bool) -> tuple[bool, Any]:
        key = prefix + name
        local.add(name)
        if key in state_dict:
            return True, state_dict[key]
        if not optional:
            plan.missing.append(key)
        return False, None

    for name, param in module._parameters.items():
        found, saved = visit(name, param is None)
        if found:
            _plan_variable(module, name, prefix + name, saved, plan, assign, is_param=True)
    for name, buffer in module._buffers.items():
        if name in module._non_persistent_buffers_set:
            continue
        found, saved = visit(name, buffer is None)
        if found:
            _plan_variable(module, name, prefix + name, saved, plan, assign, is_param=False)
    for name, chat in module._chats.items():
        found, saved = visit(name, chat is None)
        if found:
            _plan_chat(module, name, prefix + name, saved, plan, assign)
    for name, model in module._models.items():
        found, saved = visit(name, model is None)
        if found:
            _plan_model(module, name, prefix + name, saved, plan)
    for name, config in module._completion_configs.items():
        found, saved = visit(name, config is None)
        if not found:
            continue
        if not isinstance(saved, dict):
            plan.errors.append(
                f'While loading the completion config named "{prefix + name}", expected a dict '
                f"from checkpoint but received {type(saved).__name__}."
            )
        else:
            plan.actions.append(functools.partial(setattr, module, name, dict(saved)))
    for name, func in module._functions.items():
        found, saved = visit(name, func is None)
        if not found:
            continue
        if not is_function(saved):
            plan.errors.append(
                f'While loading the function named "{prefix + name}", expected a function from '
                f"checkpoint but received {type(saved).__name__}."
            )
        else:
            plan.actions.append(functools.partial(setattr, module, name, saved))
    if _has_extra_state(module):
        found, saved = visit(_EXTRA_STATE, False)
        if found:
            plan.actions.append(functools.partial(module.set_extra_state, saved))

    for key in state_dict:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        head = rest.split(".", 1)[0]
        # Keys of children are checked by the children themselves.
        if head not in local and not (head in module._modules and "." in rest):
            plan.unexpected.append(key)

    for name, child in module._modules.items():
        if child is not None:
            _plan_module(child, state_dict, prefix + name + ".", plan, assign)


def load_state(
    module: Module,
    state_dict: Mapping[str, Any],
    strict: bool,
    assign: bool,
    model_clients: Mapping[str, BaseModel] | None,
) -> IncompatibleKeys:
    """Implements ``Module.load_state_dict``."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
    if model_clients is None:
        model_clients = {}
    elif not isinstance(model_clients, Mapping):
        raise TypeError(
            "`model_clients` must be a dict mapping state-dict keys to model clients, but got "
            f"{type(model_clients).__name__}."
        )
    owned = {id(v) for _, v in module.named_parameters(remove_duplicate=False)}
    owned |= {id(v) for _, v in module.named_buffers(remove_duplicate=False)}
    plan = _Plan(model_clients, owned)
    _plan_module(module, state_dict, "", plan, assign)
    errors = list(plan.errors)
    if strict:
        head = []
        if plan.unexpected:
            keys = ", ".join(f'"{k}"' for k in plan.unexpected)
            head.append(f"Unexpected key(s) in state_dict: {keys}. ")
        if plan.missing:
            keys = ", ".join(f'"{k}"' for k in plan.missing)
            head.append(f"Missing key(s) in state_dict: {keys}. ")
        errors = head + errors
    if errors:
        raise RuntimeError(
            f"Error(s) in loading state_dict for {type(module).__name__}:\n\t" + "\n\t".join(errors)
        )
    for action in plan.actions:
        action()
    return IncompatibleKeys(plan.missing, plan.unexpected)
