"""Channel uses an adaptive rate policy saves over fixed ratios at equal mean quality.

For every link setting (scheme, channel, nominal SNR, ROI weight, speed, feedback delay) the fixed
ratios trace a curve of mean quality against mean channel uses per frame. An adaptive policy's
mean quality is located on that curve by linear interpolation between the two bracketing fixed
ratios; the channel uses there are what a fixed ratio needs for the same quality, and

    saving = 1 - (policy's mean channel uses) / (fixed-ratio channel uses at equal quality).

A negative saving means the policy needs more channel uses than a fixed ratio of equal quality.
A quality outside the fixed ratios' range gives NaN (no extrapolation).

**Confidence interval.** Every scheme, policy and delay of a setting sees the same fades and
images in the same trial, so the comparison is paired. Trials are independent (frames within a
trial are not), so the 95% interval is a percentile bootstrap over trials: each replicate redraws
the trials with replacement, for the policy and the fixed ratios together, and recomputes the
saving. With few trials percentile intervals run a little narrow (coverage 88% for 16 trials in
``tests/test_savings.py``). Fixed-ratio series are the rows with ``bandwidth_ratio > 0``; adaptive policies run with
``bandwidth_ratio = 0`` (see :mod:`linksim.sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SETTING = ["scheme", "channel", "snr_db", "roi_weight", "speed", "delay_frames"]
COLUMNS = SETTING + ["policy", "metric", "policy_mean", "channel_uses", "fixed_channel_uses", "saving",
                     "saving_ci95_low", "saving_ci95_high", "trials"]


def _fixed_uses_at(quality: np.ndarray, fixed_quality: np.ndarray, fixed_uses: np.ndarray) -> np.ndarray:
    """Channel uses of the fixed-ratio curve at ``quality``, row by row (linear interpolation
    between neighbouring fixed ratios, ordered by channel uses; NaN outside the curve's range).

    Args:
        quality: ``[R]``; fixed_quality, fixed_uses: ``[R, F]``.
    """
    order = np.argsort(fixed_uses, axis=1)
    q, u = np.take_along_axis(fixed_quality, order, 1), np.take_along_axis(fixed_uses, order, 1)
    q0, q1, u0, u1 = q[:, :-1], q[:, 1:], u[:, :-1], u[:, 1:]
    target = quality[:, None]
    inside = (np.minimum(q0, q1) <= target) & (target <= np.maximum(q0, q1)) & (q0 != q1)
    with np.errstate(invalid="ignore", divide="ignore"):
        uses = u0 + (target - q0) / (q1 - q0) * (u1 - u0)
    # The first bracketing segment in order of channel uses: the cheapest fixed ratio that does as well.
    first = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
    picked = np.take_along_axis(uses, np.maximum(first, 0)[:, None], 1)[:, 0]
    return np.where(first >= 0, picked, np.nan)


def equal_quality_savings(rows: pd.DataFrame, metrics: Sequence[str], bootstrap: int = 2000,
                          seed: int = 0) -> pd.DataFrame:
    """The saving of every adaptive policy at equal mean quality, per setting and metric.

    Args:
        rows: per-frame rows of a link sweep (``trial``, ``channel_uses``, the link columns and
            the metrics).
        metrics: metric columns to compare on.
        bootstrap: bootstrap replicates for the 95% interval.
        seed: seed of the bootstrap draws (the table is reproducible).

    Returns:
        One row per setting, adaptive policy and metric: :data:`COLUMNS`; empty when the rows
        hold no adaptive policy or no fixed ratios.
    """
    out = []
    rng = np.random.default_rng(seed)
    for setting, group in rows.groupby(SETTING, sort=False):
        fixed = group[group["bandwidth_ratio"] > 0]
        if fixed["bandwidth_ratio"].nunique() < 2:
            continue
        series = [("fixed", r, part) for r, part in fixed.groupby("bandwidth_ratio")]
        series += [("policy", p, part) for p, part in group[group["bandwidth_ratio"] <= 0].groupby("policy", sort=False)]
        if len(series) == fixed["bandwidth_ratio"].nunique():
            continue
        trials = np.sort(group["trial"].unique())

        def per_trial(column: str | None) -> np.ndarray:
            """Per-trial sums of ``column`` (frame counts for ``None``) of every series: ``[S, T]``."""
            return np.stack([(part.groupby("trial").size() if column is None else part.groupby("trial")[column].sum())
                             .reindex(trials, fill_value=0).to_numpy(dtype=float) for *_, part in series])

        # Bootstrap = reweighting trials; row 0 is the data itself.
        weights = np.vstack([np.ones(len(trials)), rng.multinomial(len(trials), np.full(len(trials), 1 / len(trials)),
                                                                   size=bootstrap)])  # [1 + B, T]
        frames = weights @ per_trial(None).T  # [1 + B, S]
        uses = weights @ per_trial("channel_uses").T / frames
        is_fixed = np.array([kind == "fixed" for kind, *_ in series])
        for metric in metrics:
            if metric not in group or group[metric].isna().all():
                continue
            quality = weights @ per_trial(metric).T / frames  # [1 + B, S]
            for s in np.flatnonzero(~is_fixed):
                equal = _fixed_uses_at(quality[:, s], quality[:, is_fixed], uses[:, is_fixed])  # [1 + B]
                saving = 1 - uses[:, s] / equal
                # A replicate outside the fixed curve has no saving; too many such and the interval is undefined.
                defined = np.isfinite(saving[1:]).mean() >= 0.95
                low, high = np.nanpercentile(saving[1:], [2.5, 97.5]) if defined else (np.nan, np.nan)
                out.append({**dict(zip(SETTING, setting)), "policy": series[s][1], "metric": metric,
                            "policy_mean": quality[0, s], "channel_uses": uses[0, s], "fixed_channel_uses": equal[0],
                            "saving": saving[0], "saving_ci95_low": low, "saving_ci95_high": high,
                            "trials": len(trials)})
    return pd.DataFrame(out, columns=COLUMNS)
