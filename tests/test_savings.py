"""Channel uses saved at equal quality: interpolation on the fixed-ratio curve and the trial bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from linksim.link.savings import COLUMNS, equal_quality_savings

SETTING = {"scheme": "s", "channel": "c", "snr_db": 6.0, "roi_weight": 0.0, "speed": 1.4, "delay_frames": 0}


def frames(policy: str, ratio: float, uses: list[float], psnr: list[float], lpips: list[float], trials: int = 4) -> pd.DataFrame:
    """Per-frame rows: the same frame values in every trial (a setting without noise)."""
    n = len(uses)
    return pd.DataFrame({**SETTING, "policy": policy, "bandwidth_ratio": ratio, "trial": np.repeat(np.arange(trials), n),
                         "channel_uses": np.tile(uses, trials), "psnr": np.tile(psnr, trials),
                         "lpips": np.tile(lpips, trials)})


def test_saving_is_read_off_the_fixed_curve_by_linear_interpolation_for_either_direction():
    rows = pd.concat([
        frames("fixed", 0.1, [100, 100], [20, 20], [0.10, 0.10]),
        frames("fixed", 0.2, [200, 200], [30, 30], [0.04, 0.04]),
        frames("fixed", 0.3, [300, 300], [32, 32], [0.03, 0.03]),
        # mean 120 uses for mean PSNR 25 (fixed needs 150) and mean LPIPS 0.04 (fixed needs 200)
        frames("table", 0.0, [80, 160], [22, 28], [0.05, 0.03]),
        frames("far", 0.0, [100, 100], [40, 40], [0.2, 0.2]),  # beyond the fixed curve: undefined
    ])
    table = equal_quality_savings(rows, ["psnr", "lpips"], bootstrap=200)
    assert list(table.columns) == COLUMNS
    table = table.set_index(["policy", "metric"])
    assert table.loc[("table", "psnr"), "fixed_channel_uses"] == pytest.approx(150)
    assert table.loc[("table", "psnr"), "saving"] == pytest.approx(1 - 120 / 150)
    assert table.loc[("table", "lpips"), "saving"] == pytest.approx(1 - 120 / 200)
    # identical trials: every bootstrap replicate is the same, so the interval collapses
    assert table.loc[("table", "psnr"), ["saving_ci95_low", "saving_ci95_high"]].tolist() == pytest.approx([0.2, 0.2])
    assert np.isnan(table.loc[("far", "psnr"), "saving"]) and np.isnan(table.loc[("far", "lpips"), "saving_ci95_low"])


def paired_rows(rng: np.random.Generator, trials: int = 16, frames_per_trial: int = 8) -> pd.DataFrame:
    """Fixed ratios (100 and 200 uses: 20 and 30 dB) and a policy (120 uses, 25 dB: saving 0.2),
    with a fade per trial shared by all three (1 dB) and independent frame noise (0.3 dB)."""
    parts = []
    for trial in range(trials):
        offset = rng.normal(0, 1.0)
        for policy, ratio, uses, q in [("fixed", 0.1, 100, 20), ("fixed", 0.2, 200, 30), ("table", 0.0, 120, 25)]:
            psnr = q + offset + rng.normal(0, 0.3, frames_per_trial)
            parts.append(frames(policy, ratio, [uses] * frames_per_trial, list(psnr), [0.1] * frames_per_trial,
                                trials=1).assign(trial=trial))
    return pd.concat(parts)


def test_bootstrap_interval_is_reproducible_and_covers_the_true_saving():
    rows = paired_rows(np.random.default_rng(0))
    first, again = (equal_quality_savings(rows, ["psnr"], bootstrap=500, seed=3) for _ in range(2))
    pd.testing.assert_frame_equal(first, again)
    # Coverage over independent data sets: a 95% interval holds the true saving (0.2) ~95% of the time.
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(60):
        low, high = equal_quality_savings(paired_rows(rng), ["psnr"], bootstrap=400).loc[0, ["saving_ci95_low", "saving_ci95_high"]]
        covered.append(low <= 0.2 <= high)
        # pairing: the shared 1 dB trial fades cancel; unpaired, the interval would be ~10x wider
        assert high - low < 0.03
    assert np.mean(covered) >= 0.8  # percentile intervals over 16 trials run a little narrow (88% here)


def test_no_table_without_both_fixed_ratios_and_an_adaptive_policy():
    fixed_only = pd.concat([frames("fixed", 0.1, [100], [20], [0.1]), frames("fixed", 0.2, [200], [30], [0.05])])
    assert equal_quality_savings(fixed_only, ["psnr"]).empty
