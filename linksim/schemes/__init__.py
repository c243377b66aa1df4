"""Transmission schemes: each maps images to channel symbols and back (see :mod:`.base`)."""

from __future__ import annotations

from linksim.schemes.base import LinkState, Scheme, SchemeConfig, Transmission, channel_uses
from linksim.schemes.deepjscc import DeepJSCCConfig, DeepJSCCScheme
from linksim.schemes.diffusion import DiffusionConfig, DiffusionScheme
from linksim.schemes.digital import CapacityBound, CapacityConfig, DigitalConfig, DigitalScheme
from linksim.schemes.softcast import SoftCast, SoftCastConfig

SCHEMES: dict[str, type[Scheme]] = {
    "softcast": SoftCast, "deepjscc": DeepJSCCScheme, "digital": DigitalScheme, "capacity": CapacityBound,
    "diffusion": DiffusionScheme,
}


def build_scheme(config: SchemeConfig, device: str = "cpu") -> Scheme:
    """Instantiate the scheme that ``config.type`` names, on ``device``."""
    return SCHEMES[config.type](config, device=device).to(device)


__all__ = [
    "SCHEMES",
    "CapacityBound",
    "CapacityConfig",
    "DiffusionConfig",
    "DiffusionScheme",
    "DigitalConfig",
    "DigitalScheme",
    "DeepJSCCConfig",
    "DeepJSCCScheme",
    "LinkState",
    "Scheme",
    "SchemeConfig",
    "SoftCast",
    "SoftCastConfig",
    "Transmission",
    "build_scheme",
    "channel_uses",
]
