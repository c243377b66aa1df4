"""The ``link:`` and ``rate_policy:`` blocks of a scenario (config classes), without torch.

Validating a scenario needs these classes only; the link's implementation (fading, feedback,
policies, traces: torch, Sionna, pandas) lives in the sibling modules, which import these
configs; a config method that builds from one (``LinkConfig.fading``, ``SnrTrace.load``...)
imports its module when called, and :func:`~linksim.link.policies.build_policy` builds policies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import AfterValidator, Field, field_validator, model_validator

from linksim.errors import ScenarioError
from linksim.inputs import InputFile
from linksim.metric_catalogue import METRICS
from linksim.registry import config_type_name
from linksim.schema import Ratios, StrictModel, TypedConfig

if TYPE_CHECKING:
    import torch

    from linksim.link.fading import GaussMarkovFading
    from linksim.link.feedback import FeedbackPath


class FeedbackConfig(StrictModel):
    """``feedback: {delay_frames: 0, quantisation_db: 0, error_std_db: 0, initial_snr_db: null}``.

    ``delay_frames``: frames between an estimate and its use at the transmitter (>= 0).
    ``quantisation_db``: step of the reported SNR in dB (0: unquantised). ``error_std_db``:
    standard deviation of a Gaussian error added to each report, in dB. ``initial_snr_db``: what
    the transmitter assumes before the first report arrives (default: the nominal swept SNR).
    """

    delay_frames: int = Field(0, ge=0, le=100_000)
    quantisation_db: float = Field(0.0, ge=0.0, le=100.0)
    error_std_db: float = Field(0.0, ge=0.0, le=100.0)
    initial_snr_db: float | None = Field(None, ge=-100.0, le=200.0)


class SnrTrace(StrictModel):
    """``values`` (dB, inline) or ``csv`` (a file with a ``column``, default ``snr_db``); ``cycle``
    repeats a trace shorter than the number of frames instead of rejecting it."""

    values: list[float] | None = Field(None, min_length=1)
    csv: Annotated[str | None, InputFile()] = None
    column: str = "snr_db"
    cycle: bool = False

    @field_validator("values")
    @classmethod
    def _finite(cls, values: list[float] | None) -> list[float] | None:
        if values is not None:
            bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
            if bad is not None:
                raise ValueError(f"values[{bad}] must be a finite SNR in dB, got {values[bad]}")
        return values

    @model_validator(mode="after")
    def _one_source(self) -> "SnrTrace":
        if (self.values is None) == (self.csv is None):
            raise ValueError("values, csv: give exactly one of values (a list of dB) or csv (a file)")
        return self

    def load(self, frames: int, base_dir: str | Path | None = None) -> torch.Tensor:
        """The SNR of each frame in dB, ``[frames]`` float32 (see :func:`linksim.link.trace.load_trace`)."""
        from linksim.link.trace import load_trace  # pandas and torch, for a trace in use

        return load_trace(self, frames, base_dir)


def threshold_problem(thresholds: Sequence[float]) -> str | None:
    """What is wrong with a threshold list (without the field name), or ``None``."""
    if not thresholds:
        return "needs at least one threshold"
    bad = next((i for i in range(1, len(thresholds)) if not thresholds[i] > thresholds[i - 1]), None)
    if bad is not None:
        return (f"must be strictly increasing, but entry {bad} ({thresholds[bad]:g}) "
                f"follows {thresholds[bad - 1]:g}")
    return None


def _strictly_increasing(value: list[float]) -> list[float]:
    problem = threshold_problem(value)
    if problem is not None:
        raise ValueError(problem)  # pydantic's location names the field
    return value


#: SNRs in dB that must be strictly increasing (thresholds, calibration grids).
IncreasingDb = Annotated[list[float], AfterValidator(_strictly_increasing)]


def length_problem(num_thresholds: int, num_ratios: int, num_weights: int | None) -> str | None:
    """A one-line message naming the field whose length differs from the thresholds', or ``None``."""
    if num_ratios != num_thresholds:
        return f"ratios: needs one ratio per threshold ({num_thresholds} thresholds, {num_ratios} ratios)"
    if num_weights is not None and num_weights != num_thresholds:
        return f"roi_weights: needs one weight per threshold ({num_thresholds} thresholds, {num_weights} weights)"
    return None



class FixedPolicyConfig(TypedConfig):
    """``rate_policy: {type: fixed}``: the swept ``bandwidth_ratio`` at every frame."""

    type: Literal["fixed"] = "fixed"


class ThresholdPolicyConfig(TypedConfig):
    """``rate_policy: {type: threshold, thresholds_db: [...], ratios: [...], roi_weights: [...]}``;
    see the module docstring for the rule."""

    type: Literal["threshold"] = "threshold"
    thresholds_db: IncreasingDb = Field(min_length=1)
    ratios: Ratios = Field(min_length=1)
    roi_weights: list[float] | None = None

    @field_validator("roi_weights")
    @classmethod
    def _non_negative(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(w < 0 for w in value):
            raise ValueError(f"ROI weights must be >= 0, got {value}")
        return value

    @model_validator(mode="after")
    def _lengths(self) -> "ThresholdPolicyConfig":
        # A model-level error has no field in its location, so the message names it.
        problem = length_problem(len(self.thresholds_db), len(self.ratios),
                                  None if self.roi_weights is None else len(self.roi_weights))
        if problem is not None:
            raise ValueError(problem)
        return self


class TargetQualityPolicyConfig(TypedConfig):
    """``rate_policy: {type: target_quality, metric: psnr, target: 28, table: results/cal/summary.csv}``.

    ``table``: a calibration sweep's ``summary.csv``; ``scheme``, ``channel``, ``roi_weight`` select
    its rows (each may be omitted when the table holds one value). Without ``table`` a scenario
    runs the calibration itself (see :mod:`linksim.sweep`): every scheme at ``ratios`` x
    ``calibration_snr_db``, over ``calibration_channel``: ``awgn`` (the default: quality at an
    SNR on a flat channel, ``calibration_images`` images) or ``link`` (the point's own channel and
    speed, ``calibration_images`` frames per nominal SNR and ratio, the quality binned by the
    receiver's per-frame SNR estimate -- what the policy is fed back).
    """

    type: Literal["target_quality"] = "target_quality"
    metric: str = "psnr"
    target: float
    table: Annotated[str | None, InputFile()] = None
    scheme: str | None = None
    channel: str | None = None
    roi_weight: float | None = None
    # Without a table, a scenario runs its own calibration sweep of each scheme (see linksim.sweep):
    ratios: Ratios | None = None  # candidate ratios (default: those the scheme's checkpoint supports)
    calibration_snr_db: IncreasingDb = Field(default_factory=lambda: [-5.0 + 2.5 * i for i in range(11)], min_length=1)
    calibration_images: int = Field(200, ge=1)
    calibration_channel: Literal["awgn", "link"] = "awgn"

    @model_validator(mode="after")
    def _calibration_needs_no_table(self) -> "TargetQualityPolicyConfig":
        if self.table is not None and "calibration_channel" in self.model_fields_set:
            raise ValueError("calibration_channel applies when linksim calibrates itself; drop it or drop table")
        return self

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRICS:
            raise ValueError(f"unknown metric '{value}' (accepted: {', '.join(METRICS)})")
        return value


#: Every rate policy's config, named by its ``type`` (:func:`linksim.link.policies.build_policy` builds each).
RATE_POLICIES = (FixedPolicyConfig, ThresholdPolicyConfig, TargetQualityPolicyConfig)
RatePolicyConfig = Annotated[Union[RATE_POLICIES], Field(discriminator="type")]  # type: ignore[valid-type]
#: The accepted ``rate_policy.type`` values.
RATE_POLICY_TYPES = tuple(config_type_name(config) for config in RATE_POLICIES)


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

    # The link's implementation (torch, Sionna, SciPy) is imported by the methods that use it.
    @property
    def doppler_hz(self) -> float:
        from linksim.link.fading import doppler_hz

        return doppler_hz(self.speed, self.carrier_frequency)

    @property
    def frame_correlation(self) -> float:
        """``rho = J0(2 pi f_D frame_duration)``, the lag-1 correlation of the per-frame gains."""
        from linksim.link.fading import frame_correlation

        return frame_correlation(self.doppler_hz, self.frame_duration)

    def fading(self, device: str | torch.device = "cpu") -> GaussMarkovFading:
        from linksim.link.fading import GaussMarkovFading

        return GaussMarkovFading(self.doppler_hz, self.frame_duration, device)

    def feedback_path(self) -> FeedbackPath:
        from linksim.link.feedback import FeedbackPath

        return FeedbackPath.from_config(self.feedback)
