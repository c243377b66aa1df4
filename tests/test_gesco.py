"""GESCO: the map's channel uses, the combining of its copies and the end-to-end link (with a
small untrained denoiser: what is checked here does not depend on its quality)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from linksim.camvid import CLASSES, VOID
from linksim.channels import AWGNChannel
from linksim.errors import LinksimError
from linksim.models.map_diffusion import KIND, MapDenoiser, MapDenoiserConfig
from linksim.pipelines.diffusion import training_scheduler
from linksim.randomness import RowKeys
from linksim.schemes import GescoConfig, GescoScheme, LinkState, channel_uses
from linksim.schemes.gesco import fitting_factor
from linksim.zoo import save_checkpoint

IDS = [f"img{i}" for i in range(4)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    config = MapDenoiserConfig(classes=CLASSES, block_out_channels=(8, 16), norm_num_groups=4, low_res_factor=8)
    model = MapDenoiser(config)
    path = tmp_path_factory.mktemp("gesco") / "tiny.safetensors"
    save_checkpoint(path, {k: v.contiguous() for k, v in model.state_dict().items()},
                    {"kind": KIND, "denoiser": config.model_dump_json(), "scheduler": json.dumps(dict(training_scheduler().config))})
    return str(path)


@pytest.fixture(scope="module")
def scheme(checkpoint: str) -> GescoScheme:
    return GescoScheme(GescoConfig(checkpoint=checkpoint, steps=2))


def _labels() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    coarse = torch.randint(0, VOID + 1, (4, 6, 8), generator=g)  # blocks of 8x8 pixels
    return coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)


def _state(snr: float, ratio: float, labels: torch.Tensor | None) -> LinkState:
    return LinkState(snr_db=torch.full((4,), snr), bandwidth_ratio=ratio, labels=labels, keys=RowKeys.of(1, [0] * 4, IDS))


def test_the_finest_map_that_fits_is_sent_and_every_channel_use_carries_it(scheme) -> None:
    images, labels = torch.rand(4, 3, 48, 64), _labels()
    # 576 uses at 1/16: 12 planes x 6 x 8 positions = 576 reals fit at 1/8, 12 x 12 x 16 do not at 1/4
    assert fitting_factor((48, 64), 12, channel_uses((3, 48, 64), 1 / 16)) == 8
    for ratio in (1 / 16, 1 / 4, 1.0):
        tx = scheme.transmit(images, _state(10.0, ratio, labels))
        k = channel_uses((3, 48, 64), ratio)
        assert tx.symbols.shape == (4, k)
        assert tx.symbols.abs().square().mean().item() == pytest.approx(1.0, rel=0.05)
        f = int(tx.columns["map_factor"][0])
        assert 12 * (48 // f) * (64 // f) <= 2 * k and (f == 1 or 12 * (48 // (f // 2)) * (64 // (f // 2)) > 2 * k)


def test_copies_are_combined_so_more_channel_uses_mean_fewer_map_errors(scheme) -> None:
    images, labels = torch.rand(4, 3, 48, 64), _labels()
    accuracy = {}
    for ratio in (1 / 16, 1 / 2):
        config = GescoConfig(checkpoint=scheme.config.checkpoint, steps=1, map_factor=8)
        fixed = GescoScheme(config)
        state = _state(-6.0, ratio, labels)
        tx = fixed.transmit(images, state)
        rx = AWGNChannel().send(tx.symbols, state.snr_db, state.keys)
        x_hat = fixed.receive(rx.y, rx.noise_var, tx, state)
        assert x_hat.shape == images.shape
        accuracy[ratio] = tx.columns["map_accuracy"].mean().item()
    assert accuracy[1 / 2] > accuracy[1 / 16] + 0.2  # 8x the copies: ~9 dB of combining gain
    state = _state(30.0, 1 / 16, labels)
    tx = scheme.transmit(images, state)
    rx = AWGNChannel().send(tx.symbols, state.snr_db, state.keys)
    scheme.receive(rx.y, rx.noise_var, tx, state)
    assert tx.columns["map_accuracy"].min().item() == 1.0


def test_gesco_refuses_what_it_cannot_send(scheme) -> None:
    images = torch.rand(4, 3, 48, 64)
    with pytest.raises(LinksimError, match="sends label maps"):
        scheme.transmit(images, _state(10.0, 1 / 16, None))
    with pytest.raises(LinksimError, match="raise the bandwidth ratio"):
        scheme.transmit(images, _state(10.0, 1 / 3000, _labels()))


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid" / "val.tar").is_file(),
                    reason="CamVid not found in ../shared")
def test_gesco_in_a_sweep_on_camvid(checkpoint, tmp_path, write_scenario) -> None:
    from conftest import SHARED, small_scenario
    from linksim.scenario import load_scenario
    from linksim.sweep import run_sweep

    data = small_scenario(tmp_path / "out", dataset={"name": "camvid", "root": str(SHARED / "data" / "camvid"),
                                                     "split": "val", "image_size": 48, "num_images": 2},
                          schemes=[{"name": "GESCO", "type": "gesco", "checkpoint": checkpoint, "steps": 1},
                                   {"type": "softcast"}],
                          sweep={"snr_db": [0, 20], "bandwidth_ratio": ["1/8"]}, metrics=["psnr"])
    result = run_sweep(load_scenario(write_scenario(data)), progress=False)
    gesco = result.rows[result.rows.scheme == "GESCO"]
    assert (gesco.channel_uses == round(3 * 48 * 64 / 8)).all()
    accuracy = gesco.groupby("snr_db")["map_accuracy"].mean()
    assert accuracy[20.0] == 1.0 and accuracy[0.0] < 1.0
    assert "map_accuracy" in set(result.summary.metric)


def test_a_scheme_that_sends_label_maps_needs_a_dataset_with_them(checkpoint, tmp_path, write_scenario, capsys) -> None:
    from conftest import small_scenario
    from linksim.cli import main

    path = write_scenario(small_scenario(tmp_path / "out", schemes=[{"type": "gesco", "checkpoint": checkpoint}]))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "schemes" in err and "sends label maps" in err and "datasets with labels: camvid" in err
