"""Published reference points: the shipped sets, CSV validation, the scenario field, and the plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from linksim.errors import ScenarioError
from linksim.plots import metric_vs_snr_figure
from linksim.references import (
    COLUMNS,
    REFERENCES,
    read_reference,
    reference_label,
    scenario_references,
    short_citation,
)
from linksim.scenario import load_scenario, parse_scenario
from tests.conftest import small_scenario

WITT = "WITT (Yang et al., 2023), KeYang8/WITT plots, read by eye"
HEADER = ",".join(COLUMNS)


def _csv(tmp_path, *rows: str, header: str = HEADER, name: str = "refs.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(("name", "dataset", "schemes"), [
    ("witt-kodak-awgn", "kodak", {"DeepJSCC", "BPG+LDPC", "BPG+capacity"}),
    ("witt-cifar10-awgn", "cifar10", {"DeepJSCC", "WITT"}),
])
def test_shipped_sets_load_with_their_card(name, dataset, schemes):
    frame = read_reference(name)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["scheme"]) == schemes
    assert set(frame["dataset"]) == {dataset} and set(frame["channel"]) == {"awgn"} and set(frame["metric"]) == {"psnr"}
    assert np.allclose(frame["bandwidth_ratio"], 1 / 16)
    assert set(frame["citation"]) == {WITT}
    assert frame["value"].between(25, 40).all()  # PSNR in dB, not a fraction or a typo
    for scheme, curve in frame.groupby("scheme"):
        curve = curve.sort_values("snr_db")
        assert curve["snr_db"].is_unique and len(curve) >= 2, scheme
        assert (np.diff(curve["value"]) > 0).all(), f"{name}: {scheme} PSNR must rise with SNR"
    card = REFERENCES[name].with_suffix(".md").read_text()
    assert "read by eye" in card and "≈" in card


def test_witt_beats_deepjscc_on_cifar10_at_every_snr():
    frame = read_reference("witt-cifar10-awgn").pivot(index="snr_db", columns="scheme", values="value")
    assert list(frame.index) == [1, 4, 7, 10, 13]
    assert (frame["WITT"] > frame["DeepJSCC"]).all()


def test_a_path_to_a_csv_file_works_and_ratios_parse(tmp_path):
    path = _csv(tmp_path, f"kodak,awgn,1/16,1,psnr,28.2,A,\"{WITT}\"", "", "kodak, awgn ,0.125,4,lpips,0.3,B,paper")
    frame = read_reference(str(path))
    assert frame["bandwidth_ratio"].tolist() == [1 / 16, 0.125]
    assert frame["channel"].tolist() == ["awgn", "awgn"]  # stripped; the blank line is skipped
    assert frame["metric"].tolist() == ["psnr", "lpips"]


@pytest.mark.parametrize(("rows", "header", "expected"), [
    (["kodak,awgn,1/16,1,psnr,28.2,A"], "dataset,channel,bandwidth_ratio,snr_db,metric,value,scheme",
     r"refs\.csv: missing column citation \(expected: dataset, channel,"),
    (["kodak,awgn,1/16,1,psnr,28.2,A,c", "kodak,awgn,1/16,four,psnr,29,A,c"], HEADER,
     r"refs\.csv:3: snr_db: expected a number, got 'four'"),
    (["kodak,awgn,1/16,1,psnr,28 dB,A,c"], HEADER, r"refs\.csv:2: value: expected a number, got '28 dB'"),
    (["kodak,awgn,1/16,1,psnr,nan,A,c"], HEADER, r"refs\.csv:2: value: expected a finite number, got 'nan'"),
    (["kodak,awgn,1/16,1,PSNR_dB,28,A,c"], HEADER, r"refs\.csv:2: metric: unknown metric 'PSNR_dB' \(accepted: psnr, .*lpips.*\)$"),
    (["kodak,awgn,16,1,psnr,28,A,c"], HEADER, r"refs\.csv:2: bandwidth_ratio: bandwidth ratio must be in \(0, 1\], got '16'"),
    (["kodak,awgn,1/16,1,psnr,28,,c"], HEADER, r"refs\.csv:2: scheme: empty value$"),
    ([], HEADER, r"refs\.csv: no reference points"),
    (['kodak,awgn,1/16,1,psnr,28,A,"unclosed'], HEADER, r"refs\.csv: unreadable reference CSV"),
])
def test_bad_files_give_one_line_errors_naming_file_line_and_column(tmp_path, rows, header, expected):
    path = _csv(tmp_path, *rows, header=header)
    with pytest.raises(ScenarioError, match=expected) as info:
        read_reference(str(path))
    assert "\n" not in str(info.value)


def test_scenario_rejects_an_unknown_name_listing_the_shipped_ones(tmp_path, write_scenario):
    path = write_scenario(small_scenario(tmp_path, references=["witt-kodak-awgn", "witt-mnist"]))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:") and ": references: unknown reference set 'witt-mnist'" in message
    assert all(name in message for name in REFERENCES)


def test_scenario_rejects_a_broken_csv_naming_it(tmp_path, write_scenario, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths are relative to the current directory
    _csv(tmp_path, "kodak,awgn,1/16,1,psnr,28,A,c", "kodak,awgn,1/16,x,psnr,29,A,c", name="mine.csv")
    path = write_scenario(small_scenario(tmp_path, references=["mine.csv"]))
    with pytest.raises(ScenarioError, match=r": references: mine\.csv:3: snr_db: expected a number, got 'x'$") as info:
        load_scenario(path)
    assert "\n" not in str(info.value)
    _csv(tmp_path, "kodak,awgn,1/16,1,psnr,28,A,c", name="mine.csv")
    assert load_scenario(path).references == ["mine.csv"]


def test_references_do_not_change_point_keys_or_seeds(tmp_path):
    plain = parse_scenario(small_scenario(tmp_path))
    with_refs = parse_scenario(small_scenario(tmp_path, references=["witt-kodak-awgn", "witt-cifar10-awgn"]))
    assert with_refs.references == ["witt-kodak-awgn", "witt-cifar10-awgn"]
    assert [p.cache_key(plain) for p in plain.grid()] == [p.cache_key(with_refs) for p in with_refs.grid()]
    assert [p.seed(plain.seed) for p in plain.grid()] == [p.seed(with_refs.seed) for p in with_refs.grid()]


def test_scenario_references_keep_the_scenarios_channel_types(tmp_path):
    path = _csv(tmp_path, "kodak,awgn,1/16,1,psnr,28,A,c", "kodak,rayleigh,1/16,1,psnr,25,A,c")
    awgn = parse_scenario(small_scenario(tmp_path, references=[str(path)], channel={"name": "clean", "type": "awgn"}))
    assert scenario_references(awgn)["channel"].tolist() == ["awgn"]
    rayleigh = parse_scenario(small_scenario(tmp_path, references=[str(path)], channel={"type": "rayleigh"}))
    assert scenario_references(rayleigh)["value"].tolist() == [25]
    assert scenario_references(parse_scenario(small_scenario(tmp_path))) is None


def test_citation_short_form_and_label():
    assert short_citation(WITT) == "WITT (Yang et al., 2023)"
    assert short_citation("Bourtsoulatze et al. 2019") == "Bourtsoulatze et al. 2019"
    assert reference_label("DeepJSCC", WITT, "kodak") == "DeepJSCC (WITT (Yang et al., 2023), kodak)"


def _summary(ratios: list[float], metrics: tuple[str, ...] = ("psnr",)) -> pd.DataFrame:
    """A long-form summary of one scheme at SNR 1 and 13 dB (see results.summarize)."""
    rows = [{"scheme": "softcast", "channel": "awgn", "snr_db": snr, "bandwidth_ratio": ratio, "roi_weight": 0.0,
             "metric": metric, "mean": 25.0 + snr, "std": 1.0, "ci95_low": 24.0 + snr, "ci95_high": 26.0 + snr,
             "count": 6} for ratio in ratios for snr in (1.0, 13.0) for metric in metrics]
    return pd.DataFrame(rows)


def _reference_lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines() if line.get_linestyle() == "--"}


def test_plot_draws_references_in_the_panel_of_their_ratio_and_metric():
    refs = read_reference("witt-kodak-awgn")
    fig = metric_vs_snr_figure(_summary([1 / 16, 1 / 8], ("psnr", "ms_ssim")), "psnr", references=refs)
    sixteenth, eighth = fig.axes
    lines = _reference_lines(sixteenth)
    labels = {reference_label(s, WITT, "kodak") for s in ("DeepJSCC", "BPG+LDPC", "BPG+capacity")}
    assert set(lines) == labels
    deepjscc = lines["DeepJSCC (WITT (Yang et al., 2023), kodak)"]
    assert list(deepjscc.get_xdata()) == [1, 4, 7, 10, 13]
    assert list(deepjscc.get_ydata()) == [28.2, 29.5, 30.5, 31.5, 32.1]
    assert all(line.get_markerfacecolor() == "none" for line in lines.values())
    assert len({line.get_marker() for line in lines.values()}) == 3  # one marker per published curve
    assert _reference_lines(eighth) == {}  # no published points at 1/8
    # The legend sits on the last panel yet names the published curves drawn in the first.
    legend = {text.get_text() for text in eighth.get_legend().get_texts()}
    assert legend == labels | {"softcast"}
    # Another metric: nothing published, nothing drawn.
    ms_ssim = metric_vs_snr_figure(_summary([1 / 16], ("psnr", "ms_ssim")), "ms_ssim", references=refs)
    assert _reference_lines(ms_ssim.axes[0]) == {}


def test_replot_passes_the_scenarios_references_to_the_plots(tmp_path, monkeypatch):
    from linksim import plots
    from linksim.sweep import replot

    scenario = parse_scenario(small_scenario(tmp_path, references=["witt-kodak-awgn"], metrics=["psnr"],
                                             sweep={"snr_db": [1, 13], "bandwidth_ratio": ["1/16"]}))
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True)))
    _summary([1 / 16]).to_csv(tmp_path / "summary.csv", index=False)
    seen: list[pd.DataFrame | None] = []
    draw = plots.plot_metric_vs_snr

    def spy(*args, references=None, **kwargs):
        seen.append(references)
        draw(*args, references=references, **kwargs)

    monkeypatch.setattr(plots, "plot_metric_vs_snr", spy)
    assert replot(tmp_path) == [tmp_path / "psnr_vs_snr.png"]
    assert len(seen) == 1 and seen[0] is not None and len(seen[0]) == 12
    assert (tmp_path / "psnr_vs_snr.png").stat().st_size > 0


def test_list_names_the_shipped_reference_sets(capsys):
    from linksim.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "reference sets (references:" in out
    assert all(f"  {name}" in out for name in REFERENCES)
