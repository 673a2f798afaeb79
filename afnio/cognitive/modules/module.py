"""The :class:`Module`: base class of agents, with seven registries of members.

A Module owns *members* of seven kinds, each in its own ordered registry: parameters
(trainable :class:`~afnio.cognitive.Parameter`), buffers (non-trainable Variables), chats
(chat message lists), models (model clients), completion configs (dicts of completion
arguments), functions and child modules. Assigning an attribute
registers the value according to its type; ``state_dict()`` and ``load_state_dict()`` (in
:mod:`afnio.cognitive.modules._state_dict`) save and restore them.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, Union

from afnio._variable import Variable
from afnio.autodiff.graph import calling_module
from afnio.cognitive.modules._iteration import IterationState
from afnio.cognitive.modules._registries import REGISTRIES, Registration
from afnio.models.model import BaseModel

if TYPE_CHECKING:
    from afnio.cognitive.modules._state_dict import IncompatibleKeys

__all__ = ["STEP_OUTPUT", "Module"]

T_destination = TypeVar("T_destination", bound=Mapping[str, Any])

STEP_OUTPUT = Union[tuple[Variable, Variable], Mapping[str, Any], None]
"""What ``training_step``/``validation_step``/``test_step`` return: ``(score, explanation)``,
a dict with a ``"loss"`` entry holding that pair (other entries are extra metrics), or ``None``
to skip the batch."""


class Module(Registration, IterationState):
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
        for registry in REGISTRIES:
            set_(self, registry, OrderedDict())
        set_(self, "_non_persistent_buffers_set", set())

    # -- forward -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Computes the module's output. Every subclass must override it."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function.'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Tag the graph nodes made inside with this module's dotted path (node.metadata).
        calling = calling_module.get()
        if calling is None:
            path = type(self).__name__
        else:
            owner, owner_path = calling
            members = getattr(owner, "_modules", {})
            name = next((n for n, m in members.items() if m is self), type(self).__name__)
            path = f"{owner_path}.{name}"
        token = calling_module.set((self, path))
        try:
            return self.forward(*args, **kwargs)
        finally:
            calling_module.reset(token)

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
    ) -> IncompatibleKeys:
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
            ``_IncompatibleKeys(missing_keys, unexpected_keys)`` (its repr, as in torch).

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

    # -- copying -------------------------------------------------------------------------------
    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        """Deep-copies the module; model clients are shared (they are connections, not state),
        and the copy has no optimizer."""
        for _, model in self.named_models(remove_duplicate=False):
            memo.setdefault(id(model), model)
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            value = None if key == "_optimizers" else copy.deepcopy(value, memo)
            object.__setattr__(new, key, value)
        return new

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
