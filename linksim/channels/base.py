"""The interface every channel implements.

A channel takes complex symbols ``[B, K]`` with unit average power and a per-sample SNR ``[B]``
(Es/N0 in dB per complex channel use) and returns what the receiver's detector sees: equalised
symbols, the effective noise variance per symbol and, where the channel has pilots, the
receiver's own SNR estimate. Schemes never see pilots or resource grids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from linksim.schema import StrictModel


class ChannelConfig(StrictModel):
    """Base of every channel's YAML block; subclasses add ``type: Literal[...]`` and options."""

    type: str


@dataclass(frozen=True)
class ChannelOutput:
    """What a channel returns to the receiver.

    Attributes:
        y: equalised received symbols, ``[B, K]`` complex.
        noise_var: effective (post-equalisation) noise variance per symbol, ``[B, K]`` float.
        snr_estimate_db: the receiver's SNR estimate in dB, ``[B]``, or ``None`` when the channel
            has no estimator.
    """

    y: torch.Tensor
    noise_var: torch.Tensor
    snr_estimate_db: torch.Tensor | None = None


def snr_db_to_noise_var(snr_db: torch.Tensor) -> torch.Tensor:
    """Noise variance N0 per complex channel use for unit Es: ``N0 = 10^(-SNR/10)``. Shape kept."""
    return torch.pow(10.0, -snr_db / 10.0)


class Channel(nn.Module):
    """Base class: subclasses implement :meth:`forward` and set ``config_class``/``description``."""

    config_class: ClassVar[type[ChannelConfig]]
    description: ClassVar[str] = ""

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:  # pragma: no cover
        """Send ``x`` ``[B, K]`` (complex, unit average power) at SNR ``snr_db`` ``[B]``."""
        raise NotImplementedError
