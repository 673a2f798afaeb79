"""Iteration over a Module's members: ``parameters()``, ``named_modules()`` and the rest."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from afnio._variable import Variable
from afnio.cognitive.parameter import Parameter
from afnio.models.model import BaseModel

if TYPE_CHECKING:
    from afnio.cognitive.modules.module import Module

__all__ = ["IterationState"]


def _chat_key(messages: list[dict[str, Any]]) -> tuple:
    return tuple((m["role"], tuple(id(v) for v in m["content"])) for m in messages)


class IterationState:
    """The member iterators of :class:`~afnio.cognitive.Module`."""

    _modules: OrderedDict[str, Module | None]

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
        yield prefix, cast("Module", self)
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
