"""Discrete-time link building blocks: correlated fading, SNR traces, feedback, rate policies."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import TypeAdapter, ValidationError
from scipy.special import j0

from linksim.errors import ScenarioError
from linksim.link import (
    FeedbackConfig,
    FeedbackPath,
    FixedPolicyConfig,
    GaussMarkovFading,
    LinkConfig,
    QualityTable,
    RatePolicyConfig,
    SnrTrace,
    TargetQualityPolicy,
    ThresholdPolicy,
    ThresholdPolicyConfig,
    build_policy,
    doppler_hz,
    frame_correlation,
    quantise_db,
)
from linksim.results import summarize
from linksim.schema import StrictModel

POLICY = TypeAdapter(RatePolicyConfig)


def first_error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str]:
    """Location and message of a validation error; the message must be one line."""
    error = exc.value.errors()[0]
    assert "\n" not in error["msg"]
    return error["loc"], error["msg"]


# -- fading -------------------------------------------------------------------------------------
def test_doppler_and_frame_correlation() -> None:
    assert doppler_hz(30.0, 3e9) == pytest.approx(30.0 * 3e9 / 299_792_458.0)
    assert frame_correlation(0.0, 1e-3) == 1.0
    assert frame_correlation(100.0, 1e-3, lag=2) == pytest.approx(j0(2 * math.pi * 100.0 * 2e-3))
    with pytest.raises(ValueError):
        doppler_hz(-1.0, 3e9)


def test_fading_autocorrelation_matches_jakes_at_lag_one_and_gauss_markov_beyond() -> None:
    """Lag 1 equals Jakes' J0(2 pi f_D T) within 4 standard errors; lags 2, 3 follow the
    Gauss-Markov model rho^k, which only approximates J0(2 pi f_D k T) (here visibly not equal)."""
    speed, carrier, frame = 10.0, 3.5e9, 2e-3  # f_D T ~ 0.23: rho ~ 0.49
    fading = GaussMarkovFading.from_speed(speed, carrier, frame)
    x = 2 * math.pi * doppler_hz(speed, carrier) * frame
    assert fading.rho == pytest.approx(j0(x))
    trials, frames = 20000, 4
    h = fading(trials, frames, torch.Generator().manual_seed(3)).to(torch.complex128)
    assert h.shape == (trials, frames)

    # Unit mean power in every frame: |h|^2 ~ Exp(1), standard error 1/sqrt(N).
    power = h.abs().square().mean(dim=0)
    assert torch.all((power - 1).abs() < 4 / math.sqrt(trials)), power

    for lag in (1, 2, 3):
        # Average the lag products within a trial, then over independent trials (honest SE).
        per_trial = (h[:, lag:] * h[:, :-lag].conj()).mean(dim=1)
        estimate = per_trial.mean()
        se_re = per_trial.real.std() / math.sqrt(trials)
        se_im = per_trial.imag.std() / math.sqrt(trials)
        assert abs(estimate.imag) < 4 * se_im  # circular symmetry
        assert abs(estimate.real - fading.autocorrelation(lag)) < 4 * se_re, (lag, estimate)
        if lag == 1:
            assert abs(estimate.real - j0(x)) < 4 * se_re  # exact match to Jakes at lag 1
        else:
            assert abs(estimate.real - j0(lag * x)) > 4 * se_re  # AR(1) is only an approximation


def test_fading_seeded_and_limits() -> None:
    fading = GaussMarkovFading(doppler=50.0, frame_duration_s=1e-3)
    a = fading(8, 5, torch.Generator().manual_seed(1))
    b = fading(8, 5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    static = GaussMarkovFading(doppler=0.0, frame_duration_s=1e-3)(8, 5, torch.Generator().manual_seed(1))
    assert torch.allclose(static, static[:, :1].expand(8, 5))  # speed 0: one gain per trial
    # rho = 0 exactly at J0's first zero: frames are independent draws (no nan from 0^negative).
    zero = GaussMarkovFading(doppler=2.404825557695773 / (2 * math.pi), frame_duration_s=1.0)
    assert abs(zero.rho) < 1e-12
    assert torch.isfinite(torch.view_as_real(zero(4, 6, torch.Generator().manual_seed(0)))).all()


# -- SNR traces ---------------------------------------------------------------------------------
def test_trace_from_list_cut_cycle_and_short() -> None:
    assert SnrTrace(values=[1, 2, 3, 4]).load(3).tolist() == [1.0, 2.0, 3.0]
    assert SnrTrace(values=[1, 2], cycle=True).load(5).tolist() == [1.0, 2.0, 1.0, 2.0, 1.0]
    with pytest.raises(ScenarioError, match="fewer than the 3 frames"):
        SnrTrace(values=[1, 2]).load(3)
    with pytest.raises(ValidationError) as exc:
        LinkConfig(frames=3, snr_trace={"values": [1, 2]})
    loc, msg = first_error(exc)
    assert "snr_trace.values" in msg
    with pytest.raises(ValidationError) as exc:
        SnrTrace(values=[1.0], csv="x.csv")
    assert "exactly one" in first_error(exc)[1]


def test_trace_from_csv_and_its_errors(tmp_path) -> None:
    (tmp_path / "walk.csv").write_text("time_s,snr_db\n0,3.5\n0.01,4\n0.02,-1.25\n")
    trace = SnrTrace(csv="walk.csv")
    values = trace.load(3, base_dir=tmp_path)
    assert values.dtype == torch.float32 and values.tolist() == [3.5, 4.0, -1.25]
    assert SnrTrace(csv=str(tmp_path / "walk.csv"), column="time_s").load(2).tolist() == pytest.approx([0, 0.01])

    def error(text: str | None, **fields) -> str:
        if text is not None:
            (tmp_path / "t.csv").write_text(text)
        with pytest.raises(ScenarioError) as exc:
            SnrTrace(csv=str(tmp_path / "t.csv"), **fields).load(2)
        assert "\n" not in str(exc.value)
        return str(exc.value)

    assert "does not exist" in error(None)
    assert "no column 'snr_db'" in error("snr\n1\n2\n") and "columns: snr" in error("snr\n1\n2\n")
    assert ":3: column 'snr_db' needs a finite number" in error("snr_db\n1\nhigh\n")
    assert "needs a finite number" in error("snr_db,x\n1,1\n,2\n")  # an empty cell
    assert "has no rows" in error("snr_db\n")


# -- feedback -----------------------------------------------------------------------------------
def test_quantisation_rounds_to_nearest_step_ties_up() -> None:
    x = torch.tensor([0.24, 0.25, 0.26, -0.26, -0.25, 1.74, 7.0])
    assert quantise_db(x, 0.5).tolist() == [0.0, 0.5, 0.5, -0.5, 0.0, 1.5, 7.0]
    assert torch.equal(quantise_db(x, 0.0), x)
    path = FeedbackPath(delay_frames=0, quantisation_db=2.0)
    assert path(torch.tensor([[0.9, 1.0, 2.9, -3.1]]), nominal_snr_db=0.0).tolist() == [[0.0, 2.0, 2.0, -4.0]]


def test_feedback_error_is_seeded_gaussian_then_quantised() -> None:
    estimates = torch.zeros(4000, 5)
    path = FeedbackPath(error_std_db=2.0, quantisation_db=0.25)
    a = path(estimates, 10.0, torch.Generator().manual_seed(5))
    assert torch.equal(a, path(estimates, 10.0, torch.Generator().manual_seed(5)))
    assert torch.equal(a, quantise_db(a, 0.25))  # reports are multiples of the step
    assert a.std().item() == pytest.approx(2.0, rel=0.05)


def test_feedback_delay_and_initial_value() -> None:
    estimates = torch.arange(12.0).reshape(2, 6)
    path = FeedbackPath(delay_frames=2)
    known = path(estimates, nominal_snr_db=torch.tensor([7.0, 8.0]))
    assert known.tolist() == [[7, 7, 0, 1, 2, 3], [8, 8, 6, 7, 8, 9]]
    assert FeedbackPath(delay_frames=2, initial_snr_db=-1.0)(estimates, 5.0)[:, :2].eq(-1.0).all()
    assert FeedbackPath(delay_frames=9)(estimates, 3.0).eq(3.0).all()  # no report arrives in time
    # Frame-by-frame use agrees with the vectorised path.
    messages, initial = path.messages(estimates), path.initial(2, torch.tensor([7.0, 8.0]))
    for t in range(6):
        assert torch.equal(path.known_at(t, messages[:, : max(t - 1, 0)], initial), known[:, t])
    with pytest.raises(ValueError, match="initial_snr_db"):
        path(estimates)


# -- threshold policy through the feedback path --------------------------------------------------
THRESHOLDS = [-2.5, 3.1, 9.75]
RATIOS = ["1/24", "1/12", "1/8"]


def table_lookup(snr: float) -> int:
    """Reference rule: the highest i with thresholds[i] <= snr, the first entry below them all."""
    return max(bisect.bisect_right(THRESHOLDS, snr) - 1, 0)


def random_snrs(batch: int, frames: int) -> torch.Tensor:
    snr = torch.empty(batch, frames).uniform_(-8, 16, generator=torch.Generator().manual_seed(11))
    snr[0, : len(THRESHOLDS)] = torch.tensor(THRESHOLDS)  # exactly at the thresholds too
    return snr


def test_threshold_policy_with_ideal_feedback_follows_the_table_exactly() -> None:
    config = POLICY.validate_python({"type": "threshold", "thresholds_db": THRESHOLDS, "ratios": RATIOS,
                                     "roi_weights": [0, 1, 2]})
    policy = build_policy(config, supported_ratios=[1 / 24, 1 / 12, 1 / 8, 1 / 6])
    snr = random_snrs(64, 12)
    known = LinkConfig(frames=12).feedback_path()(snr, nominal_snr_db=0.0)
    assert torch.equal(known, snr)  # delay 0, no error, no quantisation
    expected = torch.tensor([[table_lookup(s) for s in row] for row in snr.tolist()])
    assert torch.equal(policy.index(known), expected)
    ratios = torch.tensor([1 / 24, 1 / 12, 1 / 8], dtype=torch.float64)
    assert torch.equal(policy.choose(known), ratios[expected])
    assert torch.equal(policy.roi_weight(known), expected.float())
    assert policy.choose(torch.tensor([-100.0])).item() == 1 / 24  # below the first threshold
    assert policy.choose(torch.tensor([3.1], dtype=torch.float64)).item() == 1 / 12  # ties: >=


@pytest.mark.parametrize("delay", [1, 3])
def test_threshold_policy_with_delay_uses_the_snr_of_frame_t_minus_d(delay: int) -> None:
    policy = ThresholdPolicy(THRESHOLDS, RATIOS)
    snr = random_snrs(32, 10)
    known = FeedbackPath(delay_frames=delay, initial_snr_db=4.0)(snr)
    chosen = policy.choose(known)
    for t in range(10):
        source = [table_lookup(s) for s in snr[:, t - delay].tolist()] if t >= delay else [table_lookup(4.0)] * 32
        assert chosen[:, t].tolist() == [policy.ratios[i] for i in source], t


# -- bad tables -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "field", "text"),
    [
        ({"thresholds_db": [0, 5, 5], "ratios": [0.1, 0.2, 0.3]}, "thresholds_db", "strictly increasing"),
        ({"thresholds_db": [5, 0], "ratios": [0.1, 0.2]}, "thresholds_db", "strictly increasing"),
        ({"thresholds_db": [0, 5], "ratios": [0.1]}, "", "ratios: needs one ratio per threshold"),
        ({"thresholds_db": [0, 5], "ratios": [0.1, 0.2], "roi_weights": [1]}, "", "roi_weights: needs one"),
        ({"thresholds_db": [0], "ratios": ["3/2"]}, "ratios", "must be in (0, 1]"),
        ({"thresholds_db": [0], "ratios": [0.5], "extra": 1}, "", "unknown field 'extra'"),
    ],
)
def test_bad_threshold_tables_are_rejected_on_one_line(policy: dict, field: str, text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        POLICY.validate_python({"type": "threshold", **policy})
    loc, msg = first_error(exc)
    assert text in msg
    if field:
        assert field in loc


def test_unsupported_ratio_and_negative_delay_are_rejected_on_one_line() -> None:
    config = ThresholdPolicyConfig(thresholds_db=[0, 10], ratios=["1/12", "1/7"])
    with pytest.raises(ValueError) as exc:
        build_policy(config, supported_ratios=[1 / 12, 1 / 6])
    assert str(exc.value) == "ratios: ratio 1/7 is not supported by the scheme (supported: 1/12, 1/6)"
    with pytest.raises(ValueError, match="^bandwidth_ratio: ratio 1/7 is not"):
        build_policy(FixedPolicyConfig(), bandwidth_ratio=1 / 7, supported_ratios=[1 / 12])
    with pytest.raises(ValidationError) as exc:
        LinkConfig(frames=4, feedback={"delay_frames": -1})
    loc, msg = first_error(exc)
    assert loc == ("feedback", "delay_frames") and "greater than or equal to 0" in msg
    with pytest.raises(ValueError, match="^thresholds_db: must be strictly increasing"):
        ThresholdPolicy([1, 0], [0.1, 0.2])


def test_scenario_style_error_names_file_line_and_field(tmp_path) -> None:
    """Through linksim's YAML validation the error is ``file:line: rate_policy.thresholds_db: ...``."""
    from linksim.scenario import read_yaml, validate_yaml_data

    class Blocks(StrictModel):
        link: LinkConfig
        rate_policy: RatePolicyConfig

    path = tmp_path / "s.yaml"
    path.write_text("link: {frames: 4}\nrate_policy:\n  type: threshold\n"
                    "  thresholds_db: [5, 0]\n  ratios: [1/12, 1/6]\n")
    data, node = read_yaml(path, "scenario")
    with pytest.raises(ScenarioError) as exc:
        validate_yaml_data(Blocks, data, str(path), node, "scenario")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:4: rate_policy.thresholds_db: must be strictly increasing")


# -- target quality -------------------------------------------------------------------------------
TQ_RATIOS = [1 / 24, 1 / 12, 1 / 6]
TQ_SNRS = [0.0, 5.0, 10.0, 20.0]


def psnr_curve(snr: float, ratio: float) -> float:
    return 18.0 + 0.6 * snr + 60.0 * ratio  # increasing in SNR and in the ratio


def lpips_curve(snr: float, ratio: float) -> float:
    return 0.6 - 0.015 * snr - 1.2 * ratio


def synthetic_summary() -> pd.DataFrame:
    rows = []
    for ratio in TQ_RATIOS:
        snrs = TQ_SNRS if ratio != 1 / 12 else [0.0, 10.0, 20.0]  # one ratio lacks an SNR point
        for snr in snrs:
            for metric, curve in (("psnr", psnr_curve), ("lpips", lpips_curve)):
                # A kink at 10 dB so that interpolation (not a global line) is exercised.
                value = curve(snr, ratio) + (0.5 if snr == 10.0 and metric == "psnr" else 0.0)
                rows.append({"scheme": "deepjscc", "channel": "awgn", "snr_db": snr, "bandwidth_ratio": ratio,
                             "roi_weight": 0.0, "metric": metric, "mean": value})
            rows.append({"scheme": "other", "channel": "awgn", "snr_db": snr, "bandwidth_ratio": ratio,
                         "roi_weight": 0.0, "metric": "psnr", "mean": 0.0})
    return pd.DataFrame(rows)


def reference_choice(summary: pd.DataFrame, metric: str, target: float, snr: float) -> float:
    """Lowest ratio meeting the target by numpy interpolation on each ratio's own points."""
    rows = summary[(summary.scheme == "deepjscc") & (summary.metric == metric)]
    for ratio in TQ_RATIOS:
        curve = rows[rows.bandwidth_ratio == ratio].sort_values("snr_db")
        quality = np.interp(snr, curve.snr_db, curve["mean"])
        if (quality >= target) if metric == "psnr" else (quality <= target):
            return ratio
    return TQ_RATIOS[-1]


def test_quality_table_interpolates_each_ratio_and_clamps() -> None:
    summary = synthetic_summary()
    table = QualityTable.from_summary(summary, "psnr", scheme="deepjscc")
    assert table.ratios == TQ_RATIOS  # exact fractions, ascending
    snr = torch.tensor([-5.0, 0.0, 2.5, 7.5, 10.0, 15.0, 30.0])
    quality = table.quality(snr)
    assert quality.shape == (7, 3)
    rows = summary[(summary.scheme == "deepjscc") & (summary.metric == "psnr")]
    for r, ratio in enumerate(TQ_RATIOS):
        curve = rows[rows.bandwidth_ratio == ratio].sort_values("snr_db")
        expected = np.interp(snr.numpy(), curve.snr_db, curve["mean"])  # np.interp clamps too
        assert np.allclose(quality[:, r].numpy(), expected, atol=1e-12)
    with pytest.raises(ScenarioError, match="rate_policy.scheme: .*several"):
        QualityTable.from_summary(summary, "psnr")


@pytest.mark.parametrize(("metric", "target"), [("psnr", 26.0), ("lpips", 0.35)])
def test_target_quality_picks_the_lowest_adequate_ratio(metric: str, target: float) -> None:
    summary = synthetic_summary()
    config = POLICY.validate_python({"type": "target_quality", "metric": metric, "target": target,
                                     "scheme": "deepjscc"})
    policy = build_policy(config, summary=summary, supported_ratios=TQ_RATIOS)
    assert isinstance(policy, TargetQualityPolicy)
    snr = torch.linspace(-5, 25, 121).reshape(11, 11)
    chosen = policy.choose(snr)
    expected = [[reference_choice(summary, metric, target, s) for s in row] for row in snr.tolist()]
    assert chosen.tolist() == expected
    assert len(set(chosen.flatten().tolist())) == 3  # the sweep crosses every ratio's region
    # The direction matters: low SNR needs the highest ratio, high SNR the lowest.
    assert chosen[0, 0].item() == TQ_RATIOS[-1] and chosen[-1, -1].item() == TQ_RATIOS[0]


def test_target_quality_falls_back_to_the_highest_ratio() -> None:
    summary = synthetic_summary()
    table = QualityTable.from_summary(summary, "psnr", scheme="deepjscc")
    never = TargetQualityPolicy(table, target=99.0)
    assert never.choose(torch.tensor([0.0, 30.0])).tolist() == [1 / 6, 1 / 6]
    always = TargetQualityPolicy(table, target=0.0)
    assert always.choose(torch.tensor([0.0, 30.0])).tolist() == [1 / 24, 1 / 24]
    lpips = TargetQualityPolicy(QualityTable.from_summary(summary, "lpips", scheme="deepjscc"), target=-1.0)
    assert lpips.choose(torch.tensor([20.0])).tolist() == [1 / 6]  # LPIPS never <= -1
    with pytest.raises(ValueError, match=r"^table: ratio 1/24 is not supported"):
        never.validate([1 / 12, 1 / 6])


def test_target_quality_from_a_summary_csv(tmp_path) -> None:
    """A table from linksim's own summarize() output, read back from CSV (float round trip)."""
    rng = np.random.default_rng(0)
    rows = pd.DataFrame([
        {"scheme": "softcast", "channel": "awgn", "snr_db": snr, "bandwidth_ratio": ratio, "roi_weight": 0.0,
         "psnr": psnr_curve(snr, ratio) + noise}
        for ratio in TQ_RATIOS for snr in TQ_SNRS for noise in rng.normal(0, 0.1, 4)
    ])
    summary = summarize(rows, ["psnr"])
    (tmp_path / "cal").mkdir()
    summary.to_csv(tmp_path / "cal" / "summary.csv", index=False)
    config = POLICY.validate_python({"type": "target_quality", "target": 27.0, "table": "cal/summary.csv"})
    policy = build_policy(config, base_dir=tmp_path, supported_ratios=TQ_RATIOS)
    assert policy.ratios == TQ_RATIOS
    snr = torch.tensor([0.0, 5.0, 20.0])
    expected = [reference_choice(summary.assign(scheme="deepjscc"), "psnr", 27.0, s) for s in snr.tolist()]
    assert policy.choose(snr).tolist() == expected
    with pytest.raises(ScenarioError, match="rate_policy.metric: .* no 'lpips' rows"):
        build_policy(POLICY.validate_python({"type": "target_quality", "metric": "lpips", "target": 0.2,
                                             "table": str(tmp_path / "cal" / "summary.csv")}))
    with pytest.raises(ScenarioError, match="rate_policy.table: .* does not exist"):
        build_policy(POLICY.validate_python({"type": "target_quality", "target": 1.0, "table": "nope.csv"}),
                     base_dir=tmp_path)
    with pytest.raises(ValidationError) as exc:
        POLICY.validate_python({"type": "target_quality", "metric": "bleu", "target": 1.0})
    assert "unknown metric 'bleu'" in first_error(exc)[1]


def test_fixed_policy_and_feedback_config_defaults() -> None:
    policy = build_policy(POLICY.validate_python({"type": "fixed"}), bandwidth_ratio=1 / 12)
    assert policy.choose(torch.zeros(2, 3)).tolist() == [[1 / 12] * 3] * 2
    assert FeedbackConfig() == FeedbackConfig(delay_frames=0, quantisation_db=0.0, error_std_db=0.0)
    link = LinkConfig(frames=2)
    assert link.frame_correlation == pytest.approx(j0(2 * math.pi * link.doppler_hz * link.frame_duration))
