"""Registration of a Module's members: the seven registries and attribute dispatch.

:class:`Registration` holds the ``register_*`` methods and the ``__setattr__``/``__getattr__``/
``__delattr__`` logic of :class:`~afnio.cognitive.Module`; only Module derives from it.
"""

from __future__ import annotations

import contextlib
import inspect
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from afnio._utils import is_multi_turn_messages, validate_multi_turn_messages
from afnio._variable import Variable
from afnio.cognitive.parameter import Parameter
from afnio.models.model import BaseModel

_MISSING = object()

if TYPE_CHECKING:
    from afnio.cognitive.modules.module import Module

__all__ = ["REGISTRIES", "Registration", "is_chat", "is_function"]

# Registry attribute -> (what the error messages call a member, what it must be).
REGISTRIES: dict[str, tuple[str, str]] = {
    "_parameters": ("parameter", "afnio.cognitive.Parameter"),
    "_buffers": ("buffer", "afnio.Variable"),
    "_chats": ("chat", "afnio.MultiTurnMessages"),
    "_models": ("model", "afnio.models.BaseModel"),
    "_completion_configs": ("completion config", "dict"),
    "_functions": ("function", "a function"),
    "_modules": ("child module", "afnio.cognitive.Module"),
}


def is_function(value: Any) -> bool:
    """Whether ``value`` is a plain function (lambdas and closures included) or a builtin one.

    Methods and other callable objects are not functions here.
    """
    if inspect.isfunction(value):
        return True
    if inspect.isbuiltin(value):
        owner = getattr(value, "__self__", None)
        return owner is None or isinstance(owner, types.ModuleType)
    return False


def is_chat(value: Any) -> bool:
    """Whether ``value`` is a non-empty, valid chat message list.

    A list of dicts that look like messages (some have ``role`` or ``content``) but are malformed
    raises the validator's ``ValueError``; other lists are not chats.
    """
    try:
        return is_multi_turn_messages(value)
    except ValueError:
        if any(isinstance(m, dict) and ("role" in m or "content" in m) for m in value):
            raise
        return False


class Registration:
    """The registries of a Module and the methods that fill them (``isinstance(x,
    Registration)`` is how this file recognises a Module)."""

    _parameters: OrderedDict[str, Parameter | None]
    _buffers: OrderedDict[str, Variable | None]
    _chats: OrderedDict[str, list[dict[str, Any]] | None]
    _models: OrderedDict[str, BaseModel | None]
    _completion_configs: OrderedDict[str, dict[str, Any] | None]
    _functions: OrderedDict[str, Callable[..., Any] | None]
    _modules: OrderedDict[str, Module | None]
    _non_persistent_buffers_set: set[str]

    def _check_name(self, registry: str, name: Any) -> None:
        kind = REGISTRIES[registry][0]
        if registry not in self.__dict__:
            raise AttributeError(f"Cannot assign {kind} before Module.__init__() call.")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}.")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name!r}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in self.__dict__[registry]:
            raise KeyError(f"Attribute '{name}' already exists.")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Adds a parameter (or ``None``, meaning absent) under ``name``.

        Raises:
            AttributeError: Before ``Module.__init__()`` ran.
            TypeError: If ``name`` is not a str or ``param`` is not a Parameter or None.
            KeyError: If ``name`` is empty, contains ``"."`` or is taken by another attribute.
            ValueError: If ``param`` is not a leaf (it has a ``grad_fn``).
        """
        self._check_name("_parameters", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"Cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(afnio.cognitive.Parameter or None required)."
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Variable to parameter '{name}'. Model parameters must "
                f"be created explicitly. To express '{name}' as a function of another Variable, "
                "compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(
        self, name: str, variable: Variable | None, persistent: bool = True
    ) -> None:
        """Adds a buffer: a Variable that is state but not trained (or ``None``).

        Args:
            name: The attribute name.
            variable: The Variable, or ``None``.
            persistent: Whether ``state_dict()`` includes it.

        Raises:
            AttributeError, TypeError, KeyError: As :meth:`register_parameter`.

        Example:
            >>> import afnio, afnio.cognitive as cog
            >>> m = cog.Module()
            >>> m.register_buffer("sep", afnio.Variable(" | "))
            >>> list(m.state_dict())
            ['sep']
        """
        self._check_name("_buffers", name)
        if variable is not None and not isinstance(variable, Variable):
            raise TypeError(
                f"Cannot assign '{type(variable).__name__}' object to buffer '{name}' "
                "(afnio.Variable or None required)."
            )
        self._buffers[name] = variable
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_chat(self, name: str, messages: list[dict[str, Any]] | None) -> None:
        """Adds a chat: a non-empty list of ``{"role": str, "content": [Variable, ...]}``.

        Raises:
            TypeError: If ``messages`` is not a non-empty, valid message list (or None).
            ValueError: If a message lacks ``role`` or ``content``.
        """
        self._check_name("_chats", name)
        if messages is not None:
            validate_multi_turn_messages(messages)
            if not messages:
                raise TypeError(
                    f"Cannot assign an empty list to chat '{name}' (a non-empty "
                    "afnio.MultiTurnMessages or None required)."
                )
        self._chats[name] = messages

    def register_model(self, name: str, model: BaseModel | None) -> None:
        """Adds a model client (or ``None``).

        Raises:
            TypeError: If ``model`` is not a :class:`~afnio.models.model.BaseModel` or None.
        """
        self._check_name("_models", name)
        if model is not None and not isinstance(model, BaseModel):
            raise TypeError(
                f"Cannot assign '{type(model).__name__}' object to model '{name}' "
                "(afnio.models.BaseModel or None required)."
            )
        self._models[name] = model

    def register_completion_config(self, name: str, args: dict[str, Any] | None) -> None:
        """Adds a completion config: a dict of completion arguments (or ``None``).

        Raises:
            TypeError: If ``args`` is not a dict or None.
        """
        self._check_name("_completion_configs", name)
        if args is not None and not isinstance(args, dict):
            raise TypeError(
                f"Cannot assign '{type(args).__name__}' object to completion config '{name}' "
                "(dict or None required)."
            )
        self._completion_configs[name] = args

    def register_function(self, name: str, func: Callable[..., Any] | None) -> None:
        """Adds a function (or ``None``).

        Any plain or builtin function is accepted, lambdas and closures included; they work in
        memory, but ``afnio.save`` of a state dict holding them fails, naming the member. Save
        module-level functions instead.

        Raises:
            TypeError: For methods and other callable objects.
        """
        self._check_name("_functions", name)
        if func is not None and not is_function(func):
            raise TypeError(
                f"Cannot assign '{type(func).__name__}' object to function '{name}' (a function "
                "defined with `def` at module level, a builtin such as `sum`, or None required)."
            )
        self._functions[name] = func

    def register_module(self, name: str, module: Module | None) -> None:
        """Adds a child module (or ``None``).

        Raises:
            TypeError: If ``module`` is not a Module or None.
        """
        self._check_name("_modules", name)
        if module is not None and not isinstance(module, Registration):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    add_module = register_module

    # -- attribute dispatch --------------------------------------------------------------------
    def _forget(self, name: str) -> None:
        """Removes ``name`` from the plain attributes and from every registry."""
        self.__dict__.pop(name, None)
        for registry in REGISTRIES:
            self.__dict__[registry].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def _registry_of(self, name: str) -> str | None:
        for registry in REGISTRIES:
            if name in self.__dict__.get(registry, ()):
                return registry
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            if isinstance(value, (Parameter, Registration, BaseModel)):
                kind = "parameters" if isinstance(value, Parameter) else "members"
                raise AttributeError(f"Cannot assign {kind} before Module.__init__() call.")
            object.__setattr__(self, name, value)
            return
        registry = self._registry_of(name)
        if isinstance(value, Parameter):
            with self._restored_on_error(name):
                if registry != "_parameters":
                    self._forget(name)
                self.register_parameter(name, value)
            return
        if registry is not None:
            self._assign_registered(registry, name, value)
            return
        selected = self._select_registry(value)
        if selected is None:
            object.__setattr__(self, name, value)
            return
        with self._restored_on_error(name):
            self.__dict__.pop(name, None)
            self._register(selected, name, value)

    @contextlib.contextmanager
    def _restored_on_error(self, name: str) -> Iterator[None]:
        """Puts back whatever ``name`` was (attribute or member) if the block fails, so that a
        rejected assignment leaves the module as it was (registry order included)."""
        attribute = self.__dict__.get(name, _MISSING)
        saved = {r: dict(self.__dict__[r]) for r in REGISTRIES if name in self.__dict__[r]}
        non_persistent = name in self._non_persistent_buffers_set
        try:
            yield
        except BaseException:
            for registry in REGISTRIES:
                members = self.__dict__[registry]
                if registry in saved:
                    members.clear()
                    members.update(saved[registry])
                else:
                    members.pop(name, None)
            if attribute is not _MISSING:
                self.__dict__[name] = attribute
            if non_persistent:
                self._non_persistent_buffers_set.add(name)
            raise

    def _select_registry(self, value: Any) -> str | None:
        if isinstance(value, Registration):
            return "_modules"
        if isinstance(value, list) and is_chat(value):
            return "_chats"
        if isinstance(value, BaseModel):
            return "_models"
        if isinstance(value, dict):
            return "_completion_configs"
        if is_function(value):
            return "_functions"
        return None

    def _accepts(self, registry: str, value: Any) -> bool:
        if registry == "_buffers":
            return isinstance(value, Variable)
        if registry == "_chats":
            return isinstance(value, list) and is_chat(value)
        return self._select_registry(value) == registry

    def _assign_registered(self, registry: str, name: str, value: Any) -> None:
        if value is not None and not self._accepts(registry, value):
            kind, expected = REGISTRIES[registry]
            raise TypeError(
                f"Cannot assign '{type(value).__name__}' as {kind} '{name}' ({expected} or None "
                "expected)."
            )
        if registry == "_buffers":
            self._buffers[name] = value
        else:
            self._register(registry, name, value)

    def _register(self, registry: str, name: str, value: Any) -> None:
        kind = "module" if registry == "_modules" else registry[1:-1]
        getattr(self, f"register_{kind}")(name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: look in the registries.
        registries = self.__dict__
        for registry in REGISTRIES:
            members = registries.get(registry)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        registry = self._registry_of(name)
        if registry is None:
            object.__delattr__(self, name)
            return
        del self.__dict__[registry][name]
        self._non_persistent_buffers_set.discard(name)

    def __dir__(self) -> list[str]:
        keys = set(super().__dir__())
        for registry in REGISTRIES:
            keys.update(self.__dict__.get(registry, {}))
        return sorted(key for key in keys if not key[:1].isdigit())
