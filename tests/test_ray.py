"""The Ray executor: the local executor's rows, a killed worker replaced, errors naming the point."""

from __future__ import annotations

import json
import os
import signal

import pandas as pd
import pytest

from linksim.errors import LinksimError
from linksim.execution import ExecutionConfig, RayExecutor
from linksim.scenario import parse_scenario
from linksim.sweep import run_sweep
from tests.conftest import small_scenario

ray = pytest.importorskip("ray", reason='the Ray executor tests need Ray (pip install "linksim[ray]")')


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (the executor leaves a cluster it did not start running)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR", configure_logging=False)
    yield
    ray.shutdown()


def _scenario(out, **overrides):
    """Several schemes (a calibrated digital one among them) and enough points for two workers."""
    overrides.setdefault("schemes", [{"name": "softcast", "type": "softcast"},
                                     {"type": "digital", "mcs": {"policy": "adaptive"}},
                                     {"type": "capacity", "source_codec": "jpeg"}])
    return parse_scenario(small_scenario(out, **overrides))


def test_ray_rows_equal_the_local_executors(tmp_path, cluster):
    local = run_sweep(_scenario(tmp_path / "local"), progress=False)
    executor = RayExecutor(ExecutionConfig(executor="ray", workers=2))
    distributed = run_sweep(_scenario(tmp_path / "ray"), progress=False, executor=executor)
    pd.testing.assert_frame_equal(local.rows, distributed.rows)
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert [w["threads"] for w in manifest["execution"]["workers"]] == [1, 1]
    assert {w["device"] for w in manifest["execution"]["workers"]} == {"cpu"}
    assert len({w["pid"] for w in manifest["execution"]["workers"]}) == 2
    # either executor resumes the other's sweep: every point is reused
    again = run_sweep(_scenario(tmp_path / "ray"), progress=False)
    assert again.computed_points == 0 and again.reused_points == local.computed_points


class _KillingExecutor(RayExecutor):
    """Kills one worker's process (SIGKILL) as soon as the first point has come back."""

    def _schedule(self, *args, **kwargs):
        for done, item in enumerate(super()._schedule(*args, **kwargs)):
            if done == 0:
                os.kill(self.workers[0]["pid"], signal.SIGKILL)
            yield item


def test_a_killed_worker_costs_a_retry_not_a_result(tmp_path, cluster):
    local = run_sweep(_scenario(tmp_path / "local"), progress=False)
    executor = _KillingExecutor(ExecutionConfig(executor="ray", workers=2))
    survived = run_sweep(_scenario(tmp_path / "ray"), progress=False, executor=executor)
    pd.testing.assert_frame_equal(local.rows, survived.rows)


def test_a_workers_error_is_one_line_naming_the_point(tmp_path, cluster):
    scenario = _scenario(tmp_path / "ray", schemes=[{"type": "digital", "mcs": {"policy": "fixed", "index": 0}}],
                         sweep={"snr_db": [10], "bandwidth_ratio": ["1/192"], "roi_weight": [0.0]})
    with pytest.raises(LinksimError, match=r"^point scheme=.*bandwidth_ratio=0\.005208333333.*too few") as error:
        run_sweep(scenario, progress=False, executor=RayExecutor(ExecutionConfig(executor="ray", workers=1)))
    assert "\n" not in str(error.value)


def test_missing_ray_is_a_one_line_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(LinksimError, match=r'needs Ray: pip install "linksim\[ray\]"'):
        run_sweep(_scenario(tmp_path), progress=False, executor=RayExecutor(ExecutionConfig(executor="ray")))


def test_cli_executor_options_override_the_scenarios_execution_block(tmp_path, cluster, write_scenario):
    from linksim.cli import main

    data = small_scenario(tmp_path / "out", execution={"executor": "local", "workers": 3})
    assert main(["run", str(write_scenario(data)), "--no-progress", "--executor", "ray", "--workers", "1"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["execution"]["executor"] == "ray" and len(manifest["execution"]["workers"]) == 1
    assert manifest["execution"]["overhead_per_point_s"] < 1.0
    written = (tmp_path / "out" / "scenario.yaml").read_text()
    assert "executor: ray" in written and "workers: 1" in written
