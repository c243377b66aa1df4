"""Named extensions: one registry per kind (schemes, channels, codecs), one name per extension.

An extension's name is written once, in its config class::

    class MyConfig(SchemeConfig):
        type: Literal["mine"] = "mine"

    @SCHEMES.register
    class MyScheme(Scheme):
        config_class = MyConfig

The registry reads the name from the config's ``type`` literal, so a scenario's ``type: mine``,
the registry key and the config class cannot disagree; a second extension of the same name is
refused when its module is imported.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from linksim.errors import LinksimError

T = TypeVar("T")


def config_type_name(config_class: type, field: str = "type") -> str:
    """The single value of ``config_class``'s ``Literal`` field ``field`` (also its default)."""
    info = config_class.model_fields[field]  # type: ignore[attr-defined]
    values = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) is not typing.Literal or len(values) != 1 or info.default != values[0]:
        raise TypeError(f"{config_class.__name__}.{field} must be Literal['<name>'] with that name as its default")
    return values[0]


class Registry(Generic[T]):
    """Extensions of one kind by name; each extension class has a ``config_class`` whose
    ``type`` literal is its name.

    Args:
        kind: what the registry holds, for messages (``"scheme"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: add ``cls`` under its config's ``type`` name."""
        name = config_type_name(cls.config_class)  # type: ignore[attr-defined]
        if name in self._classes and self._classes[name] is not cls:
            raise TypeError(f"{self.kind} '{name}' is registered twice ({self._classes[name].__name__}, {cls.__name__})")
        self._classes[name] = cls
        return cls

    def __getitem__(self, name: str) -> type[T]:
        try:
            return self._classes[name]
        except KeyError:
            raise LinksimError(f"unknown {self.kind} '{name}' (accepted: {', '.join(self._classes)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def items(self) -> list[tuple[str, type[T]]]:
        return list(self._classes.items())

    def values(self) -> list[type[T]]:
        return list(self._classes.values())

    def config_classes(self) -> tuple[type, ...]:
        """Every registered config class (the members of the scenario schema's union)."""
        return tuple(cls.config_class for cls in self._classes.values())  # type: ignore[attr-defined]

    def build(self, config: Any, *args: Any, **kwargs: Any) -> T:
        """An instance of the extension ``config.type`` names, built from ``config``."""
        return self[config.type](config, *args, **kwargs)
