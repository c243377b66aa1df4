"""The digital baseline as a scheme: exact decodes when error-free, the cliff, MCS policies, bound."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from linksim.channels import AWGNChannel
from linksim.data import load_dataset
from linksim.digital import MCS_TABLE
from linksim.errors import LinksimError, ScenarioError
from linksim.randomness import seed_everything
from linksim.scenario import parse_scenario
from linksim.schemes import CapacityBound, DigitalConfig, DigitalScheme, LinkState
from linksim.schemes.digital import McsConfig, from_uint8, to_uint8
from linksim.sweep import run_sweep
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_dataset("skimage-samples", image_size=32, num_images=4, subset_seed=5).images


def _state(images: torch.Tensor, snr_db: float, ratio: float = 1 / 6) -> LinkState:
    return LinkState(snr_db=torch.full((len(images),), snr_db), bandwidth_ratio=ratio)


def _link(scheme, images, snr_db, ratio=1 / 6):
    seed_everything(3)
    state = _state(images, snr_db, ratio)
    tx = scheme.transmit(images, state)
    out = AWGNChannel()(tx.symbols, state.snr_db)
    return scheme.receive(out.y, out.noise_var, tx, state), tx


def _fixed(modulation: str, code_rate: float) -> DigitalScheme:
    return DigitalScheme(DigitalConfig(mcs=McsConfig(policy="fixed", modulation=modulation, code_rate=code_rate)))


def test_error_free_link_returns_exactly_the_codecs_own_decode(images):
    scheme = _fixed("16qam", 1 / 2)  # 1008 payload bits: every picture fits at a low quality
    x_hat, tx = _link(scheme, images, snr_db=30.0)
    assert tx.columns["decoded"].all()
    for i, encoded in enumerate(tx.side_info["encoded"]):
        assert torch.equal(x_hat[i], from_uint8(encoded.decoded[None], "cpu")[0])
        # the stream fills the budget of its MCS but no more
        assert 8 * len(encoded.payload) <= scheme.coder(scheme.entries[tx.side_info["mcs_index"][i]], 512).payload_bits
    assert tx.symbols.abs().pow(2).mean().item() == pytest.approx(1.0, abs=0.05)


def test_below_the_cliff_every_image_is_lost_and_replaced_by_mid_grey(images):
    scheme = _fixed("64qam", 3 / 4)
    x_hat, tx = _link(scheme, images, snr_db=-5.0)
    assert not tx.columns["decoded"].any()
    assert torch.equal(x_hat, torch.full_like(images, 0.5))  # the same whatever the other images are


def test_adaptive_mcs_climbs_with_the_fed_back_snr(images):
    scheme = DigitalScheme(DigitalConfig(mcs=McsConfig(policy="adaptive")))
    efficiency = [
        scheme.entries[int(scheme.select_mcs(_state(images, snr), 512)[0])].spectral_efficiency for snr in (0.0, 8.0, 16.0, 24.0)
    ]
    assert efficiency == sorted(efficiency) and efficiency[-1] > efficiency[0]


def test_capacity_bound_budget_is_k_log2_1_plus_snr_on_awgn(images):
    _, tx = _link(CapacityBound(), images, snr_db=10.0, ratio=1 / 12)
    expected = 256 * math.log2(1 + 10.0)
    # the channel's effective noise variance is N0 exactly, so the budget is deterministic
    assert torch.all((tx.columns["budget_bits"] - expected).abs() <= 1)
    assert torch.all(tx.columns["source_bits"] <= tx.columns["budget_bits"])


def test_oracle_keeps_the_best_mcs_per_point(tmp_path):
    data = small_scenario(
        tmp_path / "out",
        schemes=[{"type": "digital", "mcs": {"policy": "oracle"}},
                 {"name": "fixed", "type": "digital", "mcs": {"policy": "fixed", "modulation": "16qam", "code_rate": "1/2"}}],
        sweep={"snr_db": [12], "bandwidth_ratio": ["1/6"], "roi_weight": [0.0]},
        monte_carlo={"trials": 1, "batch_size": 8},
        metrics=["psnr"],
        output={"dir": str(tmp_path / "out"), "plots": ["psnr_vs_snr", "decoded_vs_snr"]},
    )
    result = run_sweep(parse_scenario(data), progress=False)
    oracle = result.rows[result.rows["scheme"] == "HEVC+LDPC (oracle MCS)"]
    fixed = result.rows[result.rows["scheme"] == "fixed"]
    assert oracle["hindsight_choice"].nunique() == 1
    assert oracle["psnr"].mean() >= fixed["psnr"].mean() - 1e-9
    rates = result.summary[result.summary["metric"] == "decoded"]
    assert set(rates["scheme"]) == {"HEVC+LDPC (oracle MCS)", "fixed"} and rates["mean"].between(0, 1).all()
    assert (tmp_path / "out" / "decoded_vs_snr.png").is_file()
    assert pd.api.types.is_bool_dtype(result.rows["decoded"]) or set(result.rows["decoded"].unique()) <= {0, 1}


@pytest.mark.parametrize(
    ("scheme", "message"),
    [
        ({"type": "digital", "mcs": {"policy": "fixed"}}, "needs mcs.index .* or mcs.modulation and mcs.code_rate"),
        ({"type": "digital", "mcs": {"policy": "fixed", "modulation": "16qam", "code_rate": 1.5}}, r"code_rate must be in \(0, 1\)"),
        ({"type": "digital", "mcs": {"policy": "fixed", "index": 28}}, "index"),
        ({"type": "digital", "mcs": {"table": "tdl-b"}}, "no BLER table 'tdl-b': accepted auto, awgn, tdl-a-ls"),
        ({"type": "digital", "source_codec": "png"}, "hevc"),
        ({"type": "digital", "mcs": {"policy": "sometimes"}}, "adaptive"),
    ],
)
def test_bad_digital_configs_give_one_line_errors(tmp_path, scheme, message):
    data = small_scenario(tmp_path, schemes=[scheme])
    with pytest.raises(Exception, match=message) as error:
        scenario = parse_scenario(data)
        DigitalScheme(scenario.schemes[0])
    assert "\n" not in str(error.value)


def test_uint8_roundtrip(images):
    pixels = to_uint8(images)
    assert pixels.shape == (4, 32, 32, 3) and torch.allclose(from_uint8(pixels, "cpu"), images, atol=0.5 / 255 + 1e-6)


def test_oracle_requires_psnr(tmp_path):
    data = small_scenario(tmp_path, schemes=[{"type": "digital", "mcs": {"policy": "oracle"}}], metrics=["ms_ssim"])
    with pytest.raises(ScenarioError, match="needs metrics psnr"):
        parse_scenario(data)


def test_bler_table_files_missing_mcs_or_out_of_order_are_refused_in_one_line(tmp_path, capsys, write_scenario):
    from linksim.cli import main
    from linksim.digital import bler_table

    shipped = bler_table("awgn").frame
    missing = tmp_path / "missing.csv"
    shipped[shipped["mcs"] != 5].to_csv(missing, index=False)
    swapped = tmp_path / "swapped.csv"  # MCS 6's curve 3 dB to the left: below MCS 5's
    shipped.assign(snr_db=shipped["snr_db"] - 3.0 * (shipped["mcs"] == 6)).to_csv(swapped, index=False)
    for path, message in [(missing, "no rows for MCS5"), (swapped, "thresholds not increasing: MCS6-16QAM-434/1024")]:
        with pytest.raises(LinksimError, match=f"mcs.table: {path}: channel 'awgn', 256 channel uses: {message}"):
            DigitalScheme(DigitalConfig(mcs=McsConfig(table=str(path))))
        data = small_scenario(tmp_path / path.stem, schemes=[{"type": "digital", "mcs": {"table": str(path)}}])
        assert main(["run", str(write_scenario(data, f"{path.stem}.yaml")), "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1


def test_adaptive_mcs_reads_the_calibration_of_the_points_channel(tmp_path):
    from linksim.digital import mcs_by_name

    channels = [{"type": "awgn"}, {"name": "tdl", "type": "ofdm", "model": "TDL-A", "channel_estimation": "lmmse"},
                {"type": "rayleigh"}]
    data = small_scenario(tmp_path / "out", schemes=[{"type": "digital"}], channel=channels,
                          sweep={"snr_db": [12], "bandwidth_ratio": ["1/6"], "roi_weight": [0.0]},
                          monte_carlo={"trials": 1, "batch_size": 8}, metrics=["psnr"])
    rows = run_sweep(parse_scenario(data), progress=False).rows
    tables = rows.groupby("channel")["mcs_table"].unique().map(list).to_dict()
    assert tables == {"awgn": ["awgn"], "tdl": ["tdl-a-lmmse"], "rayleigh": ["awgn"]}  # no Rayleigh table: AWGN's
    efficiency = rows.assign(se=[mcs_by_name(m).spectral_efficiency for m in rows["mcs"]]).groupby("channel")["se"].mean()
    assert efficiency["tdl"] < efficiency["awgn"] - 1.0  # fading needs a margin the AWGN table does not keep
