"""Semantic maps as analog channel symbols, and what a receiver infers from them (GESCO's link).

A label map ``[B, H, W]`` (K classes and void, ``K + 1`` values) is sent at ``1/f`` of its
resolution: each kept position becomes its one-hot vector scaled by ``a = sqrt((K + 1) / 2)``,
two real values per complex channel use, so that the symbols have unit average power. Given the
received reals ``r`` with per-value noise variance ``v`` (half the complex symbol's), the
posterior of class ``c`` at a position is ``softmax_c(a r_c / v)`` (Gaussian likelihoods of
equal-energy signals): the receiver's "fast denoising step", exact for
AWGN and for an equalised fading channel with its effective noise variance. The posterior is
upsampled (nearest) back to ``H x W`` for the map-conditioned generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The resolution factors a map is sent at (1 = full resolution), finest first.
MAP_FACTORS = (1, 2, 4, 8, 16, 32)

__all__ = ["MAP_FACTORS", "amplitude", "map_values", "map_symbols", "class_posterior", "posterior_from_symbols", "one_hot"]


def one_hot(labels: torch.Tensor, planes: int) -> torch.Tensor:
    """``[B, H, W]`` int -> ``[B, planes, H, W]`` float one-hot."""
    return F.one_hot(labels.long(), planes).permute(0, 3, 1, 2).float()


def map_values(labels: torch.Tensor, planes: int, factor: int) -> int:
    """Real values a map of ``labels`` ``[B, H, W]`` takes at ``1/factor`` resolution."""
    h, w = labels.shape[-2] // factor, labels.shape[-1] // factor
    return planes * h * w


def map_symbols(labels: torch.Tensor, planes: int, factor: int) -> torch.Tensor:
    """Complex symbols ``[B, planes H W / (2 f^2)]`` (unit average power) of the map subsampled by
    ``factor`` (the label at the centre of each ``f x f`` block)."""
    kept = labels[..., factor // 2 :: factor, factor // 2 :: factor]
    # position-major (a position's planes are consecutive), so that any run of whole positions,
    # such as a partial repeat of the map, has unit power whatever the class mix
    reals = one_hot(kept, planes).permute(0, 2, 3, 1).flatten(1) * amplitude(planes)
    if reals.shape[1] % 2:
        reals = F.pad(reals, (0, 1))
    return torch.complex(reals[:, 0::2], reals[:, 1::2])


def amplitude(planes: int) -> float:
    """The one-hot scale that gives unit power per complex symbol (two reals per symbol)."""
    return (planes / 2) ** 0.5


def class_posterior(reals: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """Posterior ``[B, planes, h, w]`` from received reals and their noise variance (same shape)."""
    return torch.softmax(reals * amplitude(reals.shape[1]) / noise_var.clamp_min(1e-9), dim=1)


def posterior_from_symbols(y: torch.Tensor, noise_var: torch.Tensor, planes: int, grid: tuple[int, int],
                           size: tuple[int, int]) -> torch.Tensor:
    """Received symbols ``y`` and their complex noise variance ``[B, K]`` (from :func:`map_symbols`)
    -> the class posterior ``[B, planes, H, W]`` upsampled (nearest) to ``size``."""
    b, n = y.shape[0], planes * grid[0] * grid[1]
    reals = torch.stack([y.real, y.imag], dim=2).flatten(1)[:, :n]
    variance = (noise_var / 2).repeat_interleave(2, dim=1)[:, :n]
    to_planes = lambda t: t.reshape(b, *grid, planes).permute(0, 3, 1, 2)  # noqa: E731
    posterior = class_posterior(to_planes(reals), to_planes(variance))
    return F.interpolate(posterior, size=size, mode="nearest")
