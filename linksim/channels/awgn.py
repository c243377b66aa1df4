"""Additive white Gaussian noise, via Sionna's :class:`sionna.phy.channel.AWGN` block."""

from __future__ import annotations

import torch
from sionna.phy.channel import AWGN

from linksim.channels.base import (
    CHANNELS,
    Channel,
    ChannelOutput,
    sionna_device,
    snr_db_to_noise_var,
)
from linksim.channels.blocks import BlockLayout
from linksim.channels.config import AWGNConfig
from linksim.channels.snr import estimate_snr_db


@CHANNELS.register
class AWGNChannel(Channel):
    """Complex AWGN with a per-sample SNR, so that one batch can hold many SNRs.

    SNR is Es/N0 per complex channel use with unit average transmit power: the noise has
    variance ``N0 = 10^(-SNR/10)`` per complex symbol (``N0/2`` per real dimension).

    Input: ``x`` ``[B, K]`` complex, ``snr_db`` ``[B]``.
    Output: :class:`ChannelOutput` with ``y`` ``[B, K]``, ``noise_var`` ``[B, K]`` (= N0), the SNR
    estimate ``[B]`` from ``snr_pilots`` pilots (one frame of unknown constant gain, see
    :mod:`.snr`) and ``pilot_uses = snr_pilots``.
    """

    config_class = AWGNConfig
    description = "complex AWGN (Sionna AWGN block), per-sample SNR, pilot-based SNR estimate"

    def __init__(self, config: AWGNConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config or AWGNConfig()
        self.awgn = AWGN(device=sionna_device(device))

    def layout(self, num_symbols: int) -> BlockLayout:
        """The whole sample is one block: ``snr_pilots`` pilots, then the data."""
        return BlockLayout(num_symbols, num_symbols, self.config.snr_pilots)

    def pilot_uses(self, num_symbols: int) -> int:
        return self.config.snr_pilots

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:
        layout = self.layout(x.shape[1])
        no = snr_db_to_noise_var(snr_db.to(device=x.device, dtype=torch.float32))
        z, y = layout.split(self.awgn(layout.frame(x), no))
        estimate = estimate_snr_db(z, degree=0) if layout.pilots_per_block else None
        return ChannelOutput(
            y=y[:, 0],
            noise_var=no[:, None].expand(x.shape).contiguous(),
            snr_estimate_db=estimate,
            pilot_uses=layout.pilot_uses,
        )
