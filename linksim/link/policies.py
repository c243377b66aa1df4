"""Rate policies: the bandwidth ratio (and optionally the ROI weight) the transmitter picks for a
frame from the SNR it knows (the fed-back SNR, :mod:`linksim.link.feedback`).

``rate_policy:`` takes one of

- ``{type: fixed}``: always the swept ``bandwidth_ratio`` of the point (the non-adaptive baseline);
- ``{type: threshold, thresholds_db: [0, 5, 10], ratios: [1/24, 1/12, 1/6], roi_weights: [...]}``:
  ``ratios[i]`` for the highest ``i`` with ``snr >= thresholds_db[i]``; below the first threshold
  the first ratio (so ``thresholds_db[0]`` only matters as a label: the first ratio is the
  fallback at any SNR below ``thresholds_db[1]``). ``roi_weights`` (optional, one per entry)
  makes the policy set the ROI weight too;
- ``{type: target_quality, metric: psnr, target: 28, table: summary.csv, scheme: deepjscc}``:
  the lowest ratio whose expected quality at the known SNR meets the target (``>= target`` for
  metrics where higher is better, ``<= target`` for LPIPS), else the highest ratio. The expected
  quality comes from a :class:`QualityTable`: the ``mean`` column of a calibration sweep's
  ``summary.csv`` (:func:`linksim.results.summarize`), linearly interpolated in SNR per ratio and
  clamped at the ends of the calibrated SNR range.

Every policy returns the *index* of its choice into its sorted list ``ratios`` of exact Python
floats (:meth:`RatePolicy.index`), so a caller can group a batch by choice and hand schemes the
exact ratio (a float32 1/12 is not 1/12). :meth:`RatePolicy.choose` gives the ratios themselves
(float64). All choices are vectorised (``torch.searchsorted``); no loop over images.

Validation: the config models reject malformed tables (unsorted thresholds, length mismatches,
ratios outside (0, 1]) with one-line messages naming the field; :meth:`RatePolicy.validate`
checks the ratios against the set a scheme supports (a DeepJSCC checkpoint's ratios), which is
only known once the scheme is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from linksim.errors import ScenarioError
from linksim.metric_catalogue import METRICS
from linksim.link.config import (
    FixedPolicyConfig,
    TargetQualityPolicyConfig,
    ThresholdPolicyConfig,
    length_problem,
    threshold_problem,
)
from linksim.schema import parse_ratio, ratio_label

#: Ratios closer than this are the same ratio (float noise from CSV round trips).
RATIO_TOLERANCE = 1e-9


def snap_ratio(ratio: float) -> float:
    """``ratio`` replaced by the nearest fraction with denominator <= 1000 when within
    :data:`RATIO_TOLERANCE` (``0.08333333333333331`` -> ``1/12``), else unchanged."""
    nearest = float(Fraction(ratio).limit_denominator(1000))
    return nearest if abs(nearest - ratio) < RATIO_TOLERANCE else ratio


def _labels(ratios: Sequence[float]) -> str:
    return ", ".join(ratio_label(r) for r in ratios)


def check_supported(ratios: Sequence[float], supported: Sequence[float], field: str) -> None:
    """Raise a one-line ``ValueError`` naming ``field`` unless every ratio is in ``supported``."""
    for ratio in ratios:
        if not any(abs(ratio - s) < RATIO_TOLERANCE for s in supported):
            raise ValueError(f"{field}: ratio {ratio_label(ratio)} is not supported by the scheme "
                             f"(supported: {_labels(sorted(supported))})")


# -- policies -------------------------------------------------------------------------------------
class RatePolicy(ABC):
    """Maps the SNR the transmitter knows to a bandwidth ratio (and optionally an ROI weight).

    Attributes:
        ratios: the ratios the policy can choose, as exact Python floats, in the order that
            :meth:`index` refers to (the table's rows for ``threshold``, ascending otherwise).
    """

    ratios: list[float]

    @abstractmethod
    def index(self, snr_db: torch.Tensor) -> torch.Tensor:
        """Index into :attr:`ratios` ``[...]`` (int64) for known SNRs ``[...]`` in dB (any shape)."""

    def choose(self, snr_db: torch.Tensor) -> torch.Tensor:
        """The chosen bandwidth ratios ``[...]`` (float64) for known SNRs ``[...]`` in dB."""
        table = torch.tensor(self.ratios, dtype=torch.float64, device=snr_db.device)
        return table[self.index(snr_db)]

    def roi_weight(self, snr_db: torch.Tensor) -> torch.Tensor | None:
        """The ROI weight ``[...]`` the policy sets, or ``None`` (keep the swept ``roi_weight``)."""
        return None

    def validate(self, supported_ratios: Sequence[float]) -> None:
        """One-line ``ValueError`` naming the field unless the scheme supports every ratio."""
        check_supported(self.ratios, supported_ratios, "ratios")


class FixedPolicy(RatePolicy):
    """Always ``ratio`` (the point's swept bandwidth ratio)."""

    def __init__(self, ratio: float) -> None:
        self.ratios = [parse_ratio(ratio)]

    def index(self, snr_db: torch.Tensor) -> torch.Tensor:
        return torch.zeros(snr_db.shape, dtype=torch.long, device=snr_db.device)

    def validate(self, supported_ratios: Sequence[float]) -> None:
        check_supported(self.ratios, supported_ratios, "bandwidth_ratio")


class ThresholdPolicy(RatePolicy):
    """``ratios[i]`` for the highest ``i`` with ``snr >= thresholds_db[i]``, ``ratios[0]`` below
    ``thresholds_db[0]``; ``roi_weights[i]`` alongside when given.

    Ratios need not increase with the threshold (any table is honoured, repeats included);
    :attr:`ratios` is the table's own order, so :meth:`index` is the table row.
    """

    def __init__(self, thresholds_db: Sequence[float], ratios: Sequence[Any],
                 roi_weights: Sequence[float] | None = None) -> None:
        problem = threshold_problem(list(thresholds_db))
        if problem is not None:
            raise ValueError(f"thresholds_db: {problem}")
        problem = length_problem(len(thresholds_db), len(ratios), None if roi_weights is None else len(roi_weights))
        if problem is not None:
            raise ValueError(problem)
        self.thresholds_db = [float(t) for t in thresholds_db]
        self.ratios = [parse_ratio(r) for r in ratios]
        self.roi_weights = None if roi_weights is None else [float(w) for w in roi_weights]

    def index(self, snr_db: torch.Tensor) -> torch.Tensor:
        # float64: comparing float32 SNRs with float64 thresholds exactly (no rounding of either).
        thresholds = torch.tensor(self.thresholds_db, dtype=torch.float64, device=snr_db.device)
        above = torch.searchsorted(thresholds, snr_db.double().contiguous(), right=True)  # #{i: t_i <= snr}
        return (above - 1).clamp_min(0)

    def roi_weight(self, snr_db: torch.Tensor) -> torch.Tensor | None:
        if self.roi_weights is None:
            return None
        return torch.tensor(self.roi_weights, dtype=torch.float32, device=snr_db.device)[self.index(snr_db)]


class QualityTable:
    """Expected quality of one scheme vs SNR and bandwidth ratio, from a calibration sweep.

    Args:
        snr_db: the SNR grid ``[S]``, strictly increasing.
        ratios: the calibrated ratios ``[R]``, strictly increasing.
        quality: mean metric values ``[R, S]`` (row ``r`` is ratio ``ratios[r]``).
        metric: the metric's name (its direction comes from :data:`linksim.metrics.METRICS`).

    :meth:`quality` interpolates linearly in SNR per ratio and clamps outside ``[snr_db[0],
    snr_db[-1]]`` (no extrapolation beyond what was measured).
    """

    def __init__(self, snr_db: Sequence[float], ratios: Sequence[float], quality: np.ndarray | torch.Tensor,
                 metric: str) -> None:
        self.snr_db = torch.tensor([float(s) for s in snr_db], dtype=torch.float64)
        self.ratios = [float(r) for r in ratios]
        self.values = torch.as_tensor(quality, dtype=torch.float64)
        self.metric = metric
        if metric not in METRICS:
            raise ValueError(f"metric: unknown metric '{metric}' (accepted: {', '.join(METRICS)})")
        if self.values.shape != (len(self.ratios), len(self.snr_db)) or not self.ratios:
            raise ValueError(f"quality table: expected values [{len(self.ratios)}, {len(self.snr_db)}] "
                             f"(ratios x SNRs, both non-empty), got {list(self.values.shape)}")
        if not (bool((self.snr_db.diff() > 0).all()) and all(b > a for a, b in zip(self.ratios, self.ratios[1:]))):
            raise ValueError("quality table: SNRs and ratios must be strictly increasing")
        if not bool(torch.isfinite(self.values).all()):
            raise ValueError("quality table: every value must be finite")

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric].higher_is_better

    @classmethod
    def from_summary(cls, summary: pd.DataFrame, metric: str, scheme: str | None = None,
                     channel: str | None = None, roi_weight: float | None = None,
                     source: str = "summary") -> "QualityTable":
        """The table of one scheme (and channel, ROI weight) from a long-form summary frame with
        columns ``scheme, snr_db, bandwidth_ratio, metric, mean`` (``channel``, ``roi_weight``
        optional). ``scheme``/``channel``/``roi_weight`` may be omitted when the summary has one
        value of that column. Each ratio may have its own SNR points: they are merged onto the
        union grid by interpolating each ratio on its own points, which leaves the piecewise
        linear curves unchanged. One-line :class:`ScenarioError` on a table that does not fit.
        """
        needed = {"scheme", "snr_db", "bandwidth_ratio", "metric", "mean"}
        missing = sorted(needed - set(summary.columns))
        if missing:
            raise ScenarioError(f"rate_policy.table: {source} lacks the column(s) {', '.join(missing)} "
                                "(expected a linksim summary.csv)")
        rows = summary
        for column, wanted in (("scheme", scheme), ("channel", channel), ("roi_weight", roi_weight)):
            rows = _select(rows, column, wanted, source)
        rows = rows[rows["metric"] == metric]
        if rows.empty:
            found = ", ".join(sorted(set(summary["metric"].astype(str)))) or "none"
            raise ScenarioError(f"rate_policy.metric: {source} has no '{metric}' rows for the selection "
                                f"(metrics: {found})")
        rows = rows.assign(bandwidth_ratio=rows["bandwidth_ratio"].astype(float).map(snap_ratio),
                           snr_db=rows["snr_db"].astype(float), mean=rows["mean"].astype(float))
        if rows.duplicated(["snr_db", "bandwidth_ratio"]).any():
            raise ScenarioError(f"rate_policy.table: {source} has several rows per SNR and ratio; "
                                "select one with scheme, channel and roi_weight")
        if not np.isfinite(rows["mean"].to_numpy()).all():
            raise ScenarioError(f"rate_policy.table: {source} has a non-finite mean '{metric}'")
        grid = np.sort(rows["snr_db"].unique())
        ratios = sorted(rows["bandwidth_ratio"].unique())
        quality = np.empty((len(ratios), len(grid)))
        for r, ratio in enumerate(ratios):  # a loop over a handful of table rows, not images
            curve = rows[rows["bandwidth_ratio"] == ratio].sort_values("snr_db")
            quality[r] = np.interp(grid, curve["snr_db"].to_numpy(), curve["mean"].to_numpy())
        return cls(grid.tolist(), [float(r) for r in ratios], quality, metric)

    @classmethod
    def from_csv(cls, path: str | Path, metric: str, **selection: Any) -> "QualityTable":
        """:meth:`from_summary` of a ``summary.csv`` file."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise ScenarioError(f"rate_policy.table: {path} does not exist or is not a file")
        try:
            summary = pd.read_csv(path, dtype={"scheme": str, "channel": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ScenarioError(f"rate_policy.table: cannot read {path} as CSV ({reason})") from None
        return cls.from_summary(summary, metric, source=str(path), **selection)

    def quality(self, snr_db: torch.Tensor) -> torch.Tensor:
        """Expected quality ``[..., R]`` (float64) of every ratio at SNRs ``[...]`` in dB."""
        grid = self.snr_db.to(snr_db.device)
        values = self.values.to(snr_db.device)
        x = snr_db.double().clamp(grid[0], grid[-1])
        if grid.numel() == 1:
            return values[:, 0].expand(*x.shape, -1)
        # Segment [grid[i-1], grid[i]] holding x; the clamp above keeps i in 1..S-1.
        i = torch.searchsorted(grid, x.contiguous(), right=True).clamp(1, grid.numel() - 1)
        lo, hi = grid[i - 1], grid[i]
        w = ((x - lo) / (hi - lo))[..., None]
        return values[:, i - 1].movedim(0, -1) * (1 - w) + values[:, i].movedim(0, -1) * w


def _select(rows: pd.DataFrame, column: str, wanted: Any, source: str) -> pd.DataFrame:
    """Rows with ``column == wanted``; with ``wanted=None`` the column must hold one value."""
    if column not in rows.columns:
        if wanted is not None and column != "scheme":
            raise ScenarioError(f"rate_policy.{column}: {source} has no '{column}' column")
        return rows
    values = rows[column]
    if wanted is None:
        distinct = sorted({str(v) for v in values})
        if len(distinct) > 1:
            raise ScenarioError(f"rate_policy.{column}: {source} holds several ({', '.join(distinct)}); "
                                f"set rate_policy.{column} to one of them")
        return rows
    chosen = rows[(values.astype(float) - float(wanted)).abs() < 1e-12] if column == "roi_weight" \
        else rows[values.astype(str) == str(wanted)]
    if chosen.empty:
        distinct = ", ".join(sorted({str(v) for v in values})) or "none"
        raise ScenarioError(f"rate_policy.{column}: {source} has no rows for {wanted!r} (found: {distinct})")
    return chosen


class TargetQualityPolicy(RatePolicy):
    """The lowest ratio whose expected ``table`` quality at the known SNR meets ``target``
    (``>=`` when higher is better, ``<=`` for LPIPS), else the highest ratio."""

    def __init__(self, table: QualityTable, target: float) -> None:
        self.table = table
        self.target = float(target)
        self.ratios = list(table.ratios)

    @property
    def metric(self) -> str:
        return self.table.metric

    def index(self, snr_db: torch.Tensor) -> torch.Tensor:
        quality = self.table.quality(snr_db)  # [..., R], ratios ascending
        meets = quality >= self.target if self.table.higher_is_better else quality <= self.target
        first = meets.to(torch.uint8).argmax(dim=-1)  # argmax returns the first maximum
        return torch.where(meets.any(dim=-1), first, torch.full_like(first, len(self.ratios) - 1))

    def validate(self, supported_ratios: Sequence[float]) -> None:
        check_supported(self.ratios, supported_ratios, "table")


def binned_by_estimate(rows: pd.DataFrame, metric: str, centres_db: Sequence[float], source: str,
                       min_frames: int = 10) -> pd.DataFrame:
    """A calibration summary from per-frame link rows: the mean ``metric`` per bandwidth ratio
    and bin of the receiver's SNR estimate (``snr_estimate_db``), the bins centred on
    ``centres_db`` (edges halfway between centres, half a spacing beyond the ends; frames
    outside are dropped). Only bins with at least ``min_frames`` frames at every ratio are kept.

    Returns:
        Long-form ``scheme, snr_db, bandwidth_ratio, metric, mean, count`` for
        :meth:`QualityTable.from_summary`; one-line :class:`ScenarioError` if no bin is kept.
    """
    centres = np.asarray(centres_db, dtype=float)
    half = np.diff(centres) / 2 if len(centres) > 1 else np.array([1.0])
    edges = np.concatenate([[centres[0] - half[0]], centres[:-1] + half, [centres[-1] + half[-1]]])
    estimate = rows["snr_estimate_db"].to_numpy(dtype=float)
    inside = (estimate >= edges[0]) & (estimate < edges[-1])
    binned = rows[inside].assign(snr_db=centres[np.digitize(estimate[inside], edges[1:-1])])
    table = binned.groupby(["scheme", "snr_db", "bandwidth_ratio"])[metric].agg(mean="mean", count="count").reset_index()
    ratios = table["bandwidth_ratio"].nunique()
    enough = table[table["count"] >= min_frames]
    kept = enough[enough.groupby("snr_db")["bandwidth_ratio"].transform("count") == ratios]
    if kept.empty:
        raise ScenarioError(f"{source}: no SNR bin has {min_frames} frames at every ratio; "
                            "raise calibration_images or widen calibration_snr_db")
    return kept.assign(metric=metric)[["scheme", "snr_db", "bandwidth_ratio", "metric", "mean", "count"]]


def _fixed(config: FixedPolicyConfig, *, bandwidth_ratio: float | None = None, **_: Any) -> RatePolicy:
    if bandwidth_ratio is None:
        raise ValueError("rate_policy: type fixed needs the swept bandwidth_ratio")
    return FixedPolicy(bandwidth_ratio)


def _threshold(config: ThresholdPolicyConfig, **_: Any) -> RatePolicy:
    return ThresholdPolicy(config.thresholds_db, config.ratios, config.roi_weights)


def _target_quality(config: TargetQualityPolicyConfig, *, summary: pd.DataFrame | None = None,
                    base_dir: str | Path | None = None, **_: Any) -> RatePolicy:
    selection = {"scheme": config.scheme, "channel": config.channel, "roi_weight": config.roi_weight}
    if summary is not None:
        table = QualityTable.from_summary(summary, config.metric, **selection)
    elif config.table is not None:
        path = Path(config.table).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        table = QualityTable.from_csv(path, config.metric, **selection)
    else:
        raise ScenarioError("rate_policy.table: type target_quality needs a calibration summary.csv")
    return TargetQualityPolicy(table, config.target)


#: How each ``rate_policy.type`` (:data:`~linksim.link.config.RATE_POLICY_TYPES`) is built.
_BUILDERS = {"fixed": _fixed, "threshold": _threshold, "target_quality": _target_quality}


def build_policy(config: FixedPolicyConfig | ThresholdPolicyConfig | TargetQualityPolicyConfig, *,
                 bandwidth_ratio: float | None = None, summary: pd.DataFrame | None = None,
                 base_dir: str | Path | None = None,
                 supported_ratios: Sequence[float] | None = None) -> RatePolicy:
    """The policy a ``rate_policy:`` block describes.

    Args:
        config: the validated block.
        bandwidth_ratio: the point's swept ratio (needed by ``fixed``).
        summary: a summary frame for ``target_quality`` (overrides ``config.table``).
        base_dir: folder that a relative ``config.table`` path is relative to.
        supported_ratios: when given, :meth:`RatePolicy.validate` runs against it (``ValueError``).
    """
    policy = _BUILDERS[config.type](config, bandwidth_ratio=bandwidth_ratio, summary=summary, base_dir=base_dir)
    if supported_ratios is not None:
        policy.validate(supported_ratios)
    return policy
