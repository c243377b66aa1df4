"""Channels: every one maps symbols ``[B, K]`` + SNR ``[B]`` to a :class:`ChannelOutput`.

Registered channels (``channel: {type: ...}`` in a scenario):

- ``awgn``: complex AWGN (:mod:`.awgn`);
- ``rayleigh``: flat block Rayleigh fading with perfect or LS-estimated CSI (:mod:`.fading`);
- ``ofdm``: OFDM slots over 3GPP TDL/CDL or flat Rayleigh with Sionna's estimators and
  equalisers (:mod:`.ofdm`).

All share the conventions of :mod:`.base` and the pilot-based SNR estimator of :mod:`.snr`.
Every built-in channel's config is declared in :mod:`.config` (torch- and Sionna-free: validating
a scenario imports no channel); the classes below are imported from their modules on first use.
A one-file extension registers itself with ``@CHANNELS.register`` (its name is its config's ``type``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.channels.config import CHANNELS, AWGNConfig, ChannelConfig, OFDMConfig, RayleighConfig
from linksim.lazy import lazy_exports

if TYPE_CHECKING:
    from linksim.channels.base import Channel

_EXPORTS = {
    **dict.fromkeys(("Channel", "ChannelOutput", "sionna_device", "snr_db_to_noise_var"), "linksim.channels.base"),
    "AWGNChannel": "linksim.channels.awgn",
    "RayleighChannel": "linksim.channels.fading",
    "OFDMChannel": "linksim.channels.ofdm",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)


def build_channel(config: ChannelConfig, device: str = "cpu") -> Channel:
    """Instantiate the channel that ``config.type`` names, on ``device``."""
    return CHANNELS.build(config, device=device)


__all__ = ["CHANNELS", "AWGNConfig", "ChannelConfig", "OFDMConfig", "RayleighConfig", "build_channel", *_EXPORTS]
