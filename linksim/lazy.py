"""Lazy package namespaces (PEP 562): a package names what it exports and the module each comes
from, and a name's module is imported when the name is first used.

Validating a scenario imports :mod:`linksim.schemes`, :mod:`linksim.channels`... for their
registries and configs only; their implementations (torch, Sionna, diffusers) load when code asks
for them, while ``from linksim.schemes import DeepJSCCScheme`` keeps working.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``, resolving each name of ``exports``
    (name -> module) by importing its module on first use (then cached in the package)."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


def import_object(path: str) -> Any:
    """The object ``"package.module:name"`` names, importing its module."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class LazyClasses(Mapping[str, Any]):
    """Named objects given as ``"package.module:name"`` paths, each imported on first access:
    the names (and their order) are known without importing any implementation."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    def __getitem__(self, name: str) -> Any:
        return import_object(self._paths[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)
