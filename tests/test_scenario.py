"""Scenario schema: valid files, grid expansion, seeds, and one-line errors for bad input."""

from __future__ import annotations

import pytest
import yaml

from linksim.errors import ScenarioError
from linksim.scenario import load_scenario, parse_scenario
from tests.conftest import small_scenario


def test_quickstart_is_valid_and_grid_is_cartesian():
    scenario = load_scenario("scenarios/quickstart.yaml")
    grid = scenario.grid()
    assert len(grid) == 1 * 6 * 2 * 1
    assert {p.bandwidth_ratio for p in grid} == {1 / 12, 1 / 6}
    assert len({p.key for p in grid}) == len(grid)


def test_snr_range_and_fraction_strings(tmp_path):
    data = small_scenario(tmp_path, sweep={"snr_db": {"start": -5, "stop": 20, "step": 5},
                                           "bandwidth_ratio": ["1/12", 0.25, "1"]})
    scenario = parse_scenario(data)
    assert scenario.sweep.snr_db == [-5, 0, 5, 10, 15, 20]
    assert scenario.sweep.bandwidth_ratio == [1 / 12, 0.25, 1.0]
    assert scenario.sweep.roi_weight == [0.0]


def test_point_seed_depends_only_on_scenario_seed_and_coordinates(tmp_path):
    a = parse_scenario(small_scenario(tmp_path))
    reordered = small_scenario(tmp_path, sweep={"snr_db": [10, 0, 5], "bandwidth_ratio": ["1/6", "1/12"]})
    b = parse_scenario(reordered)
    seeds_a = {p.key: p.seed(a.seed) for p in a.grid()}
    seeds_b = {p.key: p.seed(b.seed) for p in b.grid()}
    for key, seed in seeds_a.items():
        assert seeds_b[key] == seed
    assert len(set(seeds_a.values())) == len(seeds_a)
    other = parse_scenario(small_scenario(tmp_path, seed=8))
    assert all(p.seed(other.seed) != seeds_a[p.key] for p in other.grid())


def test_cache_key_changes_with_inputs_that_change_rows(tmp_path):
    a = parse_scenario(small_scenario(tmp_path))
    b = a.with_overrides(num_images=5)
    point = a.grid()[0]
    assert point.cache_key(a) != point.cache_key(b)
    assert point.cache_key(a) == point.cache_key(a.with_overrides(out=str(tmp_path / "elsewhere")))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "red"}, r":2: colour: unknown field 'colour' \(accepted: channel, dataset, device,"),
        ({"seed": "abc"}, r": seed: Input should be a valid integer"),
        ({"schemes": [{"type": "telepathy"}]}, r": schemes\[0\]\.type: unknown type 'telepathy' \(accepted: 'softcast', 'deepjscc'"),
        ({"channel": {"type": "wormhole"}}, r": channel\.type: unknown type 'wormhole' \(accepted: 'awgn'"),
        ({"dataset": {"name": "mnist"}}, r": dataset\.name: unknown dataset 'mnist' \(accepted: .*image_folder"),
        ({"dataset": {"name": "skimage-samples", "num_images": 0}}, r": dataset\.num_images: Input should be greater than 0"),
        ({"sweep": {"snr_db": [0], "bandwidth_ratio": ["1/12", 1.5]}}, r": sweep\.bandwidth_ratio: bandwidth ratio must be in \(0, 1\], got 1\.5"),
        ({"sweep": {"snr_db": [0], "bandwidth_ratio": ["0/3"]}}, r"bandwidth ratio must be in \(0, 1\], got '0/3'"),
        ({"sweep": {"snr_db": [0], "bandwidth_ratio": ["abc"]}}, r"expected a fraction like 1/12 or a number, got 'abc'"),
        ({"sweep": {"snr_db": {"start": 5, "stop": 0, "step": 1}, "bandwidth_ratio": [0.5]}}, r"sweep\.snr_db: empty range"),
        ({"metrics": ["psnr", "fid"]}, r": metrics: unknown metric 'fid' \(accepted: .*lpips"),
        ({"schemes": [{"type": "softcast", "chunks_per_side": 0}]}, r"schemes\[0\]\.chunks_per_side: Input should be greater than or equal to 1"),
        ({"schemes": [{"type": "softcast"}, {"type": "softcast"}]}, r"scheme names must be unique"),
        ({"output": {"plots": ["fid_vs_snr"]}}, r"unknown plot 'fid_vs_snr' \(accepted: psnr_vs_snr, ms_ssim_vs_snr\)"),
    ],
)
def test_bad_fields_give_one_line_with_file_field_and_accepted_values(tmp_path, write_scenario, change, expected):
    data = small_scenario(tmp_path)
    if "colour" in change:  # put the unknown key on line 2 to check the line number
        data = {"name": data.pop("name"), **change, **data}
    else:
        data.update(change)
    path = write_scenario(data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert __import__("re").search(expected, message), message


def test_missing_required_field_names_it(tmp_path, write_scenario):
    data = small_scenario(tmp_path)
    del data["dataset"]
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:1: dataset: required field is missing"):
        load_scenario(write_scenario(data))


def test_line_number_points_at_the_offending_field(tmp_path, write_scenario):
    text = (
        "name: x\n"
        "dataset: {name: skimage-samples}\n"
        "schemes:\n"
        "  - type: softcast\n"
        "    chunks_per_side: -3\n"
        "sweep: {snr_db: [0], bandwidth_ratio: [1/6]}\n"
    )
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:5: schemes\[0\]\.chunks_per_side:"):
        load_scenario(write_scenario(text))


def test_malformed_yaml_and_missing_file(tmp_path, write_scenario):
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:3: malformed YAML"):
        load_scenario(write_scenario("name: x\nsweep: {snr_db: [0, 1]\nmetrics: [psnr\n"))
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="must be a YAML mapping"):
        load_scenario(write_scenario("- just\n- a list\n"))


def test_several_channels_are_a_sweep_axis(tmp_path):
    channels = [{"type": "awgn"}, {"type": "awgn", "name": "awgn-32-pilots", "snr_pilots": 32}]
    scenario = parse_scenario(small_scenario(tmp_path, channel=channels))
    grid = scenario.grid()
    assert len(grid) == 2 * 4 and {p.channel for p in grid} == {"awgn", "awgn-32-pilots"}
    by_channel = {p.channel: p for p in grid if p.snr_db == 0 and p.bandwidth_ratio == 1 / 12}
    assert by_channel["awgn"].cache_key(scenario) != by_channel["awgn-32-pilots"].cache_key(scenario)
    with pytest.raises(ScenarioError, match=r"channel names must be unique; .*\(repeated: awgn\)"):
        parse_scenario(small_scenario(tmp_path, channel=[{"type": "awgn"}, {"type": "awgn"}]))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("snr_db: [0, 10]", "snr_db: [.nan, 0]"), r":\d+: sweep.snr_db\[0\]: Input should be a finite number"),
    (lambda t: t.replace("snr_db: [0, 10]", "snr_db: [-.inf, 0]"), r":\d+: sweep.snr_db\[0\]: Input should be a finite number"),
    (lambda t: t.replace("roi_weight: [0.0]", "roi_weight: [.inf]"), r":\d+: sweep.roi_weight\[0\]: Input should be a finite number"),
    (lambda t: t.replace("snr_db: [0, 10]", "snr_db: {start: 0, stop: .inf, step: 1}"), r"sweep.snr_db: stop: Input should be a finite"),
    (lambda t: t + "seed: 5\n", r":\d+: malformed YAML: duplicate key 'seed'"),
    (lambda t: t.replace("name: tiny", "name: ti\x00ny"), r":1: malformed YAML: unacceptable character"),
])
def test_non_finite_values_duplicate_keys_and_control_characters_are_one_line_errors(tmp_path, write_scenario, edit, message):
    text = yaml.safe_dump(small_scenario(tmp_path / "out"), sort_keys=False, default_flow_style=None, width=200)
    path = write_scenario(edit(text))
    with pytest.raises(ScenarioError, match=message) as error:
        load_scenario(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: tiny\n# caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"latin1.yaml:2: not UTF-8 text \(byte 0xe9\)"):
        load_scenario(path)


@pytest.mark.parametrize(("scheme", "dataset", "message"), [
    ({"type": "deepjscc", "checkpoint": "cifar10-deepjscc-v9"}, None, r"schemes\[0\].checkpoint: unknown checkpoint 'cifar10-deepjscc-v9'"),
    ({"type": "deepjscc", "checkpoint": "/nonexistent/x.safetensors"}, None, r"schemes\[0\].checkpoint: checkpoint file .* does not exist"),
    ({"type": "diffusion", "checkpoint": "cifar10-deepjscc-v1"}, None, r"is a deepjscc checkpoint, not a diffusion-receiver one"),
    ({"type": "digital", "mcs": {"table": "/nonexistent/bler.csv"}}, None, r"schemes\[0\].mcs.table: no BLER table"),
    (None, {"name": "image_folder", "root": "/nonexistent/photos.tar"}, r"dataset.root: /nonexistent/photos.tar does not exist"),
])
def test_validate_refuses_what_run_would(tmp_path, write_scenario, capsys, scheme, dataset, message):
    import re

    from linksim.cli import main

    data = small_scenario(tmp_path / "out")
    if scheme is not None:
        data["schemes"] = [scheme]
    if dataset is not None:
        data["dataset"] = dataset
    assert main(["validate", str(write_scenario(data))]) == 2
    error = capsys.readouterr().err
    assert re.search(message, error) and error.count("\n") == 1


def test_unbounded_work_is_refused_before_anything_is_built(tmp_path, write_scenario):
    import time

    data = small_scenario(tmp_path / "out")
    data["sweep"]["snr_db"] = {"start": 0, "stop": 1e12, "step": 1}
    with pytest.raises(ScenarioError, match=r"sweep.snr_db: 1e\+12 values; a sweep axis takes at most 10000"):
        load_scenario(write_scenario(data, "huge-axis.yaml"))
    data["sweep"]["snr_db"] = {"start": 0, "stop": 999, "step": 1}
    data["sweep"]["bandwidth_ratio"] = [f"{i}/1000" for i in range(1, 201)]
    with pytest.raises(ScenarioError, match=r"the grid has 200,000 points, above max_points \(100,000\)"):
        load_scenario(write_scenario(data, "huge-grid.yaml"))
    assert load_scenario(write_scenario({**data, "max_points": 200_000}, "allowed.yaml")).point_count() == 200_000
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 200_000)
    started = time.time()
    with pytest.raises(ScenarioError, match=r"big.yaml: 2,000,000 bytes; a scenario file is at most 1,048,576"):
        load_scenario(big)
    assert time.time() - started < 1.0
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(12))
    with pytest.raises(ScenarioError, match=r":\d+: malformed YAML: more than 100 aliases"):
        load_scenario(write_scenario(laughs, "laughs.yaml"))
