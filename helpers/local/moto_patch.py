"""The one way the local backend changes moto: named patches that wrap or add methods, undone as one.

moto records CreateCompilationJob and CreateEndpoint but runs nothing behind them. The local
services (`compilation_service`, `hosting_service`) make them run by replacing a few methods
of moto's classes, in the backend process, before moto serves a request (the replacements only
apply to moto objects living in the interpreter that made them). Every replacement goes through
a `MotoPatch`, which remembers what it replaced: installing a service again replaces its patch
(never wraps the wrapper), and uninstalling restores moto exactly (tests patch moto in their
own process and clean up with it).

Each service lists the moto internals it relies on in its `MOTO_INTERNALS`;
tests/test_moto_contract.py checks every entry against the installed moto.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

MOTO_VERSION = "5.2.5"  # the moto the services were written against (pinned in pyproject.toml)

_ABSENT = object()


class MotoPatch:
    """The replacements one service made, in order, with what each replaced."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._replaced: list[tuple[type, str, Any]] = []

    def wrap(self, owner: type, attribute: str, wrapper: Callable[..., Any]) -> None:
        """Replace the method `owner.attribute` by one calling `wrapper(original, self, ...)`.

        The replacement carries `__wrapped__` (the original), as functools.wraps sets it.
        """
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def replacement(*args: Any, **kwargs: Any) -> Any:
            return wrapper(original, *args, **kwargs)

        self._set(owner, attribute, replacement)

    def add(self, owner: type, attribute: str, function: Callable[..., Any]) -> None:
        """Add a method moto lacks; refuse if moto has grown its own (ours would hide it)."""
        if hasattr(owner, attribute):
            raise RuntimeError(f"moto now implements {owner.__name__}.{attribute}: drop the one in "
                               f"the local {self.name} service, or re-check it against moto's.")
        self._set(owner, attribute, function)

    def shadow(self, owner: type, attribute: str, value: Any) -> None:
        """Give `owner` its own `attribute`, hiding one it inherits; refuse if it has its own already
        (moto then set it for this class, and ours would hide that)."""
        if attribute in vars(owner):
            raise RuntimeError(f"moto now sets {owner.__name__}.{attribute} itself: merge the local "
                               f"{self.name} service's entries into it, or re-check them against moto's.")
        self._set(owner, attribute, value)

    def _set(self, owner: type, attribute: str, value: Any) -> None:
        self._replaced.append((owner, attribute, vars(owner).get(attribute, _ABSENT)))
        setattr(owner, attribute, value)

    def undo(self) -> None:
        """Put back what was there before, last replacement first."""
        while self._replaced:
            owner, attribute, previous = self._replaced.pop()
            if previous is _ABSENT:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, previous)


_installed: dict[str, MotoPatch] = {}


def install(name: str, build: Callable[[MotoPatch], None]) -> None:
    """Replace the patch called `name` by the one `build` makes (undone as a whole if it fails)."""
    uninstall(name)
    patch = MotoPatch(name)
    try:
        build(patch)
    except BaseException:
        patch.undo()
        raise
    _installed[name] = patch


def uninstall(name: str) -> None:
    """Undo the patch called `name`, if installed."""
    patch = _installed.pop(name, None)
    if patch is not None:
        patch.undo()
