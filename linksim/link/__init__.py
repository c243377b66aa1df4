"""Discrete-time links: a trial is a sequence of frames (one image per frame) whose channel
evolves between frames, with the transmitter adapting its rate to fed-back SNR.

Building blocks, one concept per module:

- :mod:`.fading`: per-frame flat Rayleigh gains correlated across frames (Gauss-Markov, Jakes' J0
  at lag 1), :func:`~.fading.doppler_hz`, :func:`~.fading.frame_correlation`;
- :mod:`.trace`: a prescribed per-frame SNR sequence (inline or CSV);
- :mod:`.feedback`: the receiver's SNR estimate as the transmitter learns it (delayed, corrupted,
  quantised);
- :mod:`.policies`: rate policies mapping the known SNR to a bandwidth ratio (fixed, threshold
  table, target quality from a calibration table).

:class:`LinkConfig` is the scenario's ``link:`` block; ``rate_policy:`` is
:data:`~.policies.RatePolicyConfig`.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from linksim.errors import ScenarioError
from linksim.link.fading import GaussMarkovFading, doppler_hz, frame_correlation
from linksim.link.feedback import FeedbackConfig, FeedbackPath, quantise_db
from linksim.link.policies import (
    RATE_POLICY_TYPES,
    FixedPolicy,
    FixedPolicyConfig,
    QualityTable,
    RatePolicy,
    RatePolicyConfig,
    TargetQualityPolicy,
    TargetQualityPolicyConfig,
    ThresholdPolicy,
    ThresholdPolicyConfig,
    build_policy,
)
from linksim.link.trace import SnrTrace
from linksim.schema import StrictModel


class LinkConfig(StrictModel):
    """``link: {frames: 16, frame_duration: 0.001, speed: 3.0, carrier_frequency: 3.5e9,
    snr_trace: {...}, feedback: {...}}``.

    ``frames``: frames (images) per Monte Carlo trial. ``frame_duration`` [s]: time between the
    starts of consecutive frames. ``speed`` [m/s] and ``carrier_frequency`` [Hz] give the Doppler
    ``f_D = v f_c / c`` of the per-frame flat fading, whose frame-to-frame correlation is
    ``J0(2 pi f_D frame_duration)`` (speed 0: one gain for the whole trial). ``snr_trace``
    (optional): the per-frame SNR in dB. ``feedback``: see :class:`~.feedback.FeedbackConfig`.
    """

    frames: int = Field(ge=1, le=100_000)
    frame_duration: float = Field(1e-3, gt=0.0, le=3600.0)
    speed: float = Field(3.0, ge=0.0, le=500.0)
    carrier_frequency: float = Field(3.5e9, gt=0.0, le=100e9)
    snr_trace: SnrTrace | None = None
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)

    @model_validator(mode="after")
    def _trace_covers_frames(self) -> "LinkConfig":
        trace = self.snr_trace
        if trace is not None and trace.values is not None and len(trace.values) < self.frames and not trace.cycle:
            raise ValueError(f"snr_trace.values: {len(trace.values)} values for {self.frames} frames "
                             "(add values, or set cycle: true to repeat the trace)")
        if trace is not None and trace.csv is not None:
            try:  # a CSV is read now, so that validate refuses what run would
                trace.load(self.frames)
            except ScenarioError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def doppler_hz(self) -> float:
        return doppler_hz(self.speed, self.carrier_frequency)

    @property
    def frame_correlation(self) -> float:
        """``rho = J0(2 pi f_D frame_duration)``, the lag-1 correlation of the per-frame gains."""
        return frame_correlation(self.doppler_hz, self.frame_duration)

    def fading(self, device: str | torch.device = "cpu") -> GaussMarkovFading:
        return GaussMarkovFading(self.doppler_hz, self.frame_duration, device)

    def feedback_path(self) -> FeedbackPath:
        return FeedbackPath.from_config(self.feedback)


__all__ = [
    "RATE_POLICY_TYPES",
    "FeedbackConfig",
    "FeedbackPath",
    "FixedPolicy",
    "FixedPolicyConfig",
    "GaussMarkovFading",
    "LinkConfig",
    "QualityTable",
    "RatePolicy",
    "RatePolicyConfig",
    "SnrTrace",
    "TargetQualityPolicy",
    "TargetQualityPolicyConfig",
    "ThresholdPolicy",
    "ThresholdPolicyConfig",
    "build_policy",
    "doppler_hz",
    "frame_correlation",
    "quantise_db",
]
