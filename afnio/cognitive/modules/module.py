"""The :class:`Module`: base class of agents, with seven registries of members.

A Module owns *members* of seven kinds, each in its own ordered registry: parameters
(trainable :class:`~afnio.cognitive.Parameter`), buffers (non-trainable Variables), chats
(chat message lists), models (model clients), completion configs (dicts of completion
arguments), functions (module-level functions) and child modules. Assigning an attribute
registers the value according to its type; ``state_dict()`` and ``load_state_dict()`` (in
:mod:`afnio.cognitive.modules._state_dict`) save and restore them.
"""

from __future__ import annotations

import inspect
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Union

from afnio._utils import _validate_multi_turn_messages, is_multi_turn_messages
from afnio._variable import Variable
from afnio.cognitive.parameter import Parameter
from afnio.models.model import BaseModel

if TYPE_CHECKING:
    from afnio.cognitive.modules._state_dict import _IncompatibleKeys

__all__ = ["STEP_OUTPUT", "Module"]

T_destination = TypeVar("T_destination", bound=Mapping[str, Any])

STEP_OUTPUT = Union[tuple[Variable, Variable], Mapping[str, Any], None]
"""What ``training_step``/``validation_step``/``test_step`` return: ``(score, explanation)``,
a dict with a ``"loss"`` entry holding that pair (other entries are extra metrics), or ``None``
to skip the batch."""

# Registry attribute -> (what the error messages call a member, what it must be).
_REGISTRIES: dict[str, tuple[str, str]] = {
    "_parameters": ("parameter", "afnio.cognitive.Parameter"),
    "_buffers": ("buffer", "afnio.Variable"),
    "_chats": ("chat", "afnio.MultiTurnMessages"),
    "_models": ("model", "afnio.models.BaseModel"),
    "_completion_configs": ("completion config", "dict"),
    "_functions": ("function", "a function"),
    "_modules": ("child module", "afnio.cognitive.Module"),
}


def _is_function(value: Any) -> bool:
    """Whether ``value`` is a plain function (lambdas and closures included) or a builtin one.

    Methods and other callable objects are not functions here.
    """
    if inspect.isfunction(value):
        return True
    if inspect.isbuiltin(value):
        owner = getattr(value, "__self__", None)
        return owner is None or isinstance(owner, types.ModuleType)
    return False


def _is_chat(value: Any) -> bool:
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


def _chat_key(messages: list[dict[str, Any]]) -> tuple:
    return tuple((m["role"], tuple(id(v) for v in m["content"])) for m in messages)


class Module:
    """Base class for agents and their building blocks, like ``torch.nn.Module``.

    Subclass it, assign members in ``__init__`` (after ``super().__init__()``) and implement
    :meth:`forward`. Members are registered by type when assigned:

    ==========================  =============================================
    Value assigned              Registered as
    ==========================  =============================================
    ``Parameter``               parameter (trainable)
    ``Module``                  child module
    non-empty chat messages     chat (``[{"role": ..., "content": [Variable]}]``)
    ``BaseModel``               model client
    ``dict``                    completion config
    function / builtin          function
    ``Variable``                buffer, only via :meth:`register_buffer`
    ==========================  =============================================

    Anything else (plain Variables included) is a plain attribute. Assigning ``None`` to a
    registered name keeps the name registered but absent: it is skipped by the iterators and by
    ``state_dict()``, and not reported missing by ``load_state_dict()``.

    For :class:`~afnio.trainer.Trainer`, override :meth:`training_step`,
    :meth:`validation_step`, :meth:`test_step` and :meth:`configure_optimizers`.

    Example:
        >>> import afnio
        >>> import afnio.cognitive as cog
        >>> class Greeter(cog.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.greeting = cog.Parameter("Hello", role="greeting")
        ...         self.join = cog.Add()
        ...     def forward(self, name):
        ...         return self.join(self.greeting, name)
        >>> agent = Greeter()
        >>> agent(afnio.Variable(", Ada", role="name")).data
        'Hello, Ada'
        >>> [name for name, _ in agent.named_parameters()]
        ['greeting']
        >>> agent
        Greeter(
          (join): Add()
        )
    """

    _version: int = 1
    training: bool
    automatic_optimization: bool

    def __init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "training", True)
        set_(self, "automatic_optimization", True)
        set_(self, "_optimizers", None)
        for registry in _REGISTRIES:
            set_(self, registry, OrderedDict())
        set_(self, "_non_persistent_buffers_set", set())

    # -- forward -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Computes the module's output. Every subclass must override it."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function.'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration --------------------------------------------------------------------------
    def _check_name(self, registry: str, name: Any) -> None:
        kind = _REGISTRIES[registry][0]
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
            _validate_multi_turn_messages(messages)
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
        if func is not None and not _is_function(func):
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
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    add_module = register_module

    # -- attribute dispatch --------------------------------------------------------------------
    def _forget(self, name: str) -> None:
        """Removes ``name`` from the plain attributes and from every registry."""
        self.__dict__.pop(name, None)
        for registry in _REGISTRIES:
            self.__dict__[registry].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def _registry_of(self, name: str) -> str | None:
        for registry in _REGISTRIES:
            if name in self.__dict__.get(registry, ()):
                return registry
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            if isinstance(value, (Parameter, Module, BaseModel)):
                kind = "parameters" if isinstance(value, Parameter) else "members"
                raise AttributeError(f"Cannot assign {kind} before Module.__init__() call.")
            object.__setattr__(self, name, value)
            return
        registry = self._registry_of(name)
        if isinstance(value, Parameter):
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
        self.__dict__.pop(name, None)
        self._register(selected, name, value)

    def _select_registry(self, value: Any) -> str | None:
        if isinstance(value, Module):
            return "_modules"
        if isinstance(value, list) and _is_chat(value):
            return "_chats"
        if isinstance(value, BaseModel):
            return "_models"
        if isinstance(value, dict):
            return "_completion_configs"
        if _is_function(value):
            return "_functions"
        return None

    def _accepts(self, registry: str, value: Any) -> bool:
        if registry == "_buffers":
            return isinstance(value, Variable)
        if registry == "_chats":
            return isinstance(value, list) and _is_chat(value)
        return self._select_registry(value) == registry

    def _assign_registered(self, registry: str, name: str, value: Any) -> None:
        if value is not None and not self._accepts(registry, value):
            kind, expected = _REGISTRIES[registry]
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
        for registry in _REGISTRIES:
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
        for registry in _REGISTRIES:
            keys.update(self.__dict__.get(registry, {}))
        return sorted(key for key in keys if not key[:1].isdigit())

    # -- iteration -----------------------------------------------------------------------------
    def _named_members(
        self,
        registry: str,
        prefix: str = "",
        recurse: bool = True,
        remove_duplicate: bool = True,
        key: Callable[[Any], Any] = id,
    ) -> Iterator[tuple[str, Any]]:
        seen: set[Any] = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None:
                    continue
                if remove_duplicate:
                    marker = key(value)
                    if marker in seen:
                        continue
                    seen.add(marker)
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yields ``(dotted name, parameter)`` for this module and (if ``recurse``) its
        descendants; shared parameters once unless ``remove_duplicate=False``."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yields the parameters (what an optimizer trains).

        Example:
            >>> import afnio.cognitive as cog
            >>> m = cog.Module()
            >>> m.prompt = cog.Parameter("Be concise.", role="system prompt")
            >>> [p.data for p in m.parameters()]
            ['Be concise.']
        """
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Variable]]:
        """Yields ``(dotted name, buffer)`` pairs."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Variable]:
        """Yields the buffers."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_chats(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yields ``(dotted name, messages)`` pairs; chats holding the same Variables in the same
        roles count as duplicates."""
        yield from self._named_members("_chats", prefix, recurse, remove_duplicate, _chat_key)

    def chats(self, recurse: bool = True) -> Iterator[list[dict[str, Any]]]:
        """Yields the chats."""
        for _, chat in self.named_chats(recurse=recurse):
            yield chat

    def named_models(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, BaseModel]]:
        """Yields ``(dotted name, model client)`` pairs."""
        yield from self._named_members("_models", prefix, recurse, remove_duplicate)

    def models(self, recurse: bool = True) -> Iterator[BaseModel]:
        """Yields the model clients."""
        for _, model in self.named_models(recurse=recurse):
            yield model

    def named_completion_configs(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields ``(dotted name, completion config)`` pairs."""
        yield from self._named_members("_completion_configs", prefix, recurse, remove_duplicate)

    def completion_configs(self, recurse: bool = True) -> Iterator[dict[str, Any]]:
        """Yields the completion configs."""
        for _, config in self.named_completion_configs(recurse=recurse):
            yield config

    def named_functions(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Callable[..., Any]]]:
        """Yields ``(dotted name, function)`` pairs."""
        yield from self._named_members("_functions", prefix, recurse, remove_duplicate)

    def functions(self, recurse: bool = True) -> Iterator[Callable[..., Any]]:
        """Yields the functions."""
        for _, func in self.named_functions(recurse=recurse):
            yield func

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yields ``(name, child)`` for the immediate children, each child once."""
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """Yields the immediate child modules."""
        for _, module in self.named_children():
            yield module

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Yields ``(dotted name, module)`` for this module (name ``prefix``) and every
        descendant, depth first.

        Example:
            >>> import afnio.cognitive as cog
            >>> outer = cog.Module()
            >>> outer.inner = cog.Module()
            >>> outer.inner.add = cog.Add()
            >>> [name for name, _ in outer.named_modules()]
            ['', 'inner', 'inner.add']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            child_prefix = f"{prefix}.{name}" if prefix else name
            yield from module.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Yields this module and all its descendants."""
        for _, module in self.named_modules():
            yield module

    def _chat_variables(self) -> Iterator[Variable]:
        for chat in self.chats():
            for message in chat:
                yield from message["content"]

    # -- state dict ----------------------------------------------------------------------------
    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> Any:
        """Returns the module's state: every non-``None`` member, by dotted name.

        Parameters and buffers are detached copies (``keep_vars=True`` keeps the live objects);
        chats hold detached copies of their Variables; models are stored as
        ``{"class_type", "provider", "usage"}``; completion configs as shallow copies; functions
        as themselves. The order is parameters, buffers, chats, models, configs, functions, extra
        state, then each child. The result has a ``_metadata`` attribute (``{prefix: {"version":
        1}}``). ``afnio.save`` of a state dict holding a lambda or closure raises, naming it.

        Args:
            destination: A mapping to fill (a new ordered dict by default).
            prefix: Prepended to every key.
            keep_vars: Keep the live Variables instead of detached copies.

        Example:
            >>> import afnio.cognitive as cog
            >>> m = cog.Module()
            >>> m.prompt = cog.Parameter("Be concise.", role="system prompt")
            >>> m.args = {"temperature": 0}
            >>> sd = m.state_dict()
            >>> list(sd), sd["prompt"].requires_grad
            (['prompt', 'args'], False)
        """
        from afnio.cognitive.modules._state_dict import save_state

        return save_state(self, destination, prefix, keep_vars)

    def load_state_dict(
        self,
        state_dict: Mapping[str, Any],
        strict: bool = True,
        assign: bool = False,
        model_clients: Mapping[str, BaseModel] | None = None,
    ) -> _IncompatibleKeys:
        """Copies ``state_dict`` into this module's members.

        Everything is checked before anything is changed: if any entry is wrong, no member
        changes. Parameters and buffers get the saved data and role but **keep their own**
        ``requires_grad``. Members registered as ``None`` are optional: not reported missing
        when absent, and set (assigned) when present. Model entries need the live clients in
        ``model_clients`` (keyed by the dotted state-dict key); their saved usage is added to
        the client with ``update_usage``.

        Args:
            state_dict: A mapping as returned by :meth:`state_dict`.
            strict: Whether missing or unexpected keys are errors.
            assign: Replace members by (Parameter-wrapped) saved objects instead of copying
                into them.
            model_clients: Live model clients for the model entries.

        Returns:
            ``_IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            TypeError: If ``state_dict`` or ``model_clients`` is not a mapping.
            RuntimeError: Listing every problem (missing/unexpected keys when ``strict``,
                type/shape mismatches, missing model clients).

        Example:
            >>> import afnio.cognitive as cog
            >>> m = cog.Module()
            >>> m.prompt = cog.Parameter("v1", role="system prompt")
            >>> sd = m.state_dict()
            >>> m.prompt.data = "v2"
            >>> m.load_state_dict(sd)
            <All keys matched successfully>
            >>> m.prompt.data, m.prompt.requires_grad
            ('v1', True)
        """
        from afnio.cognitive.modules._state_dict import load_state

        return load_state(self, state_dict, strict, assign, model_clients)

    def get_extra_state(self) -> Any:
        """Returns extra state to save in ``state_dict()``; override with
        :meth:`set_extra_state`.

        Raises:
            RuntimeError: Unless overridden.
        """
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Override get_extra_state() (and set_extra_state()) in your Module subclass to save "
            "extra state."
        )

    def set_extra_state(self, state: Any) -> None:
        """Restores what :meth:`get_extra_state` returned.

        Raises:
            RuntimeError: Unless overridden.
        """
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Override set_extra_state() in your Module subclass to load extra state."
        )

    # -- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Sets training mode on this module and its descendants; returns ``self``.

        Raises:
            ValueError: If ``mode`` is not a bool.
        """
        if not isinstance(mode, bool):
            raise ValueError("Training mode is expected to be boolean.")
        object.__setattr__(self, "training", mode)
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """Sets evaluation mode (``train(False)``); returns ``self``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Sets ``requires_grad`` on every parameter and every (leaf) Variable of every chat;
        returns ``self``."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        for variable in self._chat_variables():
            if variable.is_leaf:
                variable.requires_grad_(requires_grad)
        return self

    def empty_grad(self) -> None:
        """Clears the gradients of every parameter and chat Variable, in place (the gradient
        lists stay the same objects)."""
        for variable in [*self.parameters(), *self._chat_variables()]:
            if (variable.is_leaf or variable.retains_grad) and variable.grad:
                variable.grad.clear()

    zero_grad = empty_grad

    # -- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Extra text for this module's repr (override to show settings)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not lines:
            return f"{self._get_name()}()"
        if len(lines) == 1 and not self._modules:
            return f"{self._get_name()}({lines[0]})"
        body = "\n  ".join(lines)
        return f"{self._get_name()}(\n  {body}\n)"

    # -- Trainer hooks -------------------------------------------------------------------------
    def training_step(self, batch: Any, batch_idx: int) -> STEP_OUTPUT:
        """Runs one training batch; returns ``(score, explanation)``, a dict with ``"loss"``
        (plus extra metrics), or ``None`` to skip the batch.

        With ``automatic_optimization`` the Trainer clears gradients, calls
        ``explanation.backward()`` and steps the optimizer; otherwise do it here, using
        :meth:`optimizers`.
        """
        raise NotImplementedError("You must implement training_step in your Module subclass.")

    def validation_step(self, batch: Any, batch_idx: int) -> STEP_OUTPUT:
        """Evaluates one validation batch (same return contract as :meth:`training_step`)."""
        raise NotImplementedError("You must implement validation_step in your Module subclass.")

    def test_step(self, batch: Any, batch_idx: int) -> STEP_OUTPUT:
        """Evaluates one test batch (same return contract as :meth:`training_step`)."""
        raise NotImplementedError("You must implement test_step in your Module subclass.")

    def configure_optimizers(self) -> Any:
        """Returns the optimizer (e.g. ``afnio.optim.TGD(self.parameters(), ...)``)."""
        raise NotImplementedError(
            "You must implement configure_optimizers in your Module subclass."
        )

    def optimizers(self) -> Any:
        """Returns the optimizer the Trainer got from :meth:`configure_optimizers`.

        Raises:
            AttributeError: When no Trainer set one.
        """
        if self._optimizers is None:
            raise AttributeError(
                "No optimizer found. Did you call `configure_optimizers()` and did the "
                "`Trainer` set `_optimizers`?"
            )
        return self._optimizers
