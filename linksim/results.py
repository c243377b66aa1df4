"""Tidy result tables: atomic file writes, per-point row files, and the summary with CIs.

Rows are one per image x trial x sweep point, with every coordinate as a column. The summary is
long-form: one row per (point, metric) with mean, standard deviation, a 95% Student-t confidence
interval of the mean and the count.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

#: Columns that identify a sweep point (the grouping keys of the summary).
POINT_COLUMNS = ["scheme", "channel", "snr_db", "bandwidth_ratio", "roi_weight"]
#: Further point columns of a time-varying link (rate policy, speed, feedback delay).
LINK_COLUMNS = ["policy", "speed", "delay_frames"]


def point_columns(rows: pd.DataFrame) -> list[str]:
    """The point columns present in ``rows``: :data:`POINT_COLUMNS`, plus the link's if any."""
    return POINT_COLUMNS + [c for c in LINK_COLUMNS if c in rows.columns]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` via a temporary file in the same folder and an atomic rename.

    ``write`` receives the temporary path. A crash at any moment leaves either the old file or
    the complete new one, never a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_point(frame: pd.DataFrame, path: Path) -> None:
    """Write one point's rows to ``path`` and, next to it, ``<name>.json`` with their count and
    the SHA-256 of the file: the proof :func:`point_problem` checks before a resume reuses them.
    The proof is written second, so a crash in between leaves a point that is recomputed."""
    data = frame.to_csv(index=False).encode()
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    write_json({"rows": len(frame), "sha256": hashlib.sha256(data).hexdigest()}, point_proof(path))


def point_proof(path: Path) -> Path:
    """The checksum file of the point file ``path``."""
    return path.with_suffix(".json")


def point_problem(path: Path) -> str | None:
    """``None`` if the point file ``path`` is exactly what :func:`write_point` wrote (the hash
    covers every row, so a cut, padded, duplicated or replaced file fails); else why not."""
    if not path.is_file():
        return "missing"
    try:
        proof = json.loads(point_proof(path).read_text())
        rows, digest = int(proof["rows"]), str(proof["sha256"])
    except FileNotFoundError:
        return "no checksum file"
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable checksum file"
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        return "content differs from its checksum (damaged or edited)"
    if rows < 1:
        return "checksum file records no rows"
    return None


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def write_text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(data: Any, path: Path) -> None:
    write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", path)


def read_rows(path: Path) -> pd.DataFrame:
    # low_memory=False: scheme columns (mcs, decoded) are empty for other schemes; read each column whole.
    return pd.read_csv(path, dtype={"image_id": str, "scheme": str, "channel": str}, low_memory=False)


def summarize(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std, 95% CI of the mean and count per sweep point, scheme and metric; a set-level
    metric (whose rows carry ``<metric>_ci95_low``/``_high``) gives its point value and own CI.

    Args:
        rows: tidy rows with the :func:`point_columns` and one column per metric.
        metrics: metric columns to summarise.

    Returns:
        Long-form frame: point columns ``+ [metric, mean, std, ci95_low, ci95_high, count]``.
    """
    keys = point_columns(rows)
    # A set-level metric (linksim.set_metrics) carries one value and its own CI on every row of a point.
    own_ci = [m for m in metrics if f"{m}_ci95_low" in rows.columns]
    metrics = [m for m in metrics if m not in own_ci]
    if own_ci:
        per_point = rows.groupby(keys, sort=False)
        sets = pd.concat([per_point.agg(mean=(m, "first"), ci95_low=(f"{m}_ci95_low", "first"),
                                        ci95_high=(f"{m}_ci95_high", "first"), count=(m, "size"))
                          .reset_index().assign(metric=m, std=float("nan")) for m in own_ci])
        if not metrics:
            return sets[keys + ["metric", "mean", "std", "ci95_low", "ci95_high", "count"]].reset_index(drop=True)
    long = rows.melt(id_vars=keys, value_vars=list(metrics), var_name="metric")
    long["value"] = long["value"].astype(float)  # flags such as ``decoded`` average to a rate
    grouped = long.groupby(keys + ["metric"], sort=False)["value"]
    summary = grouped.agg(mean="mean", std="std", count="count").reset_index()
    # Half-width of the Student-t 95% CI; undefined (NaN) for a single observation.
    dof = (summary["count"] - 1).where(summary["count"] > 1)
    half = stats.t.ppf(0.975, dof) * summary["std"] / summary["count"].pow(0.5)
    summary["ci95_low"] = summary["mean"] - half
    summary["ci95_high"] = summary["mean"] + half
    if own_ci:
        summary = pd.concat([summary, sets], ignore_index=True)
    return summary[keys + ["metric", "mean", "std", "ci95_low", "ci95_high", "count"]]


def paired_comparison(rows: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """Every scheme against ``baseline`` on the *same* images, trials and points.

    The rows of a sweep are paired: at a point every scheme sees the same images and, where the
    scheme consumes it alike, the same channel noise. The per-image difference removes the
    image-to-image spread that dominates the CIs of the summary, so small gains become visible.

    Args:
        rows: tidy rows (``rows.csv``) with ``trial``, ``image_index`` and the ``metric`` column.
        metric: the metric to compare.
        baseline: the scheme every other scheme is compared with.

    Returns:
        One row per (point, scheme other than the baseline): point columns (``scheme`` is the
        compared one) ``+ [metric, baseline_mean, mean, difference, diff_ci95_low, diff_ci95_high,
        relative, count]``, where ``difference`` is the mean of ``scheme - baseline`` over the
        matched images with its Student-t 95% CI, and ``relative = mean / baseline_mean - 1``.

    Raises:
        ValueError: when ``baseline`` or ``metric`` is not in ``rows``.
    """
    if metric not in rows.columns:
        raise ValueError(f"metric '{metric}' is not a column of the rows")
    schemes = list(dict.fromkeys(rows["scheme"]))
    if baseline not in schemes:
        raise ValueError(f"no scheme '{baseline}' in the rows (schemes: {', '.join(schemes)})")
    keys = [c for c in point_columns(rows) if c != "scheme"]
    match = keys + ["trial", "image_index"]
    base = rows.loc[rows["scheme"] == baseline, match + [metric]].rename(columns={metric: "_base"})
    others = rows.loc[rows["scheme"] != baseline, match + ["scheme", metric]]
    paired = others.merge(base, on=match, how="inner")
    paired["_diff"] = paired[metric].astype(float) - paired["_base"].astype(float)
    grouped = paired.groupby(["scheme"] + keys, sort=False)
    out = grouped.agg(baseline_mean=("_base", "mean"), mean=(metric, "mean"), difference=("_diff", "mean"),
                      _std=("_diff", "std"), count=("_diff", "count")).reset_index()
    dof = (out["count"] - 1).where(out["count"] > 1)
    half = stats.t.ppf(0.975, dof) * out["_std"] / out["count"].pow(0.5)
    out["diff_ci95_low"] = out["difference"] - half
    out["diff_ci95_high"] = out["difference"] + half
    out["relative"] = out["mean"] / out["baseline_mean"] - 1
    out["metric"] = metric
    return out[["scheme"] + keys + ["metric", "baseline_mean", "mean", "difference", "diff_ci95_low",
                                    "diff_ci95_high", "relative", "count"]]
