"""What happens on a time-varying link before any image is sent: per trial and frame, the true
SNR, the receiver's estimate, what the feedback path delivers and what the rate policy picks.

None of it depends on the images or the scheme's output: the channel's evolution is exogenous,
the estimate comes from pilots, and the policy only sees fed-back estimates. So a whole point is
planned at once, ``[T, F]`` (trials x frames), and the transmissions can then be batched over
all trials and frames, grouped by the chosen ratio (see :func:`linksim.sweep.PointEvaluator`).

Frame ``t`` of trial ``i``:

- ``true_snr_db``: ``snr_trace[t]`` when the link has a trace, else the nominal SNR plus the
  per-frame Rayleigh power gain ``10 log10 |h_t|^2`` of :class:`~.fading.GaussMarkovFading`
  (correlation ``J0(2 pi f_D T_frame)`` between frames, ``f_D`` from the point's speed);
- ``estimate_db``: the receiver's pilot-based estimate of that frame's SNR (the channel's
  ``snr_estimate_db``);
- ``known_db``: what the transmitter knows when it sends frame ``t``:
  :class:`~.feedback.FeedbackPath` (delay, error, quantisation) applied to the estimates;
- ``choice``: the rate policy's index into ``policy.ratios`` at ``known_db``, and ``roi_weight``
  when the policy sets one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from linksim.channels import Channel
from linksim.link.fading import GaussMarkovFading, doppler_hz
from linksim.link.feedback import FeedbackPath
from linksim.link.policies import RatePolicy
from linksim.link.trace import SnrTrace


@dataclass(frozen=True)
class FrameSchedule:
    """Per-(trial, frame) plan of a link point; every tensor is ``[T, F]``."""

    true_snr_db: torch.Tensor
    estimate_db: torch.Tensor
    known_db: torch.Tensor
    choice: torch.Tensor
    roi_weight: torch.Tensor | None

    @property
    def trials(self) -> int:
        return self.true_snr_db.shape[0]

    @property
    def frames(self) -> int:
        return self.true_snr_db.shape[1]


def true_snr(trials: int, frames: int, nominal_snr_db: float, speed: float, carrier_frequency: float,
             frame_duration: float, trace: SnrTrace | None = None, device: str = "cpu") -> torch.Tensor:
    """The SNR in dB ``[T, F]`` each frame really has (see the module docstring)."""
    if trace is not None:
        return trace.load(frames).to(device)[None, :].expand(trials, frames).clone()
    fading = GaussMarkovFading(doppler_hz(speed, carrier_frequency), frame_duration, device)
    power = fading(trials, frames).abs().square().clamp_min(1e-12)
    return nominal_snr_db + 10 * torch.log10(power).float()


@torch.no_grad()
def estimate_snr(channel: Channel, true_snr_db: torch.Tensor) -> torch.Tensor:
    """The receiver's pilot-based SNR estimate ``[T, F]`` of every frame, from the channel's own
    estimator (one call on a one-symbol frame; only its pilots matter). Channels without an
    estimator give the true SNR (perfect estimation)."""
    flat = true_snr_db.reshape(-1)
    probe = channel(torch.zeros(len(flat), 1, dtype=torch.complex64, device=flat.device), flat)
    if probe.snr_estimate_db is None:
        return true_snr_db.clone()
    return probe.snr_estimate_db.float().reshape(true_snr_db.shape)


def plan_frames(true_snr_db: torch.Tensor, estimate_db: torch.Tensor, feedback: FeedbackPath, policy: RatePolicy,
                nominal_snr_db: float) -> FrameSchedule:
    """Feedback and policy decisions for every trial and frame, vectorised."""
    known = feedback(estimate_db, nominal_snr_db)
    return FrameSchedule(true_snr_db, estimate_db, known, policy.index(known), policy.roi_weight(known))
