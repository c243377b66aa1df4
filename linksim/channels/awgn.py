"""Additive white Gaussian noise, via Sionna's :class:`sionna.phy.channel.AWGN` block."""

from __future__ import annotations

from typing import Literal

import torch
from sionna.phy.channel import AWGN

from linksim.channels.base import Channel, ChannelConfig, ChannelOutput, snr_db_to_noise_var


class AWGNConfig(ChannelConfig):
    """``channel: {type: awgn}`` — no options."""

    type: Literal["awgn"] = "awgn"


class AWGNChannel(Channel):
    """Complex AWGN with a per-sample SNR, so that one batch can hold many SNRs.

    SNR is Es/N0 per complex channel use with unit average transmit power: the noise has
    variance ``N0 = 10^(-SNR/10)`` per complex symbol (``N0/2`` per real dimension).

    Input: ``x`` ``[B, K]`` complex, ``snr_db`` ``[B]``.
    Output: :class:`ChannelOutput` with ``y`` ``[B, K]`` and ``noise_var`` ``[B, K]`` (= N0);
    no SNR estimate (AWGN has no pilots yet).
    """

    config_class = AWGNConfig
    description = "complex AWGN (Sionna AWGN block), per-sample SNR"

    def __init__(self, config: AWGNConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config or AWGNConfig()
        self.awgn = AWGN(device=device)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:
        no = snr_db_to_noise_var(snr_db.to(torch.float32))
        y = self.awgn(x, no)
        return ChannelOutput(y=y, noise_var=no[:, None].expand(x.shape).contiguous())
