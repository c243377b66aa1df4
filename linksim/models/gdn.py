"""Generalized divisive normalization (Ballé, Laparra, Simoncelli, ICLR 2016)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BETA_MIN = 1e-6
_PEDESTAL = 2.0**-36  # keeps the square-root parameterisation differentiable at 0


class GDN(nn.Module):
    """``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``; ``inverse=True`` multiplies (IGDN).

    ``beta`` and ``gamma`` are kept non-negative by a squared parameterisation with a lower
    bound, as in Ballé's reference implementation. Input/output ``[B, C, H, W]``.
    """

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_param = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        self.gamma_param = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + _PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_param.clamp_min((_BETA_MIN + _PEDESTAL) ** 0.5).pow(2) - _PEDESTAL
        gamma = self.gamma_param.clamp_min(_PEDESTAL**0.5).pow(2) - _PEDESTAL
        norm = torch.sqrt(F.conv2d(x * x, gamma[:, :, None, None], beta))
        return x * norm if self.inverse else x / norm
