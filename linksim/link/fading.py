"""Time-correlated flat fading across frames: a first-order Gauss-Markov (AR(1)) process.

A trial of a discrete-time link is a sequence of frames; each frame sees one complex gain
``h_t ~ CN(0, 1)`` (block fading per frame), and consecutive frames are correlated through

    h_{t+1} = rho h_t + sqrt(1 - rho^2) w_t,    w_t ~ CN(0, 1) i.i.d.,    h_0 ~ CN(0, 1),
    rho = J0(2 pi f_D T_frame),                  f_D = v f_c / c,

so every ``h_t`` is CN(0, 1) (unit mean power: the SNR convention of :mod:`linksim.channels.base`
holds in every frame) and the process is stationary with autocorrelation
``E[h_{t+k} conj(h_t)] = rho^|k|``.

**How it relates to Jakes' model.** Clarke/Jakes' isotropic-scattering model has the
autocorrelation ``J0(2 pi f_D tau)``. The Gauss-Markov process matches it *exactly at lag 1*
(``rho`` is chosen so) and only approximates it at larger lags: ``rho^k`` versus
``J0(2 pi f_D k T_frame)``. ``rho^k`` decays monotonically and never goes negative, whereas J0
oscillates; the two agree closely while ``2 pi f_D k T_frame`` is small (``J0(x) ~ 1 - x^2/4``
versus ``rho^k ~ 1 - k x1^2/4`` for ``x = k x1``: the AR(1) model decorrelates *slower* at lags
``k > 1`` than Jakes for slow fading). ``rho`` itself may be negative when ``2 pi f_D T_frame``
exceeds J0's first zero (2.405), i.e. when frames are far apart relative to the Doppler; then
consecutive gains are anti-correlated, as in Jakes' model at that lag.

The i.i.d. CN(0, 1) draws come from Sionna's :func:`~sionna.phy.utils.complex_normal` (the draw
that :class:`~sionna.phy.channel.RayleighBlockFading` makes internally, but with an optional
explicit generator; without one it uses Sionna's per-device generator, which
:func:`linksim.randomness.seed_everything` seeds per sweep point). The recursion is applied in
closed form as one lower-triangular matrix product, vectorised over the batch and the frames.
"""

from __future__ import annotations

import math

import torch
from scipy.special import j0
from sionna.phy.utils import complex_normal
from torch import nn

from linksim.channels.base import sionna_device

#: Speed of light in vacuum [m/s].
SPEED_OF_LIGHT = 299_792_458.0


def doppler_hz(speed_mps: float, carrier_frequency_hz: float) -> float:
    """Maximum Doppler frequency ``f_D = v f_c / c`` [Hz] of a terminal moving at ``speed_mps``."""
    if speed_mps < 0 or carrier_frequency_hz <= 0:
        raise ValueError(f"need speed >= 0 and carrier frequency > 0, got {speed_mps} m/s, {carrier_frequency_hz} Hz")
    return speed_mps * carrier_frequency_hz / SPEED_OF_LIGHT


def frame_correlation(doppler: float, frame_duration_s: float, lag: int = 1) -> float:
    """Jakes' autocorrelation ``J0(2 pi f_D lag T_frame)`` of the gain ``lag`` frames apart.

    At ``lag = 1`` this is the Gauss-Markov coefficient ``rho`` of :class:`GaussMarkovFading`.
    """
    if doppler < 0 or frame_duration_s <= 0:
        raise ValueError(f"need Doppler >= 0 and frame duration > 0, got {doppler} Hz, {frame_duration_s} s")
    return float(j0(2.0 * math.pi * doppler * frame_duration_s * lag))


def gauss_markov_matrix(rho: float, frames: int) -> torch.Tensor:
    """``L`` ``[frames, frames]`` (float64) with ``h = L w`` for i.i.d. CN(0, 1) ``w``.

    Unrolling the recursion: ``h_t = rho^t w_0 + sqrt(1 - rho^2) sum_{s=1..t} rho^(t-s) w_s``,
    so ``L[t, s] = c_s rho^(t-s)`` for ``s <= t`` (0 above the diagonal), ``c_0 = 1`` (the
    stationary initial state) and ``c_s = sqrt(1 - rho^2)`` for the innovations.
    """
    t = torch.arange(frames, dtype=torch.float64)
    lag = t[:, None] - t[None, :]
    # Clamp before the power so that 0^(negative) = inf never meets the mask (inf * 0 = nan).
    powers = torch.pow(torch.tensor(rho, dtype=torch.float64), lag.clamp_min(0.0))
    scale = torch.full((frames,), math.sqrt(max(0.0, 1.0 - rho * rho)), dtype=torch.float64)
    scale[0] = 1.0
    return torch.tril(powers) * scale[None, :]


class GaussMarkovFading(nn.Module):
    """Per-frame flat Rayleigh block fading, correlated across frames (Gauss-Markov, Jakes at lag 1).

    See the module docstring for the model and how it approximates Jakes' J0 autocorrelation.

    Args:
        doppler: maximum Doppler frequency ``f_D`` [Hz] (:func:`doppler_hz`); 0 gives one gain
            for the whole trial (quasi-static).
        frame_duration_s: time between the starts of consecutive frames ``T_frame`` [s].
        device: torch device of the output (``"cpu"``, ``"cuda"``, ``"cuda:0"``).

    Input (:meth:`forward`):
        batch_size: number of independent trials ``B``.
        frames: frames per trial ``F``.
        generator: optional ``torch.Generator`` on ``device``; ``None`` uses Sionna's generator.

    Output:
        h: ``[B, F]`` complex64, each entry CN(0, 1); ``E[h[:, t+k] conj(h[:, t])] = rho^|k|``.
    """

    def __init__(self, doppler: float, frame_duration_s: float, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.doppler = float(doppler)
        self.frame_duration_s = float(frame_duration_s)
        self.rho = frame_correlation(self.doppler, self.frame_duration_s, lag=1)
        self.device = sionna_device(device)

    @classmethod
    def from_speed(cls, speed_mps: float, carrier_frequency_hz: float, frame_duration_s: float,
                   device: str | torch.device = "cpu") -> "GaussMarkovFading":
        """The process of a terminal at ``speed_mps`` on carrier ``carrier_frequency_hz``."""
        return cls(doppler_hz(speed_mps, carrier_frequency_hz), frame_duration_s, device)

    def autocorrelation(self, lag: int) -> float:
        """The model's autocorrelation ``rho^|lag|`` (equal to Jakes' J0 at lag 0 and 1 only)."""
        return self.rho ** abs(lag)

    def forward(self, batch_size: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        w = complex_normal([batch_size, frames], device=self.device, generator=generator)  # [B, F]
        mixing = gauss_markov_matrix(self.rho, frames).to(device=w.device, dtype=w.dtype)
        return w @ mixing.T  # row b: h_b = L w_b

    def extra_repr(self) -> str:
        return f"doppler={self.doppler:.4g} Hz, frame_duration={self.frame_duration_s:.4g} s, rho={self.rho:.4f}"
