"""What happens on a time-varying link before any image is sent: per trial and frame, the channel,
the true SNR, the receiver's estimate, what the feedback path delivers and what the rate policy
picks.

None of it depends on the images or the scheme's output: the channel's evolution is exogenous,
the estimate comes from pilots, and the policy only sees fed-back estimates. So a whole point is
planned at once, ``[T, F]`` (trials x frames), and the transmissions can then be batched over
all trials and frames, grouped by the chosen ratio (see :func:`linksim.sweep.PointEvaluator`).

Frame ``t`` of trial ``i``:

- the channel (a :class:`FrameChannel`): over ``awgn``, a flat Rayleigh gain per frame from
  :class:`~.fading.GaussMarkovFading` (correlation ``J0(2 pi f_D T_frame)`` between frames,
  ``f_D`` from the point's speed) or the SNR of ``snr_trace`` (:class:`FlatFrames`); over ``ofdm``
  with a TDL/CDL model, one continuous Sionna realisation per trial sampled at every OFDM symbol
  time across all frames, so it evolves with the speed's Doppler within and between frames
  (:class:`OFDMFrames`);
- ``true_snr_db``: the frame's SNR, the nominal SNR times the frame's mean channel power gain
  (over ``ofdm``: over the data REs of the frame's first slot);
- ``estimate_db``: the receiver's pilot-based estimate of that frame's SNR (the channel's
  ``snr_estimate_db``);
- ``known_db``: what the transmitter knows when it sends frame ``t``:
  :class:`~.feedback.FeedbackPath` (delay, error, quantisation) applied to the estimates;
- ``choice``: the rate policy's index into ``policy.ratios`` at ``known_db``, and ``roi_weight``
  when the policy sets one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from linksim.channels import Channel, ChannelOutput
from linksim.channels.ofdm import OFDMChannel
from linksim.errors import ScenarioError
from linksim.link.config import SnrTrace
from linksim.link.fading import GaussMarkovFading, doppler_hz
from linksim.link.feedback import FeedbackPath
from linksim.link.policies import RatePolicy
from linksim.randomness import RowKeys, per_row


class FrameChannel(ABC):
    """The channel of every trial and frame of a link point, fixed before anything is sent.

    Attributes:
        true_snr_db: the SNR of each frame ``[T, F]`` in dB.
    """

    true_snr_db: torch.Tensor

    @abstractmethod
    def estimate_db(self) -> torch.Tensor:
        """The receiver's pilot-based SNR estimate of every frame ``[T, F]`` (dB)."""

    @abstractmethod
    def send(self, x: torch.Tensor, trial: torch.Tensor, frame: torch.Tensor, keys: RowKeys | None = None) -> ChannelOutput:
        """Symbols ``x`` ``[B, K]`` of the given (trial, frame) pairs (each ``[B]``) through their
        channel, row ``i``'s noise drawn from ``keys`` row ``i`` (see :meth:`Channel.send`)."""


class FlatFrames(FrameChannel):
    """One flat gain (or trace SNR) per frame, applied by sending at the frame's SNR over ``channel``."""

    def __init__(self, channel: Channel, true_snr_db: torch.Tensor) -> None:
        self.channel, self.true_snr_db = channel, true_snr_db

    @torch.no_grad()
    def estimate_db(self) -> torch.Tensor:
        # One call on a one-symbol frame per (trial, frame): only the channel's pilots matter.
        flat = self.true_snr_db.reshape(-1)
        probe = self.channel(torch.zeros(len(flat), 1, dtype=torch.complex64, device=flat.device), flat)
        if probe.snr_estimate_db is None:  # no estimator: the receiver knows the SNR exactly
            return self.true_snr_db.clone()
        return probe.snr_estimate_db.float().reshape(self.true_snr_db.shape)

    def send(self, x: torch.Tensor, trial: torch.Tensor, frame: torch.Tensor, keys: RowKeys | None = None) -> ChannelOutput:
        return self.channel.send(x, self.true_snr_db[trial, frame], keys)


class OFDMFrames(FrameChannel):
    """A TDL/CDL channel that evolves across frames: each trial's path gains are sampled once at
    every OFDM symbol time from frame 0 to the last frame (Sionna's time-continuous model), frame
    ``t`` starting at symbol ``round(t T_frame / T_symbol)`` and occupying the slots its symbols
    need. ``max_symbols``: the most channel uses a frame may carry (frames must not overlap)."""

    def __init__(self, channel: OFDMChannel, trials: int, frames: int, nominal_snr_db: float, speed: float,
                 frame_duration: float, max_symbols: int) -> None:
        self.channel, self.nominal_snr_db = channel, nominal_snr_db
        symbols_per_slot = channel.rg.num_ofdm_symbols
        self.spacing = max(1, round(frame_duration * channel.symbol_rate))  # OFDM symbols between frame starts
        needed = channel.slots(max_symbols) * symbols_per_slot
        if needed > self.spacing:
            raise ScenarioError(
                f"link.frame_duration: {frame_duration:g} s is {self.spacing} OFDM symbols, shorter than the "
                f"{needed} symbols ({channel.slots(max_symbols)} slots) of a frame of {max_symbols} channel uses")
        self.a, self.tau = channel.sample_cir(trials, (frames - 1) * self.spacing + needed, speed)
        first = self.responses(torch.arange(trials).repeat_interleave(frames), torch.arange(frames).repeat(trials), 1)
        # Mean power gain over the data REs of the frame's first slot (the frame SNR of linksim.channels.snr).
        data = channel.remove_nulled(first).reshape(trials * frames, -1)[:, channel.data_index]
        power = data.abs().square().mean(dim=-1).reshape(trials, frames)
        self.true_snr_db = nominal_snr_db + 10 * torch.log10(power.clamp_min(1e-12)).float()

    def responses(self, trial: torch.Tensor, frame: torch.Tensor, slots: int) -> torch.Tensor:
        """Frequency responses of the first ``slots`` slots of each (trial, frame) pair
        ``[B * slots, 1, 1, 1, 1, N, fft_size]`` (sample-major, as :meth:`OFDMChannel.simulate` wants)."""
        n = self.channel.rg.num_ofdm_symbols
        a = self.a[:, 0, 0, 0, 0]  # [T, P, time]
        times = frame[:, None].to(a.device) * self.spacing + torch.arange(slots * n, device=a.device)  # [B, slots*N]
        gains = a[trial.to(a.device)[:, None, None], torch.arange(a.shape[1], device=a.device)[None, :, None], times[:, None, :]]
        gains = gains.unflatten(-1, (slots, n)).movedim(2, 1).reshape(-1, 1, 1, 1, 1, a.shape[1], n)  # [B*S, ..., P, N]
        tau = self.tau[trial.to(a.device)].repeat_interleave(slots, dim=0)
        return self.channel.slot_responses(gains, tau)

    @torch.no_grad()
    def estimate_db(self) -> torch.Tensor:
        trials, frames = self.true_snr_db.shape
        trial, frame = torch.arange(trials).repeat_interleave(frames), torch.arange(frames).repeat(trials)
        # A probe filling the first slot: the estimator sees that slot's pilots (or, with perfect CSI, its data REs).
        zeros = torch.zeros(len(trial), self.channel.data_res_per_slot, dtype=torch.complex64, device=self.a.device)
        probe = self.channel.simulate(zeros,
                                      torch.full((len(trial),), self.nominal_snr_db, device=self.a.device),
                                      self.responses(trial, frame, 1)).output
        return probe.snr_estimate_db.float().reshape(trials, frames)

    def send(self, x: torch.Tensor, trial: torch.Tensor, frame: torch.Tensor, keys: RowKeys | None = None) -> ChannelOutput:
        snr = torch.full((len(x),), self.nominal_snr_db, device=x.device)
        h = self.responses(trial, frame, self.channel.slots(x.shape[1]))  # [B * S, ...]: the fades are fixed
        if keys is None:
            return self.channel.simulate(x, snr, h).output
        def one(*row: torch.Tensor) -> ChannelOutput:  # noqa: E306
            return self.channel.simulate(*row).output
        return ChannelOutput.cat(per_row(keys.stream("channel"), self.channel.device, one, x, snr, h))


def frame_channel(channel: Channel, trials: int, frames: int, nominal_snr_db: float, speed: float,
                  carrier_frequency: float, frame_duration: float, trace: SnrTrace | None, max_symbols: int,
                  device: str = "cpu") -> FrameChannel:
    """The :class:`FrameChannel` of a link point over ``channel`` (``awgn`` or ``ofdm``)."""
    if channel.config.time_variation == "continuous":  # the channel evolves by itself (OFDMChannel's interface)
        return OFDMFrames(channel, trials, frames, nominal_snr_db, speed, frame_duration, max_symbols)
    return FlatFrames(channel, true_snr(trials, frames, nominal_snr_db, speed, carrier_frequency, frame_duration,
                                        trace, device))


@dataclass(frozen=True)
class FrameSchedule:
    """Per-(trial, frame) plan of a link point; every tensor is ``[T, F]``."""

    true_snr_db: torch.Tensor
    estimate_db: torch.Tensor
    known_db: torch.Tensor
    choice: torch.Tensor
    roi_weight: torch.Tensor | None


def true_snr(trials: int, frames: int, nominal_snr_db: float, speed: float, carrier_frequency: float,
             frame_duration: float, trace: SnrTrace | None = None, device: str = "cpu") -> torch.Tensor:
    """The SNR in dB ``[T, F]`` each frame really has (see the module docstring)."""
    if trace is not None:
        return trace.load(frames).to(device)[None, :].expand(trials, frames).clone()
    fading = GaussMarkovFading(doppler_hz(speed, carrier_frequency), frame_duration, device)
    power = fading(trials, frames).abs().square().clamp_min(1e-12)
    return nominal_snr_db + 10 * torch.log10(power).float()


def plan_frames(true_snr_db: torch.Tensor, estimate_db: torch.Tensor, feedback: FeedbackPath, policy: RatePolicy,
                nominal_snr_db: float) -> FrameSchedule:
    """Feedback and policy decisions for every trial and frame, vectorised."""
    known = feedback(estimate_db, nominal_snr_db)
    return FrameSchedule(true_snr_db, estimate_db, known, policy.index(known), policy.roi_weight(known))
