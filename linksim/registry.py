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

Built-in extensions are *declared* instead, on their config class in a torch-free config module::

    @SCHEMES.declare("linksim.schemes.softcast:SoftCast")
    class SoftCastConfig(SchemeConfig):
        type: Literal["softcast"] = "softcast"

so that validating a scenario (which needs only the config classes) imports no implementation;
``SCHEMES[name]`` imports the named module on first use, whose ``@SCHEMES.register`` then fills
the declared entry (in declaration order, which is the listing order).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from linksim.errors import LinksimError
from linksim.lazy import import_object

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
    ``type`` literal is its name. Names, their order and the config classes are known from the
    declarations alone; an implementation is imported when it is first looked up.

    Args:
        kind: what the registry holds, for messages (``"scheme"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._configs: dict[str, type] = {}  # every name, in registration order
        self._classes: dict[str, type[T]] = {}  # the implementations imported so far
        self._paths: dict[str, str] = {}  # "module:Class" of declared, not yet imported ones

    def declare(self, path: str) -> Callable[[type], type]:
        """Config class decorator: name an extension whose implementation ``path``
        (``"package.module:Class"``) is imported on first use, not when the config is."""
        def add(config_class: type) -> type:
            name = self._add_config(config_class)
            self._paths[name] = path
            return config_class
        return add

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: add ``cls`` under its config's ``type`` name (or fill its declaration)."""
        name = self._add_config(cls.config_class, cls)  # type: ignore[attr-defined]
        self._classes[name] = cls
        return cls

    def _add_config(self, config_class: type, cls: type | None = None) -> str:
        """The name of ``config_class``, added in registration order; another config (or another
        implementation) under a name already taken is refused."""
        name = config_type_name(config_class)
        taken = self._configs.get(name, config_class) is not config_class or (
            cls is not None and self._classes.get(name, cls) is not cls)
        if taken:
            first = self._classes[name] if name in self._classes else self._configs[name]
            raise TypeError(f"{self.kind} '{name}' is registered twice ({first.__name__}, {(cls or config_class).__name__})")
        self._configs[name] = config_class
        return name

    def __getitem__(self, name: str) -> type[T]:
        if name not in self._configs:
            raise LinksimError(f"unknown {self.kind} '{name}' (accepted: {', '.join(self._configs)})")
        if name not in self._classes:  # declared: its module registers it when imported
            cls = import_object(self._paths[name])
            if self._classes.get(name) is not cls:
                raise TypeError(f"{self._paths[name]} is not registered as {self.kind} '{name}'")
        return self._classes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._configs

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def items(self) -> list[tuple[str, type[T]]]:
        """Every extension by name (importing the declared ones)."""
        return [(name, self[name]) for name in self._configs]

    def values(self) -> list[type[T]]:
        return [cls for _, cls in self.items()]

    def config_classes(self) -> tuple[type, ...]:
        """Every config class (the members of the scenario schema's union), imported no implementation."""
        return tuple(self._configs.values())

    def build(self, config: Any, *args: Any, **kwargs: Any) -> T:
        """An instance of the extension ``config.type`` names, built from ``config``."""
        return self[config.type](config, *args, **kwargs)
