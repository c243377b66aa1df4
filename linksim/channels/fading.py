"""Flat block Rayleigh fading, and the block/pilot frame layout it shares with :mod:`.awgn`.

A sample's ``K`` data symbols are cut into blocks; each block is one coherence interval: its
channel uses (pilots first, then data) share one complex gain ``h ~ CN(0, 1)``, drawn by Sionna's
:class:`~sionna.phy.channel.RayleighBlockFading`; blocks are independent. The receiver estimates
``h`` per block by least squares from the block's pilots (or knows it: perfect CSI) and equalises
with Sionna's MMSE equaliser :func:`~sionna.phy.mimo.lmmse_equalizer`, which for one antenna is
``x_hat = conj(h_hat) y / (|h_hat|^2 + s)`` rescaled to be unbiased, i.e. ``x_hat = y / h_hat``,
with effective noise variance ``s / |h_hat|^2`` where ``s = N0 + err_var`` adds the variance of
the channel-estimation error (``N0 / P`` for ``P`` pilots; the error term ``(h - h_hat) x`` is
treated as extra Gaussian noise, as Sionna's OFDM receivers do).
"""

from __future__ import annotations

import torch
from sionna.phy.channel import AWGN, RayleighBlockFading
from sionna.phy.mimo import lmmse_equalizer

from linksim.channels.base import (
    CHANNELS,
    Channel,
    ChannelOutput,
    sionna_device,
    snr_db_to_noise_var,
)
from linksim.channels.blocks import BlockLayout
from linksim.channels.config import RayleighConfig
from linksim.channels.snr import estimate_snr_db, frame_snr_db

@CHANNELS.register
class RayleighChannel(Channel):
    """Flat block Rayleigh fading with MMSE equalisation and perfect or LS-estimated CSI.

    Input: ``x`` ``[B, K]`` complex (unit average power), ``snr_db`` ``[B]``.
    Output: :class:`ChannelOutput`: ``y`` ``[B, K]`` = ``x + e`` (unbiased MMSE), ``noise_var``
    ``[B, K]`` = ``(N0 + err_var) / |h_hat|^2``, ``snr_estimate_db`` ``[B]`` (exact frame SNR with
    perfect CSI, pilot estimate otherwise; see :mod:`.snr`), ``pilot_uses``.
    """

    config_class = RayleighConfig
    description = "flat block Rayleigh fading, perfect or LS-estimated CSI, MMSE equalisation (Sionna)"

    def __init__(self, config: RayleighConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config or RayleighConfig()
        device = sionna_device(device)
        self.fading = RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)
        self.awgn = AWGN(device=device)

    def layout(self, num_symbols: int) -> BlockLayout:
        pilots = self.config.pilots
        return BlockLayout(num_symbols, self.config.coherence_symbols - pilots, pilots)

    def pilot_uses(self, num_symbols: int) -> int:
        return self.layout(num_symbols).pilot_uses

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:
        b, k = x.shape
        layout = self.layout(k)
        no = snr_db_to_noise_var(snr_db.to(device=x.device, dtype=torch.float32))  # [B]
        h, _ = self.fading(batch_size=b * layout.num_blocks, num_time_steps=1)
        h = h.reshape(b, layout.num_blocks, 1)
        z, y = layout.split(self.awgn(h * layout.frame(x), no))
        if self.config.csi == "perfect":
            h_hat, err_var = h, torch.zeros_like(no)
            snr_estimate = frame_snr_db(layout.data(h.abs().square()), no)
        else:
            h_hat, err_var = z.mean(dim=2, keepdim=True), no / layout.pilots_per_block
            snr_estimate = estimate_snr_db(z, degree=0)
        s = (no + err_var).reshape(b, 1, 1, 1, 1).to(x.dtype)
        # One 1x1 "MIMO" system per block, broadcast over the block's data symbols.
        x_hat, no_eff = lmmse_equalizer(y[..., None], h_hat[..., None, None], s, whiten_interference=False)
        return ChannelOutput(
            y=layout.data(x_hat[..., 0]),
            noise_var=layout.data(no_eff[..., 0]).contiguous(),
            snr_estimate_db=snr_estimate,
            pilot_uses=layout.pilot_uses,
        )
