"""Pilot-block framing shared by the flat channels: data symbols in blocks, each preceded by
known pilots from which the receiver estimates the gain (Rayleigh) or the SNR (AWGN)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from linksim.channels.snr import pilot_observations

PILOT_SYMBOL = 1.0 + 0.0j  # known unit-power pilot; its phase is irrelevant to LS estimation


@dataclass(frozen=True)
class BlockLayout:
    """``num_symbols`` data symbols in blocks of ``data_per_block``, each block preceded by
    ``pilots_per_block`` pilots. The last block may be partial: its padding is dropped, it is no
    channel use. Frames are ``[B, num_blocks, pilots_per_block + data_per_block]``."""

    num_symbols: int
    data_per_block: int
    pilots_per_block: int

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.num_symbols / self.data_per_block)

    @property
    def pilot_uses(self) -> int:
        """Pilot channel uses per sample."""
        return self.num_blocks * self.pilots_per_block

    def frame(self, x: torch.Tensor) -> torch.Tensor:
        """Data ``[B, K]`` -> frame ``[B, num_blocks, P + D]`` with the pilots in front."""
        b = x.shape[0]
        data = F.pad(x, (0, self.num_blocks * self.data_per_block - self.num_symbols))
        data = data.reshape(b, self.num_blocks, self.data_per_block)
        pilots = torch.full((b, self.num_blocks, self.pilots_per_block), PILOT_SYMBOL,
                            dtype=x.dtype, device=x.device)
        return torch.cat([pilots, data], dim=2)

    def split(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame ``[B, N, P + D]`` -> LS pilot observations ``[B, N, P]`` and data ``[B, N, D]``."""
        pilots, data = frame.split([self.pilots_per_block, self.data_per_block], dim=2)
        return pilot_observations(pilots, torch.tensor(PILOT_SYMBOL, device=frame.device)), data

    def data(self, blocks: torch.Tensor) -> torch.Tensor:
        """Per-data-symbol values ``[B, N, D]`` (or broadcastable ``[B, N, 1]``) -> ``[B, K]``."""
        b = blocks.shape[0]
        blocks = blocks.expand(b, self.num_blocks, self.data_per_block)
        return blocks.reshape(b, -1)[:, : self.num_symbols]
