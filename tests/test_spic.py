"""SPIC: the payload (map + low-resolution image), the cliff, and the receiver (with a small
untrained denoiser: what is checked does not depend on its quality)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from linksim.camvid import CLASSES, VOID
from linksim.channels import AWGNChannel
from linksim.errors import LinksimError
from linksim.models.map_diffusion import KIND, MapDenoiser, MapDenoiserConfig
from linksim.pipelines.diffusion import training_scheduler
from linksim.randomness import RowKeys
from linksim.schemes import LinkState, SpicConfig, SpicScheme
from linksim.schemes.digital import LOST_VALUE
from linksim.zoo import save_checkpoint

IDS = ["a", "b"]


def _checkpoint(folder, low_res_factor):
    torch.manual_seed(0)
    config = MapDenoiserConfig(classes=CLASSES, block_out_channels=(8, 16), norm_num_groups=4, low_res_factor=low_res_factor)
    path = folder / f"tiny-{low_res_factor}.safetensors"
    save_checkpoint(path, {k: v.contiguous() for k, v in MapDenoiser(config).state_dict().items()},
                    {"kind": KIND, "denoiser": config.model_dump_json(), "scheduler": json.dumps(dict(training_scheduler().config))})
    return str(path)


@pytest.fixture(scope="module")
def scheme(tmp_path_factory) -> SpicScheme:
    return SpicScheme(SpicConfig(checkpoint=_checkpoint(tmp_path_factory.mktemp("spic"), 8), steps=1,
                                 mcs={"policy": "fixed", "index": 10}))


def _inputs():
    g = torch.Generator().manual_seed(5)
    coarse = torch.randint(0, VOID + 1, (2, 6, 8), generator=g)
    labels = coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)
    images = torch.nn.functional.interpolate(torch.rand(2, 3, 6, 8, generator=g), size=(48, 64), mode="bilinear")
    return images, labels


def _state(snr, ratio, labels):
    return LinkState(snr_db=torch.full((2,), snr), bandwidth_ratio=ratio, labels=labels, keys=RowKeys.of(1, [0, 0], IDS))


def test_the_payload_is_the_lossless_map_then_the_low_resolution_image(scheme) -> None:
    images, labels = _inputs()
    tx = scheme.transmit(images, _state(30.0, 1 / 2, labels))
    record = tx.side_info["encoded"][0]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(record.map_png))), labels[0].numpy())  # lossless
    assert record.image is not None and record.image.decoded.shape == (6, 8, 3)  # 1/8 of 48x64
    assert int(tx.columns["map_bits"][0]) == 8 * len(record.map_png)
    assert record.bytes[:3] == len(record.map_png).to_bytes(2, "big") + bytes([1])  # length, factor


def test_clean_channel_decodes_and_the_cliff_loses_the_image(scheme) -> None:
    images, labels = _inputs()
    for snr, decoded in ((30.0, True), (-10.0, False)):
        state = _state(snr, 1 / 2, labels)
        tx = scheme.transmit(images, state)
        rx = AWGNChannel().send(tx.symbols, state.snr_db, state.keys)
        x_hat = scheme.receive(rx.y, rx.noise_var, tx, state)
        assert x_hat.shape == images.shape
        assert bool(tx.columns["decoded"].all()) is decoded
        if not decoded:
            assert torch.all(x_hat == LOST_VALUE)
    # a budget too small for the map: nothing is sent, the image is lost whatever the channel
    tx = scheme.transmit(images, _state(30.0, 1 / 200, labels))
    assert tx.side_info["encoded"] == [None, None] and int(tx.columns["map_bits"][0]) == 0


def test_spic_needs_a_denoiser_that_takes_the_image(tmp_path) -> None:
    with pytest.raises(LinksimError, match="takes no low-resolution image"):
        SpicScheme(SpicConfig(checkpoint=_checkpoint(tmp_path, None)))


def test_spic_refuses_the_oracle_mcs_at_validation(tmp_path) -> None:
    with pytest.raises(ValueError, match="policy oracle is not supported"):
        SpicConfig(checkpoint=_checkpoint(tmp_path, 8), mcs={"policy": "oracle"})


def test_map_denoisers_trained_for_other_classes_are_refused(tmp_path) -> None:
    config = MapDenoiserConfig(classes=("road", "car"), block_out_channels=(8, 16), norm_num_groups=4, low_res_factor=8)
    path = tmp_path / "other-classes.safetensors"
    save_checkpoint(path, {k: v.contiguous() for k, v in MapDenoiser(config).state_dict().items()},
                    {"kind": KIND, "denoiser": config.model_dump_json(), "scheduler": json.dumps(dict(training_scheduler().config))})
    with pytest.raises(LinksimError, match=r"trained for the classes \(road, car\)"):
        SpicScheme(SpicConfig(checkpoint=str(path)))
