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
in parallel. :class:`LocalExecutor` runs them one after another in this process;
:class:`linksim.execution.RayExecutor` on a Ray cluster; another executor only has to implement
:class:`Executor`.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from linksim import __version__
from linksim.channels import Channel, ChannelOutput, build_channel
from linksim.data import ImageSet
from linksim.errors import LinksimError, ScenarioError
from linksim.execution import build_executor
from linksim.gallery import render_examples
from linksim.link import FeedbackPath, RatePolicy, TargetQualityPolicyConfig, build_policy
from linksim.link.policies import binned_by_estimate
from linksim.link.savings import equal_quality_savings
from linksim.link.schedule import frame_channel, plan_frames
from linksim.metrics import compute_metrics
from linksim.plots import plot_all
from linksim.references import scenario_references
from linksim.randomness import RowKeys, resolve_device, seed_everything
from linksim.results import point_problem, read_rows, summarize, write_csv, write_json, write_point, write_text
from linksim.roi import build_masks
from linksim.scenario import Scenario, SweepPoint, parse_scenario
from linksim.schemes import LinkState, Scheme, Transmission, build_scheme, channel_uses

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class ImageGroup:
    """The evaluation images of one size: dataset indices ``[n]``, pixels ``[n, 3, H, W]`` and
    ROI masks ``[n, 1, H, W]`` (``None`` without a ``roi:`` block), on the evaluation device."""

    index: torch.Tensor
    pixels: torch.Tensor
    roi_masks: torch.Tensor | None


@dataclass(frozen=True)
class PointTask:
    """A grid point to evaluate, with its seed and the file its rows go to."""

    point: SweepPoint
    seed: int
    path: Path


class Executor(Protocol):
    """Runs point tasks and yields each task with its rows as soon as it finishes
    (:mod:`linksim.execution` builds one from the scenario's ``execution:`` block)."""

    def describe(self) -> dict[str, Any]:
        """What ``manifest.json`` records about where the points ran."""
        ...

    def run(
        self,
        tasks: Sequence[PointTask],
        evaluate: Callable[[PointTask, ProgressCallback], pd.DataFrame],
        progress: ProgressCallback,
    ) -> Iterator[tuple[PointTask, pd.DataFrame]]: ...


class LocalExecutor:
    """Evaluates points one after another in this process (the default)."""

    def run(self, tasks, evaluate, progress):  # type: ignore[no-untyped-def]
        for task in tasks:
            yield task, evaluate(task, progress)

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "threads": torch.get_num_threads()}


class PointEvaluator:
    """Holds what every point of a scenario shares (images, schemes, channels) and evaluates one.

    Built once per process: loading data and models is the expensive part.
    """

    def __init__(self, scenario: Scenario, device: str) -> None:
        self.scenario = scenario
        self.device = device
        self.images: ImageSet = scenario.dataset.load()
        if scenario.link is not None and not self.images.uniform:
            raise ScenarioError(f"dataset: a time-varying link sends one image per frame and needs images of one "
                                f"size; {scenario.dataset.name} has several (set dataset.image_size or dataset.crop)")
        # One group per image size (one group for square datasets): batches never mix sizes.
        self.groups: list[ImageGroup] = []
        for index, pixels in self.images.size_groups():
            ids = [self.images.ids[i] for i in index.tolist()]
            masks = build_masks(scenario.roi, pixels, ids).to(device) if scenario.roi else None
            self.groups.append(ImageGroup(index, pixels.to(device), masks))
        self.schemes: dict[str, Scheme] = {s.label: build_scheme(s, device) for s in scenario.schemes}
        self.channels: dict[str, Channel] = {c.label: build_channel(c, device) for c in scenario.channel}
        self._calibrations: dict[tuple[str, str], pd.DataFrame] = {}

    @property
    def pixels(self) -> torch.Tensor:
        """All images ``[N, 3, H, W]`` (datasets of one image size: time-varying links, calibration)."""
        assert len(self.groups) == 1, "only for datasets of one image size"
        return self.groups[0].pixels

    @property
    def roi_masks(self) -> torch.Tensor | None:
        """ROI masks ``[N, 1, H, W]`` of :attr:`pixels`, or ``None`` without a ``roi:`` block."""
        assert len(self.groups) == 1, "only for datasets of one image size"
        return self.groups[0].roi_masks

    def select(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor | None, list[str]]]:
        """Images ``[b, 3, H, W]``, ROI masks and image ids of dataset ``indices``, batched by
        image size (groups in order of first appearance, order kept within a group)."""
        batches, wanted = [], set(indices)
        for group in self.groups:
            local = [j for j, i in enumerate(group.index.tolist()) if i in wanted]
            if local:
                at = torch.tensor(local, device=self.device)
                ids = [self.images.ids[int(group.index[j])] for j in local]
                batches.append((group.pixels[at], None if group.roi_masks is None else group.roi_masks[at], ids))
        return batches

    @property
    def images_per_point(self) -> int:
        if self.scenario.link is not None:
            return self.scenario.link.frames * self.scenario.monte_carlo.trials
        return len(self.images) * self.scenario.monte_carlo.trials

    def work(self, point: SweepPoint) -> int:
        """Images to push through the link for ``point`` (for the progress bar)."""
        return self.images_per_point * max(1, len(self.schemes[point.scheme].hindsight_candidates()))

    @torch.no_grad()
    def __call__(self, task: PointTask, progress: ProgressCallback) -> pd.DataFrame:
        """Rows of one point: every image x trial, in batches of ``monte_carlo.batch_size``.

        For a scheme with hindsight candidates (an oracle), every candidate runs the whole point
        with the point's seed and the rows of the one with the best mean ``hindsight_metric`` are
        kept, with the candidate's label in the ``hindsight_choice`` column.
        """
        scheme = self.schemes[task.point.scheme]
        candidates = scheme.hindsight_candidates()
        if not candidates:
            return self._evaluate(task, scheme, progress)
        runs = [self._evaluate(task, candidate, progress) for candidate in candidates]
        best = max(range(len(runs)), key=lambda i: runs[i][scheme.hindsight_metric].mean())
        rows = runs[best]
        rows["hindsight_choice"] = getattr(candidates[best], "label", str(best))
        return rows

    def point_state(self, point: SweepPoint, x: torch.Tensor, mask: torch.Tensor | None = None,
                    keys: RowKeys | None = None) -> LinkState:
        """The link state of an ordinary (not time-varying) point for a batch ``x`` whose rows
        draw their random numbers from ``keys``."""
        return LinkState(snr_db=torch.full((len(x),), point.snr_db, device=self.device),
                         bandwidth_ratio=point.bandwidth_ratio, roi_weight=point.roi_weight, roi_mask=mask,
                         bler_table=self.scenario.channel_config(point.channel).bler_table, keys=keys)

    def link(
        self, scheme: Scheme, channel: str, x: torch.Tensor, state: LinkState
    ) -> tuple[torch.Tensor, Transmission, ChannelOutput]:
        """Images ``x`` ``[B, 3, H, W]`` through ``scheme`` and ``channel`` at ``state.snr_db`` ->
        the reconstruction ``[B, 3, H, W]`` clipped to [0, 1], the transmission and the channel output."""
        tx = scheme.transmit(x, state)
        received = self.channels[channel].send(tx.symbols, state.snr_db, state.keys)
        return scheme.receive(received.y, received.noise_var, tx, state).clamp(0.0, 1.0), tx, received

    def _batch_rows(self, x: torch.Tensor, index: torch.Tensor, mask: torch.Tensor | None, x_hat: torch.Tensor,
                    tx: Transmission, received: ChannelOutput, **columns: Any) -> pd.DataFrame:
        """Result rows of one batch: ``columns`` first, then image, pilot and side-information
        columns, the metrics, the scheme's columns and the receiver's SNR estimate."""
        values = compute_metrics(self.scenario.metrics, x_hat, x, roi_mask=mask)
        frame = {
            **columns,
            "image_index": index.numpy(),
            "image_id": [self.images.ids[i] for i in index.tolist()],
            "pilot_uses": received.pilot_uses,
            "side_info_bits": tx.side_info_bits,
            **{name: v.float().cpu().numpy() for name, v in values.items()},
            **{name: torch.as_tensor(v).cpu().numpy() if not isinstance(v, list) else v for name, v in tx.columns.items()},
        }
        if received.snr_estimate_db is not None and "snr_estimate_db" not in frame:
            frame["snr_estimate_db"] = received.snr_estimate_db.float().cpu().numpy()
        return pd.DataFrame(frame)

    def _coordinates(self, rows: pd.DataFrame, point: SweepPoint, **extra: Any) -> pd.DataFrame:
        coordinates = {"scheme": point.scheme, "scheme_type": self.scenario.scheme_config(point.scheme).type,
                       **{k: v for k, v in point.coordinates().items() if k != "scheme"}, **extra}
        for position, (name, value) in enumerate(coordinates.items()):
            rows.insert(position, name, value)
        return rows

    def _evaluate(self, task: PointTask, scheme: Scheme, progress: ProgressCallback) -> pd.DataFrame:
        if self.scenario.link is not None:
            return self._evaluate_link(task, scheme, progress)
        point, scenario = task.point, self.scenario
        seed_everything(task.seed)
        trials, batch_size = scenario.monte_carlo.trials, scenario.monte_carlo.batch_size
        frames = []
        for group in self.groups:
            n_images = len(group.index)
            k = channel_uses(tuple(group.pixels.shape[1:]), point.bandwidth_ratio)
            for start in range(0, n_images * trials, batch_size):
                # Batches run over the flattened (trial, image) index, so small datasets still fill them.
                flat = torch.arange(start, min(start + batch_size, n_images * trials))
                trial, local = flat // n_images, (flat % n_images).to(self.device)
                x = group.pixels[local]
                mask = None if group.roi_masks is None else group.roi_masks[local]
                index = group.index[local.cpu()]
                # A row's random numbers depend on (point seed, trial, image id) only, not on its batch.
                keys = RowKeys.of(task.seed, trial.tolist(), [self.images.ids[i] for i in index.tolist()])
                x_hat, tx, received = self.link(scheme, point.channel, x, self.point_state(point, x, mask, keys))
                frames.append(self._batch_rows(x, index, mask, x_hat, tx, received,
                                               trial=trial.numpy(), channel_uses=k))
                progress(len(flat))
        rows = pd.concat(frames, ignore_index=True)
        if len(self.groups) > 1:  # rows in (trial, image) order, as for one size
            rows = rows.sort_values(["trial", "image_index"], kind="stable", ignore_index=True)
        return self._coordinates(rows, point, channel_uses=rows.pop("channel_uses").to_numpy())

    def _policy(self, point: SweepPoint, scheme: Scheme) -> RatePolicy:
        config = self.scenario.policy_config(point.policy)
        summary = None
        if isinstance(config, TargetQualityPolicyConfig) and config.table is None:
            summary = self._calibration(point, config, scheme)
        try:
            return build_policy(config, bandwidth_ratio=point.bandwidth_ratio or None, summary=summary,
                                supported_ratios=scheme.supported_ratios)
        except ValueError as exc:
            raise ScenarioError(f"rate_policy '{config.label}' with scheme '{point.scheme}': {exc}") from None

    def _calibration(self, point: SweepPoint, config: TargetQualityPolicyConfig, scheme: Scheme) -> pd.DataFrame:
        """The calibration summary of ``point.scheme`` for a ``target_quality`` policy without a
        table: an ordinary (resumable) sweep in ``<out>/calibration/<policy>/<scheme>[/<channel>]``
        at ``calibration_snr_db`` x the policy's ``ratios``, run once per policy and scheme (and,
        over the link, per channel and speed) however many points use it.

        ``calibration_channel: awgn``: the first ``calibration_images`` images over AWGN, one row
        per SNR. ``link``: the point's channel and speed with the scenario's link (no feedback
        delay, another seed than the evaluation so the frames differ), ``calibration_images``
        frames per nominal SNR and ratio; quality is then binned by the receiver's per-frame SNR
        estimate (:func:`~linksim.link.policies.binned_by_estimate`)."""
        over_link = config.calibration_channel == "link"
        key = (config.label, point.scheme) + ((point.channel, point.speed) if over_link else ())
        if key in self._calibrations:
            return self._calibrations[key]
        ratios = config.ratios or scheme.supported_ratios
        if not ratios:
            raise ScenarioError(f"rate_policy '{config.label}': scheme '{point.scheme}' accepts any ratio; "
                                "set rate_policy.ratios to the candidates to calibrate")
        scenario = self.scenario
        dataset = scenario.dataset.model_dump(mode="json", exclude_none=True)
        folder = scenario.output_dir / "calibration" / _file_name(config.label) / _file_name(point.scheme)
        data = {
            "name": f"{scenario.name}-calibration", "seed": scenario.seed, "dataset": dataset,
            "channel": [{"type": "awgn"}],
            "schemes": [scenario.scheme_config(point.scheme).model_dump(mode="json", exclude_none=True)],
            "sweep": {"snr_db": config.calibration_snr_db, "bandwidth_ratio": list(ratios), "roi_weight": [0.0]},
            "monte_carlo": {"trials": 1, "batch_size": scenario.monte_carlo.batch_size},
            "metrics": [config.metric], "device": scenario.device,
            "output": {"dir": str(folder), "plots": [f"{config.metric}_vs_snr"]},
        }
        if over_link:
            frames = scenario.link.frames
            data.update({
                "seed": scenario.seed + 1,
                "channel": [scenario.channel_config(point.channel).model_dump(mode="json", exclude_none=True)],
                "link": scenario.link.model_dump(mode="json", exclude_none=True),
                "monte_carlo": {"trials": -(-config.calibration_images // frames), "batch_size": scenario.monte_carlo.batch_size},
                "output": {"dir": str(folder / _file_name(f"{point.channel} {point.speed} m per s")),
                           "plots": [f"{config.metric}_vs_ratio"]},
            })
            data["sweep"].update({"speed": [point.speed], "delay_frames": [0]})
        else:
            dataset["num_images"] = min(config.calibration_images, len(self.images))
        if scenario.roi is not None:
            data["roi"] = scenario.roi.model_dump(mode="json", exclude_none=True)
        source = f"rate_policy '{config.label}' calibration"
        result = run_sweep(parse_scenario(data, source=source), progress=False, wait_for_lock=True)
        self._calibrations[key] = (binned_by_estimate(result.rows, config.metric, config.calibration_snr_db, source)
                                   if over_link else result.summary)
        return self._calibrations[key]

    def _evaluate_link(self, task: PointTask, scheme: Scheme, progress: ProgressCallback) -> pd.DataFrame:
        """Rows of a time-varying link point: trials x frames, one image per frame (image
        ``(trial * frames + frame) mod N``), planned at once (:mod:`linksim.link.schedule`) and
        sent in batches of frames that share the chosen ratio and ROI weight. The fades and SNR
        estimates come from :meth:`SweepPoint.link_seed`, shared across schemes, policies and delays."""
        point, scenario, link = task.point, self.scenario, self.scenario.link
        assert link is not None and point.speed is not None and point.delay_frames is not None
        policy = self._policy(point, scheme)
        trials, n_frames = scenario.monte_carlo.trials, link.frames
        seed_everything(point.link_seed(scenario.seed))  # the same fades for every scheme, policy, delay
        max_symbols = channel_uses(tuple(self.pixels.shape[1:]), max(policy.ratios))
        frames_channel = frame_channel(self.channels[point.channel], trials, n_frames, point.snr_db, point.speed,
                                       link.carrier_frequency, link.frame_duration, link.snr_trace, max_symbols,
                                       self.device)
        true, estimate = frames_channel.true_snr_db, frames_channel.estimate_db()
        seed_everything(task.seed)
        feedback = FeedbackPath(point.delay_frames, link.feedback.quantisation_db, link.feedback.error_std_db,
                                link.feedback.initial_snr_db)
        plan = plan_frames(true, estimate, feedback, policy, point.snr_db)
        flat = torch.arange(trials * n_frames)
        choice = plan.choice.reshape(-1).cpu()
        roi = (plan.roi_weight.reshape(-1).cpu() if plan.roi_weight is not None
               else torch.full((len(flat),), point.roi_weight))
        true_flat, estimate, known = (t.reshape(-1) for t in (plan.true_snr_db, plan.estimate_db, plan.known_db))
        batches = []
        for c, w in sorted({(int(c), float(w)) for c, w in zip(choice.tolist(), roi.tolist())}):
            ratio = policy.ratios[c]
            k = channel_uses(tuple(self.pixels.shape[1:]), ratio)
            for members in flat[(choice == c) & (roi == w)].split(scenario.monte_carlo.batch_size):
                index = members % len(self.images)
                on_device = members.to(self.device)
                x = self.pixels[index.to(self.device)]
                mask = None if self.roi_masks is None else self.roi_masks[index.to(self.device)]
                keys = RowKeys.of(task.seed, (members // n_frames).tolist(), (members % n_frames).tolist())
                state = LinkState(snr_db=known[on_device], bandwidth_ratio=ratio, roi_weight=w, roi_mask=mask,
                                  bler_table=self.scenario.channel_config(point.channel).bler_table, keys=keys)
                tx = scheme.transmit(x, state)
                received = frames_channel.send(tx.symbols, members // n_frames, members % n_frames, keys)
                x_hat = scheme.receive(received.y, received.noise_var, tx, state).clamp(0.0, 1.0)
                batches.append(self._batch_rows(
                    x, index, mask, x_hat, tx, received, trial=(members // n_frames).numpy(),
                    frame=(members % n_frames).numpy(), true_snr_db=true_flat[on_device].cpu().numpy(),
                    snr_estimate_db=estimate[on_device].cpu().numpy(), fed_back_snr_db=known[on_device].cpu().numpy(),
                    ratio=ratio, frame_roi_weight=w, channel_uses=k))
                progress(len(members))
        rows = pd.concat(batches, ignore_index=True).sort_values(["trial", "frame"], ignore_index=True)
        return self._coordinates(rows, point)


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
    wait_for_lock: bool = False,
) -> SweepResult:
    """Evaluate every grid point of ``scenario`` and write rows, summary, plots and manifest.

    The output folder is locked for the run (:class:`RunLock`): another live run into it is
    refused in one line, or waited for with ``wait_for_lock``.

    Points whose row file already exists under ``<out>/points/`` are reused (resume);
    ``fresh=True`` deletes previous outputs first. Each finished point is written atomically,
    so an interrupted run loses at most the point in flight.
    """
    started = time.time()
    with RunLock(scenario.output_dir, wait=wait_for_lock):
        return _run_locked(scenario, started, fresh, progress, executor)


class RunLock:
    """``<out>/.lock`` held for a run: a second run into the same folder (``--fresh`` or not) is
    refused in one line while the first is alive; the lock of a dead process is taken over."""

    def __init__(self, out: Path, wait: bool = False) -> None:
        self.path = out / ".lock"
        self.wait = wait  # wait for a live holder instead of refusing (calibration sweeps of Ray workers)

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.path.read_text(errors="replace").split()
                host, pid = (holder + ["", ""])[:2]
                live = host == socket.gethostname() and pid.isdigit() and _alive(int(pid))
                if (live or (host and host != socket.gethostname())) and self.wait:
                    time.sleep(0.5)
                elif live:
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
    plots = plot_all(summary, scenario.plots, out, title=_plot_title(scenario), rows=rows,
                     references=scenario_references(scenario))
    if scenario.output.examples is not None:
        plots.append(render_examples(scenario, evaluator or PointEvaluator(scenario, device), out / "examples.png"))
    write_json(
        _manifest(scenario, device, started, computed=len(pending), reused=len(tasks) - len(pending),
                  execution=executor.describe()),
        out / "manifest.json",
    )
    return SweepResult(out, rows, summary, len(pending), len(tasks) - len(pending), plots)


def replot(out_dir: Path) -> list[Path]:
    """Redraw the plots of a finished run from its ``summary.csv`` and ``scenario.yaml``."""
    from linksim.scenario import load_scenario  # local: keeps this module's import graph acyclic

    scenario = load_scenario(out_dir / "scenario.yaml")
    summary = pd.read_csv(out_dir / "summary.csv", dtype={"scheme": str, "channel": str})
    rows = read_rows(out_dir / "rows.csv") if any(p.endswith("_time_trace") for p in scenario.plots) else None
    return plot_all(summary, scenario.plots, out_dir, title=_plot_title(scenario), rows=rows,
                    references=scenario_references(scenario))


def _file_name(label: str) -> str:
    """A label made safe as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "_"


def _plot_title(scenario: Scenario) -> str:
    channels = ", ".join(c.label for c in scenario.channel)
    return f"{scenario.name}: {scenario.dataset.describe()}, channel: {channels}"


def _clear_outputs(out: Path, plots: list[str]) -> None:
    shutil.rmtree(out / "points", ignore_errors=True)
    for name in ["rows.csv", "summary.csv", "savings.csv", "manifest.json", "examples.png", *(f"{p}.png" for p in plots)]:
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
