"""Receiver-side SNR estimation from pilots, shared by every channel.

**What is estimated** — the *frame SNR* of each sample (see :mod:`linksim.channels.base`): the mean
over the sample's channel uses of the per-use received SNR ``|h|^2 Es/N0``, in dB. It is the
average post-equalisation SNR the sample would have with perfect CSI: it follows this
realisation's fading (a feedback path can adapt to it) but leaves out the receiver's own
channel-estimation loss. Its expectation over the fading is the nominal SNR, since ``E|h|^2 = 1``.

**How** — a method-of-moments estimator on least-squares pilot observations. A channel hands over
``z = y_p conj(p) / |p|^2`` for unit-modulus pilots ``p``, grouped as ``[B, G, P]``: ``G`` groups
of ``P`` pilots over which the channel is (close to) a polynomial of degree ``d`` in the pilot
index — ``d = 0`` for a fading block or an AWGN frame (constant gain), ``d = 2`` for a window of
adjacent OFDM subcarriers (locally quadratic frequency response). Then ``z = h + w`` with
``w ~ CN(0, N0)`` and

- noise: projecting each group onto the orthogonal complement of the degree-``d`` polynomials
  removes ``h`` and leaves noise with ``P - d - 1`` complex degrees of freedom, so
  ``N0_hat = sum |r|^2 / (G (P - d - 1))`` is unbiased;
- signal: ``E|z|^2 = E|h|^2 + N0``, so ``S_hat = mean |z|^2 - N0_hat`` is unbiased;
- ``SNR_hat = S_hat / N0_hat``, clamped to [-30, 100] dB so that the dB value stays finite.

The noise estimate needs ``P >= d + 2`` pilots per group; channels validate their configs so.
A channel that deviates from the polynomial within a group (long delay spreads in OFDM) biases
``N0_hat`` up, which caps the estimate at high SNR (see :data:`linksim.channels.ofdm.SNR_WINDOW`).

With perfect CSI the receiver knows ``h`` and ``N0``; :func:`frame_snr_db` gives the exact value.
"""

from __future__ import annotations

import torch

MIN_SNR_DB = -30.0
MAX_SNR_DB = 100.0


def pilot_observations(y_pilots: torch.Tensor, pilots: torch.Tensor) -> torch.Tensor:
    """Least-squares channel observations ``z = y conj(p) / |p|^2`` (any matching shapes)."""
    return y_pilots * pilots.conj() / pilots.abs().square()


def residual_projector(length: int, degree: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``I - Q Q^T`` ``[length, length]`` (float32), Q an orthonormal basis of the polynomials of
    ``degree`` on ``0..length-1``: it removes a degree-``degree`` trend from a row vector."""
    t = torch.linspace(-1.0, 1.0, length, dtype=torch.float64)
    basis = torch.stack([t**k for k in range(degree + 1)], dim=1)  # [length, degree+1]
    q, _ = torch.linalg.qr(basis)
    projector = torch.eye(length, dtype=torch.float64) - q @ q.T
    return projector.to(device=device, dtype=torch.float32)


def windows(z: torch.Tensor, size: int) -> torch.Tensor:
    """Cut the last axis ``[..., L]`` into ``L // size`` disjoint windows ``[..., L // size, size]``
    (a trailing remainder shorter than ``size`` is dropped)."""
    count = z.shape[-1] // size
    return z[..., : count * size].unflatten(-1, (count, size))


@torch.no_grad()
def estimate_snr_db(z: torch.Tensor, degree: int = 0) -> torch.Tensor:
    """Frame SNR estimate in dB ``[B]`` from pilot observations ``z`` ``[B, G, P]`` (complex).

    ``degree`` is the polynomial order of the channel within a group (0: constant, 2: quadratic);
    requires ``P >= degree + 2``. See the module docstring for the estimator and its assumptions.
    """
    b, g, p = z.shape
    if p < degree + 2:
        raise ValueError(f"SNR estimation needs at least {degree + 2} pilots per group, got {p}")
    z = z.detach()
    projector = residual_projector(p, degree, z.device).to(z.dtype)
    residual = z @ projector  # [B, G, P]; the projector is symmetric
    noise = residual.abs().square().sum(dim=(1, 2)) / (g * (p - degree - 1))
    signal = z.abs().square().mean(dim=(1, 2)) - noise
    return _to_db(signal, noise)


@torch.no_grad()
def frame_snr_db(gain: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
    """Exact frame SNR in dB ``[B]`` (perfect CSI): ``mean |h|^2 / N0`` from the power gains
    ``|h|^2`` ``[B, K]`` of the sample's data symbols and the noise variance ``N0`` ``[B]``."""
    return _to_db(gain.detach().float().mean(dim=1), noise_var.detach().float())


def _to_db(signal: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    snr = signal / noise.clamp_min(1e-30)
    return (10.0 * torch.log10(snr.clamp_min(1e-30))).clamp(MIN_SNR_DB, MAX_SNR_DB).float()
