"""Evaluating sweep points: what every point of a scenario shares (images, schemes, channels)
and how one point's rows are computed; the executors that run point tasks.

Calls go down only: the evaluator uses schemes, channels, the link's frame planning and metrics;
it never calls back into :mod:`linksim.sweep` (calibration tables of ``target_quality``
policies are computed before the points and handed in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch

from linksim.channels import Channel, ChannelOutput, build_channel
from linksim.data import ImageSet
from linksim.errors import ScenarioError
from linksim.link import FeedbackPath, RatePolicy, TargetQualityPolicyConfig, build_policy
from linksim.link.schedule import frame_channel, plan_frames
from linksim.metrics import compute_metrics, set_level_metrics
from linksim.randomness import RowKeys, seed_everything
from linksim.roi import build_masks
from linksim.set_metrics import SetMetrics
from linksim.scenario import Scenario, SweepPoint
from linksim.schemes import LinkState, Scheme, Transmission, build_scheme, channel_uses

CalibrationKey = tuple[str, ...]
"""``(policy, scheme)``, or ``(policy, scheme, channel, speed)`` for a calibration over the link."""


def calibration_key(scenario: Scenario, point: SweepPoint) -> CalibrationKey:
    """Which calibration table a point of a ``target_quality`` policy without a table uses: one
    per policy and scheme (over the link: per channel and speed too)."""
    config = scenario.policy_config(point.policy)
    if config.calibration_channel == "link":
        return (config.label, point.scheme, point.channel, str(point.speed))
    return (config.label, point.scheme)


ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class ImageGroup:
    """The evaluation images of one size: dataset indices ``[n]``, pixels ``[n, 3, H, W]``, ROI
    masks ``[n, 1, H, W]`` (``None`` without a ``roi:`` block) and label maps ``[n, H, W]``
    (``None`` for a dataset without them), on the evaluation device."""

    index: torch.Tensor
    pixels: torch.Tensor
    roi_masks: torch.Tensor | None
    labels: torch.Tensor | None = None

    def rows(self, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Pixels, ROI masks and label maps of the group's rows ``local``."""
        pick = lambda t: None if t is None else t[local]  # noqa: E731
        return self.pixels[local], pick(self.roi_masks), pick(self.labels)


@dataclass(frozen=True)
class ImageBatch:
    """Images of one size with what belongs to them: pixels ``[b, 3, H, W]``, ROI masks
    ``[b, 1, H, W]`` or ``None``, label maps ``[b, H, W]`` or ``None``, and image ids."""

    pixels: torch.Tensor
    roi_masks: torch.Tensor | None
    labels: torch.Tensor | None
    ids: list[str]


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

    def __init__(self, scenario: Scenario, device: str,
                 calibrations: dict[CalibrationKey, pd.DataFrame] | None = None) -> None:
        self.scenario = scenario
        self.device = device
        # target_quality policies without a table: their tables, computed before any point runs
        self.calibrations = dict(calibrations or {})
        self.images: ImageSet = scenario.dataset.load()
        if scenario.link is not None and not self.images.uniform:
            raise ScenarioError(f"dataset: a time-varying link sends one image per frame and needs images of one "
                                f"size; {scenario.dataset.name} has several (set dataset.image_size or dataset.crop)")
        # One group per image size (one group for square datasets): batches never mix sizes.
        self.groups: list[ImageGroup] = []
        for index, pixels in self.images.size_groups():
            ids = [self.images.ids[i] for i in index.tolist()]
            labels = None if self.images.labels is None else self.images.labels[index].to(device)
            masks = build_masks(scenario.roi, pixels, ids, labels).to(device) if scenario.roi else None
            self.groups.append(ImageGroup(index, pixels.to(device), masks, labels))
        self.schemes: dict[str, Scheme] = {s.label: build_scheme(s, device) for s in scenario.schemes}
        self.channels: dict[str, Channel] = {c.label: build_channel(c, device) for c in scenario.channel}

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

    def select(self, indices: list[int]) -> list[ImageBatch]:
        """The images of dataset ``indices``, batched by image size (groups in order of first
        appearance, order kept within a group)."""
        batches, wanted = [], set(indices)
        for group in self.groups:
            local = [j for j, i in enumerate(group.index.tolist()) if i in wanted]
            if local:
                ids = [self.images.ids[int(group.index[j])] for j in local]
                batches.append(ImageBatch(*group.rows(torch.tensor(local, device=self.device)), ids))
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
                    keys: RowKeys | None = None, labels: torch.Tensor | None = None) -> LinkState:
        """The link state of an ordinary (not time-varying) point for a batch ``x`` whose rows
        draw their random numbers from ``keys``."""
        return LinkState(snr_db=torch.full((len(x),), point.snr_db, device=self.device),
                         bandwidth_ratio=point.bandwidth_ratio, roi_weight=point.roi_weight, roi_mask=mask,
                         bler_table=self.scenario.channel_config(point.channel).bler_table, keys=keys,
                         labels=labels)

    def link(self, scheme: Scheme, send: Callable[[torch.Tensor], ChannelOutput], x: torch.Tensor,
             state: LinkState) -> tuple[torch.Tensor, Transmission, ChannelOutput]:
        """Images ``x`` ``[B, 3, H, W]`` through ``scheme`` and ``send`` (symbols ``[B, K]`` ->
        the channel's output) -> the reconstruction ``[B, 3, H, W]`` clipped to [0, 1], the
        transmission and the channel output. Still and time-varying points both go through here."""
        tx = scheme.transmit(x, state)
        received = send(tx.symbols)
        return scheme.receive(received.y, received.noise_var, tx, state).clamp(0.0, 1.0), tx, received

    def reconstruct(self, scheme: str, point: SweepPoint, batch: ImageBatch, keys: RowKeys) -> torch.Tensor:
        """Reconstructions ``[B, 3, H, W]`` of a batch at a still ``point`` with the streams
        ``keys`` (what :mod:`linksim.gallery` draws)."""
        x = batch.pixels
        state = self.point_state(point, x, batch.roi_masks, keys, batch.labels)
        return self.link(self.schemes[scheme], self.still_channel(point.channel, state), x, state)[0]

    def still_channel(self, channel: str, state: LinkState) -> Callable[[torch.Tensor], ChannelOutput]:
        """``send`` of :meth:`link` for a still point: ``channel`` at ``state``'s SNR and keys."""
        return lambda symbols: self.channels[channel].send(symbols, state.snr_db, state.keys)

    def _batch_rows(self, x: torch.Tensor, index: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor | None,
                    x_hat: torch.Tensor, tx: Transmission, received: ChannelOutput, **columns: Any) -> pd.DataFrame:
        """Result rows of one batch: ``columns`` first, then image, pilot and side-information
        columns, the metrics, the scheme's columns and the receiver's SNR estimate."""
        values = compute_metrics(self.scenario.metrics, x_hat, x, roi_mask=mask, labels=labels)
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
        frames, sets = [], self._set_metrics(task)
        for group in self.groups:
            n_images = len(group.index)
            k = channel_uses(tuple(group.pixels.shape[1:]), point.bandwidth_ratio)
            for start in range(0, n_images * trials, batch_size):
                # Batches run over the flattened (trial, image) index, so small datasets still fill them.
                flat = torch.arange(start, min(start + batch_size, n_images * trials))
                trial, local = flat // n_images, (flat % n_images).to(self.device)
                x, mask, labels = group.rows(local)
                index = group.index[local.cpu()]
                # A row's random numbers depend on (point seed, trial, image id) only, not on its batch.
                keys = RowKeys.of(task.seed, trial.tolist(), [self.images.ids[i] for i in index.tolist()])
                state = self.point_state(point, x, mask, keys, labels)
                x_hat, tx, received = self.link(scheme, self.still_channel(point.channel, state), x, state)
                frames.append(self._batch_rows(x, index, mask, labels, x_hat, tx, received,
                                               trial=trial.numpy(), channel_uses=k))
                sets.add(x_hat, x)
                progress(len(flat))
        rows = pd.concat(frames, ignore_index=True).assign(**sets.values())
        if len(self.groups) > 1:  # rows in (trial, image) order, as for one size
            rows = rows.sort_values(["trial", "image_index"], kind="stable", ignore_index=True)
        return self._coordinates(rows, point, channel_uses=rows.pop("channel_uses").to_numpy())

    def _set_metrics(self, task: PointTask) -> SetMetrics:
        """The collector of the point's set-level metrics (idle if the scenario asks for none)."""
        return SetMetrics([m for m in self.scenario.metrics if m in set_level_metrics()], task.seed)

    def _policy(self, point: SweepPoint, scheme: Scheme) -> RatePolicy:
        config = self.scenario.policy_config(point.policy)
        summary = None
        if isinstance(config, TargetQualityPolicyConfig) and config.table is None:
            summary = self.calibrations[calibration_key(self.scenario, point)]
        try:
            return build_policy(config, bandwidth_ratio=point.bandwidth_ratio or None, summary=summary,
                                supported_ratios=scheme.supported_ratios)
        except ValueError as exc:
            raise ScenarioError(f"rate_policy '{config.label}' with scheme '{point.scheme}': {exc}") from None

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
        batches, sets = [], self._set_metrics(task)
        for c, w in sorted({(int(c), float(w)) for c, w in zip(choice.tolist(), roi.tolist())}):
            ratio = policy.ratios[c]
            k = channel_uses(tuple(self.pixels.shape[1:]), ratio)
            for members in flat[(choice == c) & (roi == w)].split(scenario.monte_carlo.batch_size):
                index = members % len(self.images)
                on_device = members.to(self.device)
                x, mask, labels = self.groups[0].rows(index.to(self.device))
                keys = RowKeys.of(task.seed, (members // n_frames).tolist(), (members % n_frames).tolist())
                state = LinkState(snr_db=known[on_device], bandwidth_ratio=ratio, roi_weight=w, roi_mask=mask,
                                  bler_table=self.scenario.channel_config(point.channel).bler_table, keys=keys,
                                  labels=labels)
                trial, frame = members // n_frames, members % n_frames
                x_hat, tx, received = self.link(
                    scheme, lambda symbols: frames_channel.send(symbols, trial, frame, keys), x, state)
                batches.append(self._batch_rows(
                    x, index, mask, labels, x_hat, tx, received, trial=(members // n_frames).numpy(),
                    frame=(members % n_frames).numpy(), true_snr_db=true_flat[on_device].cpu().numpy(),
                    snr_estimate_db=estimate[on_device].cpu().numpy(), fed_back_snr_db=known[on_device].cpu().numpy(),
                    ratio=ratio, frame_roi_weight=w, channel_uses=k))
                sets.add(x_hat, x)
                progress(len(members))
        rows = pd.concat(batches, ignore_index=True).assign(**sets.values())
        rows = rows.sort_values(["trial", "frame"], ignore_index=True)
        return self._coordinates(rows, point)
