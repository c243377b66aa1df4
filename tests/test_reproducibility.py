"""Per-row randomness: a row's numbers depend on (point seed, trial, image id) or (point seed,
trial, frame) only — not on the batch size, the number of images, the thread count or the
executor (the Ray executor is compared with the local one in test_ray.py)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from linksim.channels.awgn import AWGNChannel
from linksim.randomness import RowKeys, stream_key
from linksim.scenario import parse_scenario
from linksim.sweep import run_sweep

from conftest import small_scenario
from test_link_sweep import link_scenario

# Every scheme that draws random numbers itself (diffusion sampler, capacity symbols) or whose
# output depends on the channel draws in a non-trivial way (LDPC decoding), over a channel with
# noise only and one with fading, pilots and estimation.
SCHEMES = [
    {"name": "softcast", "type": "softcast"},
    {"name": "deepjscc", "type": "deepjscc"},
    {"name": "diffusion", "type": "diffusion", "steps": 2},
    {"name": "digital", "type": "digital", "mcs": {"policy": "adaptive"}},
    {"name": "capacity", "type": "capacity", "source_codec": "jpeg"},
]
CHANNELS = [
    {"type": "awgn"},
    {"type": "ofdm", "model": "TDL-A", "channel_estimation": "ls", "fft_size": 72, "num_ofdm_symbols": 14},
]


def _rows(tmp_path, name: str, num_images: int, batch_size: int, threads: int | None = None) -> pd.DataFrame:
    data = small_scenario(
        tmp_path / name, dataset={"name": "skimage-samples", "image_size": 32, "num_images": num_images},
        schemes=SCHEMES, channel=CHANNELS, sweep={"snr_db": [0, 8], "bandwidth_ratio": ["1/6"], "roi_weight": [0.0]},
        monte_carlo={"trials": 2, "batch_size": batch_size}, metrics=["psnr"])
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        rows = run_sweep(parse_scenario(data), progress=False).rows
    finally:
        torch.set_num_threads(before)
    return rows.drop(columns=["image_index"])  # an index into the dataset, not an identity


def _by_row(rows: pd.DataFrame) -> pd.DataFrame:
    keys = ["scheme", "channel", "snr_db", "trial", "image_id"]
    return rows.sort_values(keys, ignore_index=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """16 images in batches of 16 with the default thread count."""
    return _rows(tmp_path_factory.mktemp("reference"), "ref", num_images=16, batch_size=16)


def test_rows_do_not_depend_on_batch_size_or_image_count(tmp_path, reference):
    # 32 images (the first 16 the same) in batches of 64 (both trials in one batch) on one thread.
    bigger = _rows(tmp_path, "bigger", num_images=32, batch_size=64, threads=1)
    shared = bigger[bigger["image_id"].isin(set(reference["image_id"]))]
    assert len(shared) == len(reference) == 16 * 2 * 2 * len(SCHEMES) * len(CHANNELS)
    pd.testing.assert_frame_equal(_by_row(shared), _by_row(reference))
    # the draws really are random: the two trials of an image differ
    softcast = reference[(reference["scheme"] == "softcast") & (reference["snr_db"] == 0)]
    assert softcast.groupby(["channel", "image_id"])["psnr"].nunique().min() == 2


def test_rows_do_not_depend_on_thread_count_or_odd_batches(tmp_path, reference):
    odd = _rows(tmp_path, "odd", num_images=16, batch_size=5, threads=2)
    pd.testing.assert_frame_equal(_by_row(odd), _by_row(reference))


def test_link_rows_do_not_depend_on_batch_size(tmp_path):
    overrides = {"channel": {"type": "awgn", "snr_pilots": 16}, "sweep": {
        "snr_db": [5], "bandwidth_ratio": ["1/12", "1/6"], "speed": [30.0], "delay_frames": [1]}}
    small = run_sweep(parse_scenario(link_scenario(tmp_path / "a", monte_carlo={"trials": 3, "batch_size": 3},
                                                   **overrides)), progress=False).rows
    large = run_sweep(parse_scenario(link_scenario(tmp_path / "b", monte_carlo={"trials": 3, "batch_size": 64},
                                                   **overrides)), progress=False).rows
    pd.testing.assert_frame_equal(small, large)


def test_a_rows_channel_draw_depends_on_its_key_alone():
    channel = AWGNChannel()
    x = torch.zeros(6, 50, dtype=torch.complex64)
    snr = torch.zeros(6)
    keys = RowKeys.of(3, [0, 0, 0, 1, 1, 1], ["a", "b", "c", "a", "b", "c"])
    whole = channel.send(x, snr, keys).y
    reversed_ = channel.send(x.flip(0), snr, keys.select(range(5, -1, -1))).y.flip(0)
    torch.testing.assert_close(whole, reversed_, rtol=0, atol=0)
    torch.testing.assert_close(channel.send(x[2:3], snr[:1], keys.select([2])).y, whole[2:3], rtol=0, atol=0)
    assert len({tuple(row.real.tolist()) for row in whole}) == 6  # every key its own draw
    # global generators are left as they were
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    channel.send(x, snr, keys)
    torch.testing.assert_close(torch.rand(3), expected)


def test_stream_keys_are_stable_63_bit_values():
    assert stream_key(7, 0, "astronaut/crop000") == stream_key(7, 0, "astronaut/crop000")
    assert stream_key(7, 0, "a") != stream_key(7, 1, "a") != stream_key(8, 0, "a")
    assert 0 <= stream_key("x") < 2**63
    keys = RowKeys.of(1, [0, 1], ["a", "a"])
    assert keys.stream("channel").seeds != keys.stream("sampler").seeds
