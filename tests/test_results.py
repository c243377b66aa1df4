"""Paired comparisons of schemes in a finished run (linksim.results.paired_comparison, linksim compare)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from linksim.cli import main
from linksim.results import paired_comparison


def _rows() -> pd.DataFrame:
    """Two schemes at two SNRs on 5 images; 'b' is 'a' minus a known per-image amount."""
    rng = np.random.default_rng(0)
    rows = []
    for snr in (0.0, 5.0):
        base = rng.uniform(0.2, 0.6, 5)  # a large spread across images
        shift = np.array([0.05, 0.04, 0.06, 0.05, 0.05])
        for scheme, values in (("a", base), ("b", base - shift)):
            for i, value in enumerate(values):
                rows.append({"scheme": scheme, "channel": "awgn", "snr_db": snr, "bandwidth_ratio": 1 / 16,
                             "roi_weight": 0.0, "trial": 0, "image_index": i, "lpips": value})
    return pd.DataFrame(rows).sample(frac=1, random_state=1)  # order must not matter


def test_paired_difference_and_its_ci_use_the_per_image_differences() -> None:
    table = paired_comparison(_rows(), "lpips", "a")
    assert list(table["scheme"].unique()) == ["b"] and len(table) == 2
    shift = np.array([0.05, 0.04, 0.06, 0.05, 0.05])
    half = stats.t.ppf(0.975, 4) * shift.std(ddof=1) / math.sqrt(5)
    for _, row in table.iterrows():
        assert row["difference"] == pytest.approx(-shift.mean())
        assert row["diff_ci95_high"] - row["diff_ci95_low"] == pytest.approx(2 * half)  # not the image spread
        assert row["relative"] == pytest.approx(row["mean"] / row["baseline_mean"] - 1)
        assert row["count"] == 5


def test_unknown_baseline_or_metric_is_a_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="no scheme 'c'.*schemes: "):
        paired_comparison(_rows(), "lpips", "c")
    with pytest.raises(ValueError, match="metric 'psnr'"):
        paired_comparison(_rows(), "psnr", "a")
    _rows().to_csv(tmp_path / "rows.csv", index=False)
    assert main(["compare", str(tmp_path), "--baseline", "c"]) == 2
    assert "no scheme 'c'" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), "--baseline", "a", "--out", str(tmp_path / "cmp.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "cmp.csv")) == 2
