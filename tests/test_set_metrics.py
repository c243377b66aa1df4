"""Set-level metrics (fd_alex, kid_alex): the statistics against their textbook forms, and their
path through a sweep into the summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from conftest import small_scenario
from linksim.scenario import load_scenario
from linksim.set_metrics import frechet_distance, kernel_distance
from linksim.sweep import run_sweep


def _textbook_fd(x: np.ndarray, y: np.ndarray) -> float:
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = linalg.sqrtm(sx @ sy).real
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(sx + sy - 2 * root))


def test_frechet_distance_matches_the_matrix_square_root_form() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = 0.5 * torch.randn(200, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64) + 1
    assert frechet_distance(x, y).item() == pytest.approx(_textbook_fd(x.numpy(), y.numpy()), rel=1e-6)
    # fewer samples than dimensions: the nuclear-norm form still equals it
    few_x, few_y = x[:4], y[:4]
    assert frechet_distance(few_x, few_y).item() == pytest.approx(_textbook_fd(few_x.numpy(), few_y.numpy()), rel=1e-5, abs=1e-6)
    assert frechet_distance(x, x).item() == pytest.approx(0.0, abs=1e-9)


def test_kernel_distance_is_unbiased_for_one_distribution_and_positive_for_two() -> None:
    g = torch.Generator().manual_seed(1)
    same = [kernel_distance(torch.randn(20, 8, generator=g, dtype=torch.float64),
                            torch.randn(20, 8, generator=g, dtype=torch.float64)).item() for _ in range(400)]
    shifted = kernel_distance(torch.randn(20, 8, generator=g, dtype=torch.float64),
                              torch.randn(20, 8, generator=g, dtype=torch.float64) + 0.7).item()
    spread = np.std(same) / np.sqrt(len(same))
    assert abs(np.mean(same)) < 4 * spread  # unbiased: no sign of an offset
    assert shifted > 10 * np.std(same)
    x = torch.randn(6, 8, generator=g, dtype=torch.float64)
    assert kernel_distance(x, x).item() == 0.0
    y = x + 0.1
    assert kernel_distance(x, y, torch.arange(6)).item() == pytest.approx(kernel_distance(x, y).item())


def test_set_level_metrics_reach_the_summary_with_their_own_ci(tmp_path: Path, write_scenario) -> None:
    base = dict(metrics=["psnr", "fd_alex", "kid_alex"], sweep={"snr_db": [0, 20], "bandwidth_ratio": ["1/6"]},
                monte_carlo={"trials": 1, "batch_size": 4})
    result = run_sweep(load_scenario(write_scenario(small_scenario(tmp_path / "a", **base))), progress=False)
    s = result.summary.set_index(["metric", "snr_db"])
    for metric in ("fd_alex", "kid_alex"):
        low, high = s.loc[(metric, 0.0)], s.loc[(metric, 20.0)]
        assert high["mean"] < low["mean"]  # closer to the originals at 20 dB
        assert np.isnan(low["std"]) and low["count"] == 6
        assert low["ci95_low"] <= low["mean"] <= low["ci95_high"]
    # one value per point on every row, independent of the batch size
    other = dict(base, monte_carlo={"trials": 1, "batch_size": 6})
    again = run_sweep(load_scenario(write_scenario(small_scenario(tmp_path / "b", **other), "b.yaml")), progress=False)
    columns = ["fd_alex", "fd_alex_ci95_low", "kid_alex_ci95_high"]
    assert np.allclose(result.rows[columns].to_numpy(), again.rows[columns].to_numpy(), rtol=1e-9)
    assert result.rows.groupby("snr_db")["fd_alex"].nunique().eq(1).all()
