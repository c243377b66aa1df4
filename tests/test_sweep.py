"""The sweep runner end to end: outputs, determinism, resume after interruption or kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from linksim.results import POINT_COLUMNS
from linksim.scenario import parse_scenario
from linksim.evaluation import LocalExecutor
from linksim.sweep import replot, run_sweep
from tests.conftest import small_scenario


def test_run_writes_rows_summary_plots_and_manifest(tmp_path):
    scenario = parse_scenario(small_scenario(tmp_path / "out"))
    result = run_sweep(scenario, progress=False)
    out = tmp_path / "out"
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 4 * 6 * 2  # points x images x trials
    for column in POINT_COLUMNS + ["scheme_type", "channel_uses", "trial", "image_id", "psnr", "ms_ssim"]:
        assert column in rows.columns
    assert set(rows["channel_uses"]) == {256, 512}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 4 * 2 and (summary["count"] == 12).all()
    assert (summary["ci95_low"] < summary["mean"]).all() and (summary["mean"] < summary["ci95_high"]).all()
    psnr = rows.groupby(["bandwidth_ratio", "snr_db"])["psnr"].mean()
    assert psnr[1 / 12, 0.0] < psnr[1 / 12, 10.0] and psnr[1 / 12, 10.0] < psnr[1 / 6, 10.0]
    for name in ["psnr_vs_snr.png", "ms_ssim_vs_snr.png", "scenario.yaml", "manifest.json"]:
        assert (out / name).stat().st_size > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["points_computed"] == 4 and "torch" in manifest["packages"]
    assert result.computed_points == 4 and result.reused_points == 0
    assert [p.name for p in replot(out)] == ["psnr_vs_snr.png", "ms_ssim_vs_snr.png"]


def test_same_scenario_twice_gives_identical_rows(tmp_path):
    a = run_sweep(parse_scenario(small_scenario(tmp_path / "a")), progress=False).rows
    b = run_sweep(parse_scenario(small_scenario(tmp_path / "b")), progress=False).rows
    pd.testing.assert_frame_equal(a, b)


class _InterruptAfter(LocalExecutor):
    """Simulates Ctrl-C after ``n`` finished points."""

    def __init__(self, n: int) -> None:
        self.n = n

    def run(self, tasks, evaluate, progress):
        for i, item in enumerate(super().run(tasks, evaluate, progress)):
            if i == self.n:
                raise KeyboardInterrupt
            yield item


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    full = run_sweep(parse_scenario(small_scenario(tmp_path / "full")), progress=False).rows
    scenario = parse_scenario(small_scenario(tmp_path / "resumed"))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(scenario, progress=False, executor=_InterruptAfter(2))
    assert len(list((tmp_path / "resumed" / "points").glob("*.csv"))) == 2
    resumed = run_sweep(scenario, progress=False)
    assert (resumed.computed_points, resumed.reused_points) == (2, 2)
    pd.testing.assert_frame_equal(full, resumed.rows)
    fresh = run_sweep(scenario, progress=False, fresh=True)
    assert (fresh.computed_points, fresh.reused_points) == (4, 0)


def test_changed_settings_are_not_served_from_stale_points(tmp_path):
    scenario = parse_scenario(small_scenario(tmp_path / "out"))
    run_sweep(scenario, progress=False)
    changed = run_sweep(scenario.with_overrides(num_images=3), progress=False)
    assert changed.computed_points == 4 and len(changed.rows) == 4 * 3 * 2


def test_kill_9_loses_no_finished_point_and_leaves_no_partial_file(tmp_path, write_scenario):
    """A run killed with SIGKILL keeps complete point files only; resuming gives the full rows."""
    sweep = {"snr_db": {"start": -5, "stop": 20, "step": 0.25}, "bandwidth_ratio": ["1/12", "1/6"]}
    data = small_scenario(tmp_path / "killed", sweep=sweep)
    path = write_scenario(data)
    points = tmp_path / "killed" / "points"
    cmd = [sys.executable, "-m", "linksim", "run", str(path), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(points.glob("*.csv")):
            time.sleep(0.01)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = list(points.glob("*.csv"))
    assert 1 <= len(finished) < 202, "the run should have been killed part-way"
    for file in finished:
        rows = pd.read_csv(file)
        assert len(rows) == 6 * 2 and rows["psnr"].notna().all()
    subprocess.run(cmd, check=True, capture_output=True)
    resumed = pd.read_csv(tmp_path / "killed" / "rows.csv")
    data["output"]["dir"] = str(tmp_path / "straight")
    straight = run_sweep(parse_scenario(data), progress=False).rows
    pd.testing.assert_frame_equal(resumed, straight, check_dtype=False)


def _damages() -> dict[str, Callable[[bytes], bytes]]:
    """The ways a point file was found damaged in the wild (issue 16), as functions of its bytes."""
    def cut_rows(data: bytes) -> bytes:
        return b"".join(data.splitlines(keepends=True)[:5])

    def duplicate(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        return b"".join(lines + lines[1:4])

    return {"cut to 4 rows": cut_rows, "cut mid-line": lambda d: d[: len(d) // 2 + 7],
            "header only": lambda d: d.splitlines(keepends=True)[0], "replaced": lambda d: b"hello\n",
            "duplicated rows": duplicate, "0 bytes": lambda d: b"", "binary": lambda d: bytes(range(256)) * 3}


def test_damaged_point_files_are_recomputed_with_a_warning_never_reused(tmp_path, capsys):
    full = run_sweep(parse_scenario(small_scenario(tmp_path / "full")), progress=False).rows
    scenario = parse_scenario(small_scenario(tmp_path / "damaged"))
    run_sweep(scenario, progress=False)
    damages = _damages()
    for how, damage in damages.items():
        victim = sorted((tmp_path / "damaged" / "points").glob("*.csv"))[0]
        victim.write_bytes(damage(victim.read_bytes()))
        capsys.readouterr()
        resumed = run_sweep(scenario, progress=False)
        warning = capsys.readouterr().err
        assert (resumed.computed_points, resumed.reused_points) == (1, 3), how
        assert f"point {victim.name}: content differs from its checksum" in warning and warning.count("\n") == 1, how
        pd.testing.assert_frame_equal(full, resumed.rows)
    proof = sorted((tmp_path / "damaged" / "points").glob("*.json"))[0]
    proof.write_text("{")  # a damaged checksum file: the point cannot be verified either
    assert run_sweep(scenario, progress=False).computed_points == 1
    assert "unreadable checksum file" in capsys.readouterr().err
    proof.unlink()  # a point written by a run killed between its rows and its checksum
    assert run_sweep(scenario, progress=False).computed_points == 1
    assert "no checksum file; recomputing it" in capsys.readouterr().err


def test_output_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        run_sweep(parse_scenario(small_scenario(tmp_path / "out")), progress=False)
    finally:
        os.umask(old)
    for path in [tmp_path / "out" / "rows.csv", tmp_path / "out" / "manifest.json",
                 *sorted((tmp_path / "out" / "points").iterdir())]:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_a_second_run_into_a_locked_folder_is_refused_and_a_dead_runs_lock_taken_over(tmp_path, write_scenario):
    import socket

    from linksim.cli import main

    path = write_scenario(small_scenario(tmp_path / "out"))
    lock = tmp_path / "out" / ".lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{socket.gethostname()} {holder.pid}\n")
        for fresh in ([], ["--fresh"]):
            result = subprocess.run([sys.executable, "-m", "linksim", "run", str(path), "--no-progress", *fresh],
                                    capture_output=True, text=True)
            assert result.returncode == 2 and result.stderr.count("\n") == 1
            assert f"another linksim run (pid {holder.pid}) is writing here" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert main(["run", str(path), "--no-progress"]) == 0  # the holder is dead: its lock is taken over
    assert not lock.exists() and (tmp_path / "out" / "rows.csv").is_file()
