"""Channels: every one maps symbols ``[B, K]`` + SNR ``[B]`` to a :class:`ChannelOutput`.

Registered channels (``channel: {type: ...}`` in a scenario):

- ``awgn``: complex AWGN (:mod:`.awgn`);
- ``rayleigh``: flat block Rayleigh fading with perfect or LS-estimated CSI (:mod:`.fading`);
- ``ofdm``: OFDM slots over 3GPP TDL/CDL or flat Rayleigh with Sionna's estimators and
  equalisers (:mod:`.ofdm`).

All share the conventions of :mod:`.base` and the pilot-based SNR estimator of :mod:`.snr`.
A channel registers itself with ``@CHANNELS.register`` (its name is its config's ``type``);
the imports below register the built-in ones.
"""

from __future__ import annotations

from linksim.channels.awgn import AWGNChannel, AWGNConfig
from linksim.channels.base import (
    CHANNELS,
    Channel,
    ChannelConfig,
    ChannelOutput,
    sionna_device,
    snr_db_to_noise_var,
)
from linksim.channels.fading import RayleighChannel, RayleighConfig
from linksim.channels.ofdm import OFDMChannel, OFDMConfig



def build_channel(config: ChannelConfig, device: str = "cpu") -> Channel:
    """Instantiate the channel that ``config.type`` names, on ``device``."""
    return CHANNELS.build(config, device=device)


__all__ = [
    "CHANNELS",
    "AWGNChannel",
    "AWGNConfig",
    "Channel",
    "ChannelConfig",
    "ChannelOutput",
    "OFDMChannel",
    "OFDMConfig",
    "RayleighChannel",
    "RayleighConfig",
    "build_channel",
    "sionna_device",
    "snr_db_to_noise_var",
]
