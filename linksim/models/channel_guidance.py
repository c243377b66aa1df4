"""Posterior sampling with the channel likelihood: diffusion posterior sampling (DPS: Chung et
al., ICLR 2023) as DiffCom (Wang et al., 2024) applies it to a DeepJSCC link.

The receiver knows what arrived, ``y``, and how the transmitter maps an image to symbols, ``f``
(the DeepJSCC encoder at the point's SNR and ratio). After each sampler step the sample moves
against the gradient, with respect to the step's input ``x_t``, of the whitened distance between
what arrived and what the step's predicted clean image would have sent::

    d(x_t) = || (y - f(x0_hat(x_t))) / sqrt(noise_var) ||        x_{t-1} <- x_{t-1} - scale * grad d

DPS's normalisation (the gradient of the norm, not of its square) keeps ``scale`` comparable
across SNRs and image sizes. ``noise_var`` is the per-symbol effective noise variance the channel
reports (after equalisation on OFDM), so symbols on weak subcarriers count less.
"""

from __future__ import annotations

from typing import Callable

import torch

StepFunction = Callable[[torch.Tensor], object]  # x_t -> a scheduler output with prev_sample, pred_original_sample


class ChannelLikelihoodGuidance:
    """DPS correction of one sampler step towards images consistent with the received symbols.

    Args:
        forward_model: images ``[B, 3, H, W]`` in [0, 1] -> the symbols they would have sent,
            ``[B, K]`` complex (differentiable; the scheme's own transmitter).
        y: received symbols ``[B, K]`` complex.
        noise_var: their effective noise variances ``[B, K]``.
        scale: the step ``scale`` (0 turns guidance off).
    """

    def __init__(self, forward_model: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, noise_var: torch.Tensor,
                 scale: float) -> None:
        if scale < 0:
            raise ValueError(f"guidance scale must be >= 0, got {scale}")
        self.forward_model, self.y, self.scale = forward_model, y, scale
        self.inverse_std = noise_var.clamp_min(1e-10).rsqrt()

    def distance(self, images: torch.Tensor) -> torch.Tensor:
        """Whitened distance ``[B]`` between the received symbols and those ``images`` would send."""
        residual = (self.y - self.forward_model(images)) * self.inverse_std
        return residual.abs().pow(2).sum(dim=1).sqrt()

    def step(self, step: StepFunction, x_t: torch.Tensor) -> torch.Tensor:
        """Run ``step`` on ``x_t`` ``[B, 3, H, W]`` (in [-1, 1]) and return its guided ``prev_sample``."""
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            out = step(x)
            clean = ((out.pred_original_sample + 1) / 2).clamp(0, 1)
            (grad,) = torch.autograd.grad(self.distance(clean).sum(), x)
        return (out.prev_sample - self.scale * grad).detach()
