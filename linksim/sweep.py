"""Run a scenario's sweep: evaluate every grid point, resumably, and write tables and plots.

Output folder layout::

    points/<cache_key>.csv   rows of one finished point (written atomically, reused on resume)
    points/<cache_key>.json  its row count and SHA-256: a point is reused only if they match
    rows.csv                 all rows, one per image x trial x point
    summary.csv              mean, std, 95% CI and count per point, scheme and metric
    savings.csv              link sweeps with fixed ratios and adaptive policies: channel uses
                             each policy saves at equal mean quality (linksim.link.savings)
    <metric>_vs_snr.png      the plots the scenario asks for
    examples.png             originals and reconstructions (if output.examples is set)
    scenario.yaml            the validated scenario as run (CLI overrides applied)
    manifest.json            versions, git commit, seed, device, timing

Points are independent: each has its own seed, so the executor may run them in any order or
in parallel. :class:`~linksim.evaluation.LocalExecutor` runs them one after another in this
process; :class:`linksim.execution.RayExecutor` on a Ray cluster; another executor only has to
implement :class:`~linksim.evaluation.Executor`.

The flow is one-way: a run first computes the calibration tables its ``target_quality`` rate
policies need (each an ordinary sweep of a scenario derived from this one, in
``<out>/calibration/``), then evaluates the points (:mod:`linksim.evaluation`), then writes
tables, plots (:mod:`linksim.plots`) and examples (:mod:`linksim.gallery`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from linksim import __version__
from linksim.errors import LinksimError
from linksim.evaluation import CalibrationKey, Executor, PointEvaluator, PointTask, calibration_key
from linksim.execution import build_executor
from linksim.gallery import render_examples
from linksim.channels import CHANNELS
from linksim.link import FixedPolicyConfig, TargetQualityPolicyConfig
from linksim.link.policies import binned_by_estimate
from linksim.link.savings import equal_quality_savings
from linksim.metrics import label_metrics
from linksim.plots import plot_all
from linksim.references import scenario_references
from linksim.randomness import resolve_device
from linksim.semantic_metrics import ceiling as semantic_ceiling
from linksim.results import point_problem, read_rows, summarize, write_csv, write_json, write_point, write_text
from linksim.scenario import Scenario, SweepPoint, load_scenario


@dataclass
class SweepResult:
    """What :func:`run_sweep` produced."""

    out_dir: Path
    rows: pd.DataFrame
    summary: pd.DataFrame
    computed_points: int
    reused_points: int
    plots: list[Path] = field(default_factory=list)


def run_sweep(
    scenario: Scenario,
    *,
    fresh: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> SweepResult:
    """Evaluate every grid point of ``scenario`` and write rows, summary, plots and manifest.

    The output folder is locked for the run (:class:`RunLock`): another live run into it is
    refused in one line.

    Points whose row file already exists under ``<out>/points/`` are reused (resume);
    ``fresh=True`` deletes previous outputs first. Each finished point is written atomically,
    so an interrupted run loses at most the point in flight.
    """
    started = time.time()
    with RunLock(scenario.output_dir):
        return _run_locked(scenario, started, fresh, progress, executor)


class RunLock:
    """``<out>/.lock`` held for a run: a second run into the same folder (``--fresh`` or not) is
    refused in one line while the first is alive; the lock of a dead process is taken over."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.path.read_text(errors="replace").split()
                host, pid = (holder + ["", ""])[:2]
                live = host == socket.gethostname() and pid.isdigit() and _alive(int(pid))
                if live:
                    raise LinksimError(f"{self.path.parent}: another linksim run (pid {pid}) is writing here; "
                                       "wait for it to finish or choose another --out") from None
                elif host and host != socket.gethostname():
                    raise LinksimError(f"{self.path.parent}: locked by a run on host {host} (pid {pid}); "
                                       f"delete {self.path} if that run is gone") from None
                else:
                    self.path.unlink(missing_ok=True)  # a dead process's lock (or an empty one): take it over
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{socket.gethostname()} {os.getpid()}\n")
            return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _run_locked(scenario: Scenario, started: float, fresh: bool, progress: bool,
                executor: Executor | None) -> SweepResult:
    out = scenario.output_dir
    points_dir = out / "points"
    if fresh:
        _clear_outputs(out, scenario.plots)
    points_dir.mkdir(parents=True, exist_ok=True)
    for leftover in points_dir.glob(".*.tmp"):  # from a run killed mid-write; never read
        leftover.unlink()
    write_text(yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True), sort_keys=False), out / "scenario.yaml")

    executor = executor or build_executor(scenario.execution)
    grid = scenario.grid()
    tasks = [PointTask(p, p.seed(scenario.seed), points_dir / f"{p.cache_key(scenario)}.csv") for p in grid]
    pending = []
    for task in tasks:
        problem = point_problem(task.path)
        if problem is not None and problem != "missing":  # never reuse what cannot be verified
            print(f"linksim: warning: point {task.path.name}: {problem}; recomputing it", file=sys.stderr)
        if problem is not None:
            pending.append(task)
    device = resolve_device(scenario.device)

    evaluator: PointEvaluator | None = None
    if pending:
        evaluator = PointEvaluator(scenario, device)
        evaluator.calibrations = _calibrate(scenario, [t.point for t in pending], evaluator)
        total = sum(evaluator.work(t.point) for t in pending)
        with tqdm(total=total, unit="img", desc=scenario.name, disable=not progress, dynamic_ncols=True) as bar:
            bar.set_postfix_str(f"points {len(tasks) - len(pending)}/{len(tasks)}")
            for done, (task, rows) in enumerate(executor.run(pending, evaluator, bar.update), 1):
                write_point(rows, task.path)
                bar.set_postfix_str(f"points {len(tasks) - len(pending) + done}/{len(tasks)}")

    rows = pd.concat([read_rows(t.path) for t in tasks], ignore_index=True)
    # Scheme-reported columns are summarised like metrics (the mean of ``decoded`` is a success rate).
    reported = [c for s in scenario.schemes for c in s.reported_columns if c in rows]
    if scenario.link is not None:  # per-frame choices: mean channel uses and ratio per point
        reported += ["channel_uses", "ratio"]
    summary = summarize(rows, list(dict.fromkeys(scenario.metrics + reported)))
    write_csv(rows, out / "rows.csv")
    write_csv(summary, out / "summary.csv")
    savings = equal_quality_savings(rows, scenario.metrics, seed=scenario.seed) if scenario.link else None
    if savings is not None and len(savings):
        write_csv(savings, out / "savings.csv")
    else:
        (out / "savings.csv").unlink(missing_ok=True)  # from an earlier run of another grid
    ceiling = None
    if any(m in label_metrics() for m in scenario.metrics):  # the originals through the segmenter
        images = evaluator.images if evaluator is not None else scenario.dataset.load()  # loaded once per run
        ceiling = semantic_ceiling(images, [m for m in scenario.metrics if m in label_metrics()], device)
        write_csv(ceiling, out / "ceiling.csv")
    else:
        (out / "ceiling.csv").unlink(missing_ok=True)  # from an earlier run with other metrics
    plots = plot_all(summary, scenario.plots, out, title=_plot_title(scenario), rows=rows,
                     references=scenario_references(scenario), ceiling=ceiling)
    if scenario.output.examples is not None:
        evaluator = evaluator or PointEvaluator(scenario, device)
        plots.append(render_examples(scenario, evaluator.images, evaluator.select, evaluator.reconstruct,
                                     [label for label, s in evaluator.schemes.items() if not s.hindsight_candidates()],
                                     out / "examples.png"))
    write_json(
        _manifest(scenario, device, started, computed=len(pending), reused=len(tasks) - len(pending),
                  execution=executor.describe()),
        out / "manifest.json",
    )
    return SweepResult(out, rows, summary, len(pending), len(tasks) - len(pending), plots)


def replot(out_dir: Path) -> list[Path]:
    """Redraw the plots of a finished run from its ``summary.csv`` and ``scenario.yaml``."""
    scenario = load_scenario(out_dir / "scenario.yaml")
    summary = pd.read_csv(out_dir / "summary.csv", dtype={"scheme": str, "channel": str})
    rows = read_rows(out_dir / "rows.csv") if any(p.endswith("_time_trace") for p in scenario.plots) else None
    ceiling = pd.read_csv(out_dir / "ceiling.csv") if (out_dir / "ceiling.csv").is_file() else None
    return plot_all(summary, scenario.plots, out_dir, title=_plot_title(scenario), rows=rows,
                    references=scenario_references(scenario), ceiling=ceiling)


def _calibrate(scenario: Scenario, points: list[SweepPoint],
               evaluator: PointEvaluator) -> dict[CalibrationKey, pd.DataFrame]:
    """The calibration table of every ``target_quality`` policy without a table that ``points``
    use, each from an ordinary (resumable) sweep of :func:`calibration_scenario` in
    ``<out>/calibration/<policy>/<scheme>[/<channel> <speed>]``: a summary (``awgn``) or the
    quality binned by the receiver's per-frame SNR estimate (``link``,
    :func:`~linksim.link.policies.binned_by_estimate`)."""
    tables: dict[CalibrationKey, pd.DataFrame] = {}
    for point in points:
        config = scenario.policy_config(point.policy) if scenario.link is not None else None
        if not isinstance(config, TargetQualityPolicyConfig) or config.table is not None:
            continue
        key = calibration_key(scenario, point)
        if key in tables:
            continue
        derived = calibration_scenario(scenario, point, evaluator.schemes[point.scheme].supported_ratios,
                                       len(evaluator.images))
        result = run_sweep(derived, progress=False)
        source = f"rate_policy '{config.label}' calibration"
        tables[key] = (binned_by_estimate(result.rows, config.metric, config.calibration_snr_db, source)
                       if config.calibration_channel == "link" else result.summary)
    return tables


def calibration_scenario(scenario: Scenario, point: SweepPoint, supported_ratios: list[float] | None,
                         num_images: int) -> Scenario:
    """The scenario that calibrates ``point``'s ``target_quality`` policy for its scheme, derived
    from ``scenario`` (same seed, data, scheme, ROI and device) with the schema's own copy;
    ``supported_ratios`` are the scheme's (the default candidates), ``num_images`` how many
    images the data has:

    - ``calibration_channel: awgn``: the first ``calibration_images`` images over AWGN at
      ``calibration_snr_db`` x the policy's ``ratios`` (default: the scheme's), one trial;
    - ``link``: the point's channel and speed over the scenario's link without feedback delay,
      another seed than the evaluation (so the frames differ), ``calibration_images`` frames per
      nominal SNR and ratio.
    """
    config = scenario.policy_config(point.policy)
    scheme = scenario.scheme_config(point.scheme)
    ratios = config.ratios or supported_ratios
    if not ratios:
        raise LinksimError(f"rate_policy '{config.label}': scheme '{point.scheme}' accepts any ratio; "
                           "set rate_policy.ratios to the candidates to calibrate")
    folder = scenario.output_dir / "calibration" / _file_name(config.label) / _file_name(point.scheme)
    sweep = scenario.sweep.model_copy(update={"snr_db": list(config.calibration_snr_db), "bandwidth_ratio": list(ratios),
                                              "roi_weight": [0.0], "speed": None, "delay_frames": None})
    changes: dict[str, Any] = {
        "name": f"{scenario.name}-calibration", "schemes": [scheme], "metrics": [config.metric],
        "rate_policy": [FixedPolicyConfig()],
        "references": [], "execution": scenario.execution.model_copy(update={"executor": "local"}),
        "output": scenario.output.model_copy(update={"dir": str(folder), "plots": [f"{config.metric}_vs_snr"],
                                                     "examples": None}),
    }
    if config.calibration_channel == "link":
        changes.update({
            "seed": scenario.seed + 1,
            "channel": [scenario.channel_config(point.channel)],
            "link": scenario.link,
            "sweep": sweep.model_copy(update={"speed": [point.speed], "delay_frames": [0]}),
            "monte_carlo": scenario.monte_carlo.model_copy(
                update={"trials": -(-config.calibration_images // scenario.link.frames)}),
            "output": changes["output"].model_copy(update={
                "dir": str(folder / _file_name(f"{point.channel} {point.speed} m per s")),
                "plots": [f"{config.metric}_vs_ratio"]}),
        })
    else:
        images = min(config.calibration_images, num_images)
        changes.update({
            "channel": [CHANNELS["awgn"].config_class()], "link": None, "sweep": sweep,
            "dataset": scenario.dataset.model_copy(update={"num_images": images}),
            "monte_carlo": scenario.monte_carlo.model_copy(update={"trials": 1}),
        })
    derived = scenario.model_copy(update=changes)
    return type(scenario).model_validate(derived.model_dump(mode="json", exclude_none=True))


def _file_name(label: str) -> str:
    """A label made safe as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "_"


def _plot_title(scenario: Scenario) -> str:
    channels = ", ".join(c.label for c in scenario.channel)
    return f"{scenario.name}: {scenario.dataset.describe()}, channel: {channels}"


def _clear_outputs(out: Path, plots: list[str]) -> None:
    shutil.rmtree(out / "points", ignore_errors=True)
    for name in ["rows.csv", "summary.csv", "savings.csv", "ceiling.csv", "manifest.json", "examples.png",
                 *(f"{p}.png" for p in plots)]:
        (out / name).unlink(missing_ok=True)


def _manifest(scenario: Scenario, device: str, started: float, computed: int, reused: int,
              execution: dict[str, Any]) -> dict:
    packages = ["torch", "sionna-no-rt", "diffusers", "numpy", "pandas", "pydantic", "scikit-image", "matplotlib"]
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "linksim_version": __version__,
        "git": _git_state(),
        "scenario": scenario.name,
        "seed": scenario.seed,
        "inputs": scenario.input_digests(),  # SHA-256 of every file the scenario names
        "device": device,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "command": sys.argv,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(time.time() - started, 3),
        "points_computed": computed,
        "points_reused": reused,
        "execution": execution,
    }


def _git_state() -> dict[str, str | bool | None]:
    """Commit and dirtiness of the linksim source tree (``None`` outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
