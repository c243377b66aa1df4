"""Figures: a metric against SNR, one panel per bandwidth ratio, one curve per scheme, 95% CIs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from linksim.metrics import METRICS  # noqa: E402
from linksim.results import atomic_write  # noqa: E402
from linksim.schema import ratio_label  # noqa: E402


def _curve_label(row: pd.Series, vary_roi: bool, vary_channel: bool) -> str:
    label = str(row["scheme"])
    if vary_roi:
        label += f", ROI weight {row['roi_weight']:g}"
    if vary_channel:
        label += f" ({row['channel']})"
    return label


def plot_metric_vs_snr(summary: pd.DataFrame, metric: str, path: Path, title: str = "") -> None:
    """Draw ``metric`` against SNR from a long-form summary (see :func:`results.summarize`).

    One panel per bandwidth ratio, one curve per scheme (and ROI weight / channel when these
    vary), the mean with markers and its 95% CI as a shaded band. Written atomically as PNG.
    """
    data = summary[summary["metric"] == metric]
    if data.empty:
        raise ValueError(f"no '{metric}' values in the summary")
    ratios = sorted(data["bandwidth_ratio"].unique())
    vary_roi = data["roi_weight"].nunique() > 1
    vary_channel = data["channel"].nunique() > 1
    y_label = "decoded images (success rate)" if metric == "decoded" else METRICS[metric].label
    if metric != "decoded" and not METRICS[metric].higher_is_better:
        y_label += " (lower is better)"
    fig, axes = plt.subplots(
        1, len(ratios), figsize=(4.6 * len(ratios) + 0.6, 3.8), sharey=True, squeeze=False
    )
    for ax, ratio in zip(axes[0], ratios):
        panel = data[data["bandwidth_ratio"] == ratio]
        for _, curve in panel.groupby(["scheme", "roi_weight", "channel"], sort=False):
            curve = curve.sort_values("snr_db")
            label = _curve_label(curve.iloc[0], vary_roi, vary_channel)
            (line,) = ax.plot(curve["snr_db"], curve["mean"], marker="o", ms=4, label=label)
            ax.fill_between(curve["snr_db"], curve["ci95_low"], curve["ci95_high"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(f"bandwidth ratio k/n = {ratio_label(ratio)}")
        ax.set_xlabel("SNR [dB]")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(y_label)
    axes[0][-1].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150))
    plt.close(fig)


def plot_all(summary: pd.DataFrame, plots: list[str], out_dir: Path, title: str = "") -> list[Path]:
    """Draw every ``<metric>_vs_snr`` plot named in ``plots`` into ``out_dir``; return the paths."""
    paths = []
    for name in plots:
        metric = name.removesuffix("_vs_snr")
        path = out_dir / f"{name}.png"
        plot_metric_vs_snr(summary, metric, path, title=title)
        paths.append(path)
    return paths
