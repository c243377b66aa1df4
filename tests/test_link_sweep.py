"""Time-varying links in a sweep: per-frame rows, feedback delay, rate policies, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from linksim.cli import main
from linksim.link import ThresholdPolicy
from linksim.link.schedule import true_snr
from linksim.scenario import parse_scenario
from linksim.sweep import run_sweep

from conftest import small_scenario

THRESHOLDS = [-100, 3, 8]
RATIOS = ["1/12", "1/8", "1/6"]


def link_scenario(out, **overrides) -> dict:
    data = small_scenario(
        out,
        channel={"type": "awgn", "snr_pilots": 0},  # no estimator: the receiver knows the frame SNR exactly
        schemes=[{"name": "deepjscc", "type": "deepjscc"}],
        sweep={"snr_db": [5], "bandwidth_ratio": ["1/12", "1/6"], "speed": [30.0], "delay_frames": [0, 2]},
        link={"frames": 12, "frame_duration": 0.01},
        rate_policy=[{"type": "fixed"},
                     {"name": "table", "type": "threshold", "thresholds_db": THRESHOLDS, "ratios": RATIOS}],
        monte_carlo={"trials": 3, "batch_size": 16},
        metrics=["psnr"],
    )
    data.update(overrides)
    return data


@pytest.fixture(scope="module")
def link_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("link")
    return run_sweep(parse_scenario(link_scenario(out)), progress=False)


def test_grid_has_fixed_ratios_and_one_adaptive_point_per_policy_speed_delay(link_run):
    points = link_run.rows.groupby(["policy", "bandwidth_ratio", "delay_frames"]).size()
    # fixed: 2 ratios x 2 delays; threshold: ratio 0 (chosen per frame) x 2 delays; 3 trials x 12 frames each
    assert sorted(points.index.tolist()) == [("fixed", 1 / 12, 0), ("fixed", 1 / 12, 2), ("fixed", 1 / 6, 0),
                                             ("fixed", 1 / 6, 2), ("table", 0.0, 0), ("table", 0.0, 2)]
    assert (points == 36).all()


def test_chosen_ratio_follows_the_table_at_the_fed_back_snr_of_frame_t_minus_d(link_run):
    policy = ThresholdPolicy(THRESHOLDS, RATIOS)
    rows = link_run.rows[link_run.rows["policy"] == "table"]
    for delay, group in rows.groupby("delay_frames"):
        group = group.sort_values(["trial", "frame"])
        expected = policy.choose(torch.tensor(group["fed_back_snr_db"].to_numpy())).numpy()
        assert (abs(group["ratio"].to_numpy() - expected) < 1e-12).all()
        # perfect estimation: what is fed back at frame t is the true SNR of frame t - d
        for _, trial in group.groupby("trial"):
            true, fed = trial["true_snr_db"].to_numpy(), trial["fed_back_snr_db"].to_numpy()
            assert fed[delay:] == pytest.approx(true[: len(true) - delay], abs=1e-4)
            assert fed[:delay] == pytest.approx([5.0] * delay)  # before any report: the nominal SNR
    zero_delay = rows[rows["delay_frames"] == 0]
    expected = policy.choose(torch.tensor(zero_delay["true_snr_db"].to_numpy())).numpy()
    assert (abs(zero_delay["ratio"].to_numpy() - expected) < 1e-12).all()
    assert set(zero_delay["ratio"].round(6)) == {round(1 / 12, 6), 0.125, round(1 / 6, 6)}  # the table is exercised


def test_rows_carry_channel_uses_of_the_chosen_ratio_and_the_summary_their_means(link_run):
    rows = link_run.rows
    assert ((rows["channel_uses"] - (rows["ratio"] * 3 * 32 * 32).round()).abs() < 1e-9).all()
    fixed = rows[rows["policy"] == "fixed"]
    assert (fixed["ratio"] == fixed["bandwidth_ratio"]).all()
    summary = link_run.summary
    assert {"policy", "speed", "delay_frames"} <= set(summary.columns)
    uses = summary[(summary["metric"] == "channel_uses") & (summary["policy"] == "table") & (summary["delay_frames"] == 0)]
    assert uses["mean"].item() == pytest.approx(rows[(rows["policy"] == "table") & (rows["delay_frames"] == 0)]["channel_uses"].mean())
    # savings.csv: one row per adaptive policy, delay and metric, on the same channel-use means
    savings = pd.read_csv(link_run.out_dir / "savings.csv")
    assert sorted(zip(savings["policy"], savings["delay_frames"], savings["metric"])) == [("table", 0, "psnr"), ("table", 2, "psnr")]
    assert savings.loc[savings["delay_frames"] == 0, "channel_uses"].item() == pytest.approx(uses["mean"].item())


def test_frames_of_a_trial_see_correlated_fading_and_points_are_reproducible(tmp_path, link_run):
    """Slow fading: consecutive frames' SNRs are much closer than independent draws would be."""
    snr = true_snr(2000, 2, 10.0, speed=1.0, carrier_frequency=3.5e9, frame_duration=1e-3)
    rho = torch.corrcoef(snr.T)[0, 1]
    assert rho > 0.9
    again = run_sweep(parse_scenario(link_scenario(tmp_path)), progress=False)
    pd.testing.assert_frame_equal(again.rows, link_run.rows)


@pytest.mark.parametrize("change, message", [
    ({"rate_policy": [{"type": "threshold", "thresholds_db": [0, 10, 5], "ratios": RATIOS}]}, "strictly increasing"),
    ({"sweep": {"snr_db": [5], "bandwidth_ratio": ["1/6"], "delay_frames": [-1]}}, "delay"),
    ({"link": None}, "needs a time-varying link"),
    ({"rate_policy": [{"type": "target_quality", "target": 25, "table": "t.csv", "calibration_channel": "link"}]},
     "calibration_channel applies"),
    ({"rate_policy": [{"type": "target_quality", "target": 25, "calibration_channel": "tdl"}]}, "calibration_channel"),
    ({"channel": {"type": "rayleigh"}}, "yaml:7: channel: channel 'rayleigh' cannot carry a time-varying link"),
    ({"rate_policy": [{"type": "threshold", "thresholds_db": [0, 5], "ratios": ["1/12", "1/6"], "roi_weights": [0, 1]}]},
     "need ROI masks"),
])
def test_bad_link_settings_are_one_line_exit_2(tmp_path, write_scenario, capsys, change, message):
    data = link_scenario(tmp_path / "out")
    data.update(change)
    if data.get("link") is None:
        data.pop("link")
    assert main(["validate", str(write_scenario(data))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_policy_ratio_the_checkpoint_cannot_send_is_one_line_exit_2(tmp_path, write_scenario, capsys):
    data = link_scenario(tmp_path / "out", rate_policy=[
        {"name": "odd", "type": "threshold", "thresholds_db": [0, 5], "ratios": ["1/12", "1/7"]}])
    assert main(["run", str(write_scenario(data)), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1/7" in err and "odd" in err


def test_target_quality_without_a_table_calibrates_itself_and_meets_the_target_when_it_can(tmp_path):
    """The policy runs a calibration sweep of the scheme, then picks per frame the lowest ratio
    whose calibrated PSNR at the fed-back SNR meets the target, else the highest ratio."""
    data = link_scenario(tmp_path, rate_policy=[{"name": "q", "type": "target_quality", "metric": "psnr", "target": 24.0,
                                                 "ratios": ["1/12", "1/6"], "calibration_snr_db": [-5, 5, 15],
                                                 "calibration_images": 4}])
    data["sweep"]["delay_frames"] = [0]
    result = run_sweep(parse_scenario(data), progress=False)
    calibration = pd.read_csv(tmp_path / "calibration" / "q" / "deepjscc" / "summary.csv")
    assert sorted(calibration["bandwidth_ratio"].round(6).unique()) == [round(1 / 12, 6), round(1 / 6, 6)]
    table = calibration[calibration["metric"] == "psnr"].pivot(index="snr_db", columns="bandwidth_ratio", values="mean")
    rows = result.rows
    low, high = table.columns.min(), table.columns.max()
    for _, row in rows.iterrows():
        expected_low = np.interp(row["fed_back_snr_db"], table.index, table[low])
        expected = low if expected_low >= 24.0 else high
        assert row["ratio"] == pytest.approx(expected)
    assert rows["ratio"].nunique() == 2  # both choices happen on this fading


def test_target_quality_can_calibrate_over_the_links_own_channel(tmp_path):
    """``calibration_channel: link``: the calibration runs the link itself (fixed ratios, no delay,
    another seed) and bins quality by the per-frame SNR estimate; the policy follows that table."""
    from linksim.link import QualityTable, TargetQualityPolicy
    from linksim.link.policies import binned_by_estimate

    grid = [-5, 0, 5, 10, 15]
    data = link_scenario(tmp_path, rate_policy=[{"name": "q", "type": "target_quality", "metric": "psnr", "target": 24.0,
                                                 "ratios": ["1/12", "1/6"], "calibration_snr_db": grid,
                                                 "calibration_images": 24, "calibration_channel": "link"}])
    data["sweep"]["delay_frames"] = [0]
    rows = run_sweep(parse_scenario(data), progress=False).rows
    folder = next((tmp_path / "calibration" / "q" / "deepjscc").iterdir())
    calibration = pd.read_csv(folder / "rows.csv")
    assert len(calibration) == 2 * len(grid) * 24 and (calibration["delay_frames"] == 0).all()
    assert not set(calibration["true_snr_db"].round(6)) & set(rows["true_snr_db"].round(6))  # other frames
    table = QualityTable.from_summary(binned_by_estimate(calibration, "psnr", grid, "test", min_frames=10), "psnr")
    expected = TargetQualityPolicy(table, 24.0).choose(torch.tensor(rows["fed_back_snr_db"].to_numpy())).numpy()
    assert (abs(rows["ratio"].to_numpy() - expected) < 1e-12).all()


def test_binned_by_estimate_keeps_bins_with_enough_frames_at_every_ratio():
    from linksim.errors import ScenarioError
    from linksim.link.policies import binned_by_estimate

    rows = pd.DataFrame({"scheme": "s", "bandwidth_ratio": [0.1] * 6 + [0.2] * 5,
                         "snr_estimate_db": [-0.4, 0.2, 2.4, 2.6, 4.9, 9.0, 0.0, 0.1, 2.6, 3.0, 4.0],
                         "psnr": [10, 12, 20, 22, 30, 99, 15, 17, 25, 26, 35]})
    table = binned_by_estimate(rows, "psnr", [0, 5], "test", min_frames=2)  # edges -2.5 | 2.5 | 7.5
    assert table[["snr_db", "bandwidth_ratio", "mean", "count"]].to_numpy().ravel() == pytest.approx([
        0, 0.1, 14.0, 3, 0, 0.2, 16.0, 2, 5, 0.1, 26.0, 2, 5, 0.2, 86 / 3, 3])  # 9.0 dB: outside, dropped
    with pytest.raises(ScenarioError, match="no SNR bin has 4 frames"):
        binned_by_estimate(rows, "psnr", [0, 5], "test", min_frames=4)


def test_ofdm_frames_evolve_with_the_doppler_of_the_speed():
    """Each trial's TDL realisation is continuous across frames: the path-gain correlation one
    frame apart follows Jakes' J0(2 pi f_D T_frame) (Sionna's sum-of-sinusoids model), and the
    frames' responses are slices of that one realisation at the right symbol times."""
    from scipy.special import j0

    from linksim.channels.ofdm import OFDMChannel, OFDMConfig
    from linksim.link import doppler_hz
    from linksim.link.schedule import OFDMFrames

    torch.manual_seed(0)
    channel = OFDMChannel(OFDMConfig(model="TDL-A", channel_estimation="perfect"))
    speed, duration = 20.0, 2e-3
    frames = OFDMFrames(channel, trials=1500, frames=2, nominal_snr_db=10.0, speed=speed, frame_duration=duration,
                        max_symbols=512)
    a = frames.a[:, 0, 0, 0, 0, 0]  # first tap [T, time]
    lag = frames.spacing
    rho = (a[:, lag] * a[:, 0].conj()).mean() / a[:, 0].abs().square().mean()
    expected = j0(2 * torch.pi * doppler_hz(speed, 3.5e9) * lag / channel.symbol_rate)
    assert abs(rho.real.item() - expected) < 4 / 1500 ** 0.5, (rho, expected)
    # frame 1's first slot is the realisation at symbols [lag, lag + 14)
    h = frames.responses(torch.tensor([3]), torch.tensor([1]), 1)
    direct = channel.slot_responses(frames.a[3:4, ..., lag:lag + 14], frames.tau[3:4])
    assert torch.allclose(h, direct)


def test_link_sweep_over_an_evolving_tdl_channel(tmp_path):
    data = link_scenario(tmp_path, channel={"type": "ofdm", "model": "TDL-A", "channel_estimation": "perfect"})
    data["sweep"] = {"snr_db": [5], "bandwidth_ratio": ["1/6"], "speed": [1.0, 60.0], "delay_frames": [0]}
    data["rate_policy"] = [{"name": "table", "type": "threshold", "thresholds_db": THRESHOLDS, "ratios": RATIOS}]
    data["link"] = {"frames": 12, "frame_duration": 0.002}
    rows = run_sweep(parse_scenario(data), progress=False).rows
    policy = ThresholdPolicy(THRESHOLDS, RATIOS)
    # perfect CSI: the fed-back SNR is the frame's true SNR, and the table is followed exactly
    assert rows["fed_back_snr_db"].to_numpy() == pytest.approx(rows["true_snr_db"].to_numpy(), abs=0.05)
    assert (abs(rows["ratio"] - policy.choose(torch.tensor(rows["fed_back_snr_db"].to_numpy())).numpy()) < 1e-12).all()
    # slow terminals see slowly varying frames, fast ones fast-varying frames
    step = {s: g.sort_values(["trial", "frame"]).groupby("trial")["true_snr_db"].diff().abs().mean()
            for s, g in rows.groupby("speed")}
    assert step[1.0] < step[60.0]


def test_frames_longer_than_the_frame_duration_are_refused(tmp_path, write_scenario, capsys):
    data = link_scenario(tmp_path / "out", channel={"type": "ofdm", "model": "TDL-A"})
    data["link"] = {"frames": 4, "frame_duration": 0.0002}
    assert main(["run", str(write_scenario(data)), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "frame_duration" in err
