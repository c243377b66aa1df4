"""Transmission schemes: each maps images to channel symbols and back (see :mod:`.base`).

A scheme registers itself with ``@SCHEMES.register`` (its name is its config's ``type``); the
imports below are the one place that lists the modules, so importing this package registers
every built-in scheme.
"""

from __future__ import annotations

from linksim.schemes.base import SCHEMES, LinkState, Scheme, SchemeConfig, Transmission, channel_uses
from linksim.schemes.softcast import SoftCast, SoftCastConfig  # noqa: I001 (registration order = listing order)
from linksim.schemes.deepjscc import DeepJSCCConfig, DeepJSCCScheme
from linksim.schemes.digital import CapacityBound, CapacityConfig, DigitalConfig, DigitalScheme
from linksim.schemes.diffusion import DiffusionConfig, DiffusionScheme
from linksim.schemes.gesco import GescoConfig, GescoScheme
from linksim.schemes.spic import SpicConfig, SpicScheme
from linksim.schemes.layered_gan import LayeredGanConfig, LayeredGanScheme


def build_scheme(config: SchemeConfig, device: str = "cpu") -> Scheme:
    """Instantiate the scheme that ``config.type`` names, on ``device``."""
    return SCHEMES.build(config, device=device).to(device)


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
    "GescoConfig",
    "GescoScheme",
    "LayeredGanConfig",
    "LayeredGanScheme",
    "LinkState",
    "Scheme",
    "SchemeConfig",
    "SoftCast",
    "SpicConfig",
    "SpicScheme",
    "SoftCastConfig",
    "Transmission",
    "build_scheme",
    "channel_uses",
]
