"""The registry of patches to Ray's internals, and the helpers every reach uses.

A *patch* replaces an attribute of a library for the duration of :func:`patched` (and puts it back
after); each checks its target first and, when the target moved, does nothing (the library then
runs as it is, a little slower). The patches themselves are registered by :mod:`.ray`; the Keras
half (:mod:`.keras`) has reaches only and uses :func:`target_present`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

__all__ = ["Patch", "PATCHES", "Undo", "patched", "register", "swap", "target_present"]

Undo = Callable[[], None]


@dataclass(frozen=True)
class Patch:
    """One patch: ``apply(**options)`` returns an undo function, or None when it did not patch."""

    name: str
    target: str  # dotted path of what is replaced, for messages and canaries
    apply: Callable[..., Undo | None]


PATCHES: dict[str, Patch] = {}


def register(name: str, target: str) -> Callable[[Callable[..., Undo | None]], Callable[..., Undo | None]]:
    """Decorator: register ``fn`` as the patch ``name`` of ``target``."""

    def wrap(fn: Callable[..., Undo | None]) -> Callable[..., Undo | None]:
        PATCHES[name] = Patch(name, target, fn)
        return fn

    return wrap


def swap(owner: Any, name: str, value: Any) -> Undo:
    """Set ``owner.name`` to ``value``; returns the function that puts the original back."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, original)


def target_present(dotted: str) -> bool:
    """True when ``dotted`` (``package.module:Attr.attr`` or ``package.module.attr``) resolves.

    Only modules already imported are looked at (the package never imports by name: see
    ``tests/unit/test_security.py``): a caller imports the library first, as every patch does.
    """
    import sys

    module, _, attrs = dotted.partition(":")
    if not attrs:
        module, _, attrs = dotted.rpartition(".")
    obj: Any = sys.modules.get(module)
    if obj is None:
        return False
    for part in attrs.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


@contextlib.contextmanager
def patched(*names: str, **options: Any) -> Iterator[dict[str, bool]]:
    """Apply the named patches for the duration of the block, then undo them in reverse order.

    ``options`` are passed to every patch that takes them by name. Yields ``{name: applied}``:
    a patch whose target moved (or whose conditions do not hold) is not applied and the library
    runs as it is.
    """
    import inspect

    undos: list[Undo] = []
    applied: dict[str, bool] = {}
    try:
        for name in names:
            patch = PATCHES[name]
            accepted = inspect.signature(patch.apply).parameters
            try:
                undo = patch.apply(**{k: v for k, v in options.items() if k in accepted})
            except Exception:  # noqa: BLE001 - a moved target: run the library as it is
                undo = None
            applied[name] = undo is not None
            if undo is not None:
                undos.append(undo)
        yield applied
    finally:
        for undo in reversed(undos):
            undo()
