"""Figures: a metric against SNR (one panel per bandwidth ratio, one curve per scheme, 95% CIs,
published reference points beside them); for time-varying links also quality against the mean
ratio used, and a per-frame time trace."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from linksim.metrics import METRICS  # noqa: E402
from linksim.references import CURVE_KEYS, reference_label, reference_points  # noqa: E402
from linksim.results import LINK_COLUMNS, atomic_write  # noqa: E402
from linksim.schema import ratio_label  # noqa: E402


_LABELS = {
    "roi_weight": lambda v: f", ROI weight {v:g}",
    "channel": lambda v: f" ({v})",
    "policy": lambda v: f", {v}",
    "speed": lambda v: f", {v:g} m/s",
    "delay_frames": lambda v: f", delay {int(v)}",
}


def _curve_label(row: pd.Series, varying: list[str]) -> str:
    """The scheme, then each column of ``varying`` that the curves differ in."""
    return str(row["scheme"]) + "".join(_LABELS[c](row[c]) for c in varying)


def _panel_title(ratio: float) -> str:
    # Ratio 0 marks a time-varying link's adaptive policies, which pick the ratio per frame.
    return "ratio chosen per frame (rate policy)" if ratio == 0 else f"bandwidth ratio k/n = {ratio_label(ratio)}"


def metric_vs_snr_figure(summary: pd.DataFrame, metric: str, references: pd.DataFrame | None = None,
                         ceiling: pd.DataFrame | None = None) -> Figure:
    """The figure of :func:`plot_metric_vs_snr` (not yet titled or written).

    ``references``: published points (columns of :func:`linksim.references.read_reference`),
    already restricted to the scenario's channel types; each panel draws those of ``metric`` at
    its bandwidth ratio. ``ceiling``: rows ``metric, mean, ci95_low, ci95_high`` of what the
    original images score (:func:`linksim.semantic_metrics.ceiling`), drawn as a horizontal line
    with its CI band in every panel.
    """
    data = summary[summary["metric"] == metric]
    if data.empty:
        raise ValueError(f"no '{metric}' values in the summary")
    ratios = sorted(data["bandwidth_ratio"].unique())
    curve_keys = ["scheme", "roi_weight", "channel", *(c for c in LINK_COLUMNS if c in data.columns)]
    varying = [c for c in curve_keys[1:] if data[c].nunique() > 1]
    y_label = "decoded images (success rate)" if metric == "decoded" else METRICS[metric].label
    if metric != "decoded" and not METRICS[metric].higher_is_better:
        y_label += " (lower is better)"
    fig, axes = plt.subplots(
        1, len(ratios), figsize=(4.6 * len(ratios) + 0.6, 3.8), sharey=True, squeeze=False
    )
    markers = _reference_markers(references)
    # A colour per scheme, a line style per value of the other varying columns (e.g. the channel),
    # so that 7 schemes x 2 channels stay tellable apart (matplotlib's cycle repeats after 10).
    schemes = list(dict.fromkeys(data["scheme"]))
    palette = "tab10" if len(schemes) <= 10 else "tab20"
    colours = {s: plt.get_cmap(palette)(i % 20) for i, s in enumerate(schemes)}
    others = [c for c in varying if c != "scheme"]
    variants = list(dict.fromkeys(map(tuple, data[others].itertuples(index=False)))) if others else [()]
    styles = {v: _LINE_STYLES[i % len(_LINE_STYLES)] for i, v in enumerate(variants)}
    for ax, ratio in zip(axes[0], ratios):
        panel = data[data["bandwidth_ratio"] == ratio]
        for _, curve in panel.groupby(curve_keys, sort=False):
            curve = curve.sort_values("snr_db")
            first = curve.iloc[0]
            label = _curve_label(first, varying)
            style = styles[tuple(first[c] for c in others)]
            (line,) = ax.plot(curve["snr_db"], curve["mean"], marker="o", ms=4, label=label,
                              color=colours[first["scheme"]], linestyle=style)
            ax.fill_between(curve["snr_db"], curve["ci95_low"], curve["ci95_high"],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        if references is not None:
            _draw_references(ax, reference_points(references, metric, ratio), markers)
        if ceiling is not None and metric in set(ceiling["metric"]):
            top = ceiling[ceiling["metric"] == metric].iloc[0]
            ax.axhline(top["mean"], color="0.3", linestyle=":", linewidth=1.2, label="original images (ceiling)")
            ax.axhspan(top["ci95_low"], top["ci95_high"], color="0.5", alpha=0.12, linewidth=0)
        ax.set_title(_panel_title(ratio))
        ax.set_xlabel("SNR [dB]")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(y_label)
    # Every label once, from all panels: a published curve may lie in one panel only.
    legend: dict[str, Artist] = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if len(legend) <= _LEGEND_INSIDE:
        axes[0][-1].legend(legend.values(), legend.keys(), loc="best", fontsize="small")
    else:  # beside the panels: inside one it would hide curves
        axes[0][-1].legend(legend.values(), legend.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0),
                           fontsize="x-small", frameon=False)
    return fig


def plot_metric_vs_snr(summary: pd.DataFrame, metric: str, path: Path, title: str = "",
                       references: pd.DataFrame | None = None, ceiling: pd.DataFrame | None = None) -> None:
    """Draw ``metric`` against SNR from a long-form summary (see :func:`results.summarize`).

    One panel per bandwidth ratio, one curve per scheme (and ROI weight, channel, rate policy,
    speed, feedback delay when these vary), the mean with markers and its 95% CI as a shaded
    band; with ``references``, the published points of ``metric`` at each panel's ratio as
    unfilled dark markers joined by thin dashed lines, one marker per published curve; with
    ``ceiling``, the originals' score as a dotted horizontal line. Written atomically as PNG.
    """
    _finish(metric_vs_snr_figure(summary, metric, references, ceiling), path, title)


_REFERENCE_MARKERS = "s^vDp<>h*X"
_LINE_STYLES = ("-", "--", ":", "-.")
_LEGEND_INSIDE = 6  # legend entries that still fit inside a panel


def _reference_markers(references: pd.DataFrame | None) -> dict[tuple[str, ...], str]:
    """A marker per published curve (:data:`CURVE_KEYS`), the same in every panel and plot."""
    if references is None:
        return {}
    curves = references[CURVE_KEYS].drop_duplicates().itertuples(index=False)
    return {tuple(curve): _REFERENCE_MARKERS[i % len(_REFERENCE_MARKERS)] for i, curve in enumerate(curves)}


def _draw_references(ax: Axes, points: pd.DataFrame, markers: dict[tuple[str, ...], str]) -> None:
    """Published points (sorted by curve and SNR), dark and unfilled so they read apart from ours."""
    for key, curve in points.groupby(CURVE_KEYS, sort=False):
        dataset, scheme, citation = key
        ax.plot(curve["snr_db"], curve["value"], linestyle="--", linewidth=0.8, color="0.2",
                marker=markers[tuple(key)], ms=5, markerfacecolor="none",
                label=reference_label(scheme, citation, dataset))


def plot_metric_vs_ratio(summary: pd.DataFrame, metric: str, path: Path, title: str = "") -> None:
    """Time-varying links: mean ``metric`` against the mean bandwidth ratio actually used.

    One panel per (nominal SNR, speed). Per scheme, the fixed-ratio points form a line (what
    a non-adaptive link achieves at each ratio); every adaptive policy and feedback delay is one
    marker at its mean ratio and mean quality, with 95% CIs of both. A policy that saves channel
    uses lies left of the fixed line at equal quality.
    """
    data = summary.pivot_table(index=[c for c in summary.columns if c not in
                                      ("metric", "mean", "std", "ci95_low", "ci95_high", "count")],
                               columns="metric", values=["mean", "ci95_low", "ci95_high"]).reset_index()
    if ("mean", metric) not in data.columns or ("mean", "ratio") not in data.columns:
        raise ValueError(f"no '{metric}' and 'ratio' values in the summary (needs a link: block)")
    panels = list(data.groupby(["snr_db", "speed"], sort=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels) + 0.6, 4.0), sharey=True, squeeze=False)
    markers = "sD^vP*Xo"
    for ax, ((snr, speed), panel) in zip(axes[0], panels):
        colours: dict[str, str] = {}
        for scheme, rows in panel.groupby("scheme", sort=False):
            fixed = rows[rows["policy"] == "fixed"].sort_values(("mean", "ratio"))
            line = fixed[fixed["delay_frames"] == fixed["delay_frames"].min()]  # one fixed-ratio line per scheme
            if not line.empty:
                (handle,) = ax.plot(line[("mean", "ratio")], line[("mean", metric)], "-o", ms=3,
                                    label=f"{scheme}, fixed ratios")
                colours[str(scheme)] = handle.get_color()
                ax.fill_between(line[("mean", "ratio")], line[("ci95_low", metric)], line[("ci95_high", metric)],
                                color=handle.get_color(), alpha=0.15, linewidth=0)
            adaptive = rows[rows["policy"] != "fixed"]
            for i, ((policy, delay), point) in enumerate(adaptive.groupby(["policy", "delay_frames"], sort=False)):
                x, y = point[("mean", "ratio")], point[("mean", metric)]
                ax.errorbar(x, y, xerr=[x - point[("ci95_low", "ratio")], point[("ci95_high", "ratio")] - x],
                            yerr=[y - point[("ci95_low", metric)], point[("ci95_high", metric)] - y],
                            fmt=markers[i % len(markers)], ms=6, color=colours.get(str(scheme)), capsize=2,
                            label=f"{scheme}, {policy}, delay {int(delay)}")
        ax.set_title(f"nominal SNR {snr:g} dB, speed {speed:g} m/s")
        ax.set_xlabel("mean bandwidth ratio used (channel uses / 3HW)")
        ax.grid(True, alpha=0.3)
    label = METRICS[metric].label + ("" if METRICS[metric].higher_is_better else " (lower is better)")
    axes[0][0].set_ylabel(label)
    # Many policies x delays: one legend below the panels instead of one covering a panel.
    handles, labels = axes[0][0].get_legend_handles_labels()
    rows = -(-len(labels) // 3)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize="x-small", frameon=False)
    fig.set_size_inches(fig.get_size_inches()[0], 4.0 + 0.17 * rows)
    _finish(fig, path, title, bottom=(0.17 * rows + 0.1) / (4.0 + 0.17 * rows))


def plot_time_trace(rows: pd.DataFrame, metric: str, path: Path, title: str = "") -> None:
    """Time-varying links, frame by frame for trial 0 of the first scheme, nominal SNR and speed:
    the true SNR and what each feedback delay delivers, the ratio each adaptive policy chose and
    ``metric`` (with the largest fixed ratio for reference)."""
    first = rows[(rows["trial"] == 0) & (rows["snr_db"] == rows["snr_db"].min()) & (rows["speed"] == rows["speed"].min())
                 & (rows["scheme"] == rows["scheme"].iloc[0])]
    fixed = first[first["policy"] == "fixed"]
    fixed = fixed[(fixed["bandwidth_ratio"] == fixed["bandwidth_ratio"].max()) & (fixed["delay_frames"] == fixed["delay_frames"].min())]
    adaptive = first[first["policy"] != "fixed"]
    fig, axes = plt.subplots(3, 1, figsize=(10.5, 7.5), sharex=True)
    reference = first.sort_values("frame").drop_duplicates("frame")
    axes[0].plot(reference["frame"], reference["true_snr_db"], "k-", lw=2, label="true SNR")
    for delay, line in first.groupby("delay_frames"):
        line = line.sort_values("frame").drop_duplicates("frame")
        axes[0].step(line["frame"], line["fed_back_snr_db"], where="mid", lw=1, label=f"fed back, delay {int(delay)}")
    for (policy, delay), line in adaptive.groupby(["policy", "delay_frames"], sort=False):
        line = line.sort_values("frame")
        label = f"{policy}, delay {int(delay)}"
        axes[1].step(line["frame"], line["ratio"], where="mid", label=label)
        axes[2].plot(line["frame"], line[metric], marker=".", lw=1, label=label)
    if not fixed.empty:
        line = fixed.sort_values("frame")
        axes[2].plot(line["frame"], line[metric], "k--", lw=1, label=f"fixed {ratio_label(line['bandwidth_ratio'].iloc[0])}")
    axes[0].set_ylabel("SNR [dB]")
    axes[1].set_ylabel("bandwidth ratio")
    axes[2].set_ylabel(METRICS[metric].label)
    axes[2].set_xlabel(f"frame (trial 0, {first['scheme'].iloc[0]})")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small", frameon=False)
    _finish(fig, path, title)


def _finish(fig, path: Path, title: str, bottom: float = 0.0) -> None:
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=150))
    plt.close(fig)


def plot_all(summary: pd.DataFrame, plots: list[str], out_dir: Path, title: str = "",
             rows: pd.DataFrame | None = None, references: pd.DataFrame | None = None,
             ceiling: pd.DataFrame | None = None) -> list[Path]:
    """Draw every plot named in ``plots`` (``<metric>_vs_snr``; with a link ``<metric>_vs_ratio``
    and ``<metric>_time_trace``, which needs ``rows``) into ``out_dir``; return the paths.
    ``references`` (see :func:`linksim.references.scenario_references`) and ``ceiling`` (see
    :func:`metric_vs_snr_figure`) go on the ``_vs_snr`` plots."""
    paths = []
    for name in plots:
        path = out_dir / f"{name}.png"
        if name.endswith("_vs_ratio"):
            plot_metric_vs_ratio(summary, name.removesuffix("_vs_ratio"), path, title=title)
        elif name.endswith("_time_trace"):
            if rows is None:
                raise ValueError(f"{name} needs the result rows")
            plot_time_trace(rows, name.removesuffix("_time_trace"), path, title=title)
        else:
            plot_metric_vs_snr(summary, name.removesuffix("_vs_snr"), path, title=title, references=references,
                               ceiling=ceiling)
        paths.append(path)
    return paths
