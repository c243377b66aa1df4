"""Channels: every one maps symbols ``[B, K]`` + SNR ``[B]`` to a :class:`ChannelOutput`."""

from __future__ import annotations

from linksim.channels.awgn import AWGNChannel, AWGNConfig
from linksim.channels.base import Channel, ChannelConfig, ChannelOutput, snr_db_to_noise_var

CHANNELS: dict[str, type[Channel]] = {"awgn": AWGNChannel}


def build_channel(config: ChannelConfig, device: str = "cpu") -> Channel:
    """Instantiate the channel that ``config.type`` names, on ``device``."""
    return CHANNELS[config.type](config, device=device)


__all__ = [
    "CHANNELS",
    "AWGNChannel",
    "AWGNConfig",
    "Channel",
    "ChannelConfig",
    "ChannelOutput",
    "build_channel",
    "snr_db_to_noise_var",
]
