"""Where a sweep's points run: in this process, or on a Ray cluster.

A sweep is a list of independent :class:`~linksim.evaluation.PointTask` s, each seeded by its own
coordinates only, so they can run anywhere in any order. :func:`build_executor` turns the
scenario's ``execution:`` block (or the CLI's ``--executor`` options, which override it) into an
:class:`~linksim.evaluation.Executor`:

- ``local`` (default): :class:`~linksim.evaluation.LocalExecutor`, point after point in this process.
- ``ray``: :class:`RayExecutor`. One Ray actor per worker builds its own
  :class:`~linksim.evaluation.PointEvaluator` (data, models and channels loaded once per worker),
  points are its tasks, and the driver writes each finished point exactly as the local executor
  does, so resume, ``--fresh`` and the cache keys are unchanged and either executor can resume
  the other's sweep. A worker that dies is restarted by Ray and its point re-run (actors are
  created with ``max_restarts`` and ``max_task_retries``); a point's exception reaches the
  driver as itself, a :class:`~linksim.errors.LinksimError` naming the point.

Ray is an optional dependency (``pip install "linksim[ray]"``), imported only here and only when
used. Without ``address`` a local Ray cluster is started for the sweep and shut down after it;
with ``address: auto`` (or ``HOST:PORT``) the sweep joins a running cluster (``ray start``), on
whose nodes the scenario's relative paths must resolve from the same working directory.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd

from linksim.errors import LinksimError
from linksim.evaluation import Executor, LocalExecutor, PointEvaluator, PointTask, ProgressCallback
from linksim.randomness import resolve_device
from linksim.scenario import ExecutionConfig, Scenario, parse_scenario


def build_executor(config: ExecutionConfig) -> Executor:
    """The executor ``config`` names."""
    if config.executor == "ray":
        return RayExecutor(config)
    return LocalExecutor()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise LinksimError('the ray executor needs Ray: pip install "linksim[ray]"') from None
    return ray


class _ProgressCounter:
    """A Ray actor counting the images workers report, for the driver's one progress bar."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, images: int) -> None:
        self.count += images

    def take(self) -> int:
        images, self.count = self.count, 0
        return images


class _PointWorker:
    """A Ray actor's state: one :class:`~linksim.evaluation.PointEvaluator`, built once."""

    def __init__(self, scenario_json: str, calibrations: dict, threads: int, cwd: str, progress: str) -> None:
        import torch

        if os.path.isdir(cwd):  # the scenario's relative paths are the driver's
            os.chdir(cwd)
        torch.set_num_threads(threads)
        # Sent as JSON, small enough to travel inline: a restarted actor needs no object-store copy.
        scenario = parse_scenario(json.loads(scenario_json), source="the sweep's driver")
        self.device = resolve_device(scenario.device)
        self.threads = threads
        # Found by name, not passed as a handle: a restarted actor must not depend on an argument
        # held in the object store (Ray warns about exactly that).
        import ray

        self.progress = ray.get_actor(progress)
        self.evaluator = PointEvaluator(scenario, self.device, calibrations)

    def describe(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": self.device, "threads": self.threads}

    def evaluate(self, task: PointTask) -> tuple[pd.DataFrame, float]:
        """The point's rows and the seconds spent evaluating them (to measure the overhead)."""
        started = time.perf_counter()
        rows = self.evaluator(task, self.progress.add.remote)
        return rows, time.perf_counter() - started


class RayExecutor:
    """Runs points as tasks of a pool of Ray actors (see the module docs).

    Attributes after :meth:`run`: ``workers`` (what each actor reported: host, pid, device,
    threads), ``startup_s`` (cluster start and actor construction), ``overhead_s`` (per finished
    point, driver wall time between submission and result minus the worker's evaluation time).
    """

    def __init__(self, config: ExecutionConfig) -> None:
        self.config = config
        self.workers: list[dict[str, Any]] = []
        self.startup_s = 0.0
        self.overhead_s: list[float] = []

    def describe(self) -> dict[str, Any]:
        """What ``manifest.json`` records about the execution."""
        return {"executor": "ray", "address": self.config.address, "workers": self.workers,
                "startup_s": round(self.startup_s, 3),
                "overhead_per_point_s": round(sum(self.overhead_s) / len(self.overhead_s), 4) if self.overhead_s else None}

    def _worker_count(self, ray: Any) -> int:
        if self.config.workers is not None:
            return self.config.workers
        resources = ray.cluster_resources()
        count = int(resources.get("CPU", 1) // self.config.threads_per_worker)
        if self.config.gpus_per_worker > 0:
            count = min(count, int(resources.get("GPU", 0) // self.config.gpus_per_worker))
        return max(1, count)

    def run(
        self,
        tasks: Sequence[PointTask],
        evaluate: Callable[[PointTask, ProgressCallback], pd.DataFrame],
        progress: ProgressCallback,
    ) -> Iterator[tuple[PointTask, pd.DataFrame]]:
        scenario: Scenario = getattr(evaluate, "scenario")  # noqa: B009 - a PointEvaluator
        calibrations = getattr(evaluate, "calibrations", {})  # computed by the driver before the points
        ray = _import_ray()

        started = time.perf_counter()
        owns_cluster = not ray.is_initialized()
        if owns_cluster:
            ray.init(address=self.config.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=False)
        try:
            counter_name = f"linksim-progress-{uuid.uuid4().hex}"
            counter = ray.remote(_ProgressCounter).options(name=counter_name, num_cpus=0).remote()
            options = {"num_cpus": self.config.threads_per_worker, "num_gpus": self.config.gpus_per_worker,
                       "max_restarts": -1, "max_task_retries": -1}
            actor = ray.remote(_PointWorker).options(**options)
            scenario_json = scenario.model_dump_json(exclude_none=True)
            pool = [actor.remote(scenario_json, calibrations, self.config.threads_per_worker, os.getcwd(), counter_name)
                    for _ in range(min(self._worker_count(ray), len(tasks)))]
            self.workers = ray.get([w.describe.remote() for w in pool])
            self.startup_s = time.perf_counter() - started
            yield from self._schedule(ray, pool, list(tasks), counter, progress)
        finally:
            if owns_cluster:
                ray.shutdown()

    def _schedule(self, ray: Any, pool: list[Any], pending: list[PointTask], counter: Any,
                  progress: ProgressCallback) -> Iterator[tuple[PointTask, pd.DataFrame]]:
        """Keep every actor busy with one point; yield points as they finish."""
        in_flight: dict[Any, tuple[PointTask, Any, float]] = {}

        def submit(worker: Any) -> None:
            if pending:
                task = pending.pop(0)
                in_flight[worker.evaluate.remote(task)] = (task, worker, time.perf_counter())

        for worker in pool:
            submit(worker)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.2)
            progress(ray.get(counter.take.remote()))
            for ref in ready:
                task, worker, submitted = in_flight.pop(ref)
                try:
                    rows, seconds = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause
                    if isinstance(cause, LinksimError):
                        raise type(cause)(f"point {task.point.key}: {cause}") from None
                    raise cause from None
                except ray.exceptions.RayActorError as exc:  # restarts exhausted, or the node is gone
                    raise LinksimError(f"point {task.point.key}: its Ray worker died and could not be "
                                       f"restarted ({type(exc).__name__})") from None
                self.overhead_s.append(time.perf_counter() - submitted - seconds)
                submit(worker)
                yield task, rows
