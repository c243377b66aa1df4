"""Transmission schemes: each maps images to channel symbols and back (see :mod:`.base`).

Every built-in scheme's config is declared in :mod:`.config` (torch-free: validating a scenario
imports no scheme); the classes below are imported from their modules on first use. A one-file
extension registers itself with ``@SCHEMES.register`` (its name is its config's ``type``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.lazy import lazy_exports
from linksim.schemes.config import (
    SCHEMES,
    CapacityConfig,
    DeepJSCCConfig,
    DiffusionConfig,
    DigitalConfig,
    GescoConfig,
    LayeredGanConfig,
    SchemeConfig,
    SoftCastConfig,
    SpicConfig,
)

if TYPE_CHECKING:
    from linksim.schemes.base import Scheme

_EXPORTS = {
    **dict.fromkeys(("LinkState", "Scheme", "Transmission", "channel_uses"), "linksim.schemes.base"),
    "SoftCast": "linksim.schemes.softcast",
    "DeepJSCCScheme": "linksim.schemes.deepjscc",
    "CapacityBound": "linksim.schemes.digital",
    "DigitalScheme": "linksim.schemes.digital",
    "DiffusionScheme": "linksim.schemes.diffusion",
    "GescoScheme": "linksim.schemes.gesco",
    "SpicScheme": "linksim.schemes.spic",
    "LayeredGanScheme": "linksim.schemes.layered_gan",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)


def build_scheme(config: SchemeConfig, device: str = "cpu") -> Scheme:
    """Instantiate the scheme that ``config.type`` names, on ``device``."""
    return SCHEMES.build(config, device=device).to(device)


__all__ = [
    "SCHEMES",
    "CapacityConfig",
    "DeepJSCCConfig",
    "DiffusionConfig",
    "DigitalConfig",
    "GescoConfig",
    "LayeredGanConfig",
    "SchemeConfig",
    "SoftCastConfig",
    "SpicConfig",
    "build_scheme",
    *_EXPORTS,
]
