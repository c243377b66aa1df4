"""layered-gan: the SPADE generator, its GAN training, and the scheme's two layers (with a small
untrained generator where what is checked does not depend on its quality)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from linksim.camvid import CLASSES, VOID
from linksim.channels import AWGNChannel
from linksim.errors import LinksimError
from linksim.metrics import psnr
from linksim.models.spade import KIND, SpadeGenerator, SpadeGeneratorConfig, load_spade_generator
from linksim.randomness import RowKeys
from linksim.schemes import LayeredGanConfig, LayeredGanScheme, LinkState
from linksim.schemes.digital import LOST_VALUE
from linksim.zoo import save_checkpoint

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "camvid"
IDS = ["a", "b"]
TINY = SpadeGeneratorConfig(classes=CLASSES, widths=(8, 8, 4), hidden=4)


def _checkpoint(folder: Path, config: SpadeGeneratorConfig = TINY) -> str:
    torch.manual_seed(0)
    path = folder / f"tiny-spade-{len(config.classes)}.safetensors"
    weights = {k: v.contiguous() for k, v in SpadeGenerator(config).state_dict().items()}
    save_checkpoint(path, weights, {"kind": KIND, "generator": config.model_dump_json(), "scores": json.dumps({})})
    return str(path)


def _scheme(folder: Path, share: float) -> LayeredGanScheme:
    return LayeredGanScheme(LayeredGanConfig(checkpoint=_checkpoint(folder), enhancement_share=share,
                                             mcs={"policy": "fixed", "index": 10}))


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    coarse = torch.randint(0, VOID + 1, (2, 6, 8), generator=g)
    labels = coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)
    images = torch.nn.functional.interpolate(torch.rand(2, 3, 6, 8, generator=g), size=(48, 64), mode="bilinear")
    return images, labels


def _link(scheme: LayeredGanScheme, snr: float, ratio: float = 1 / 2):
    images, labels = _inputs()
    state = LinkState(snr_db=torch.full((2,), snr), bandwidth_ratio=ratio, labels=labels, keys=RowKeys.of(1, [0, 0], IDS))
    tx = scheme.transmit(images, state)
    rx = AWGNChannel().send(tx.symbols, state.snr_db, state.keys)
    return images, labels, tx, scheme.receive(rx.y, rx.noise_var, tx, state)


def test_generator_is_per_sample_and_checks_its_inputs() -> None:
    torch.manual_seed(0)
    model = SpadeGenerator(TINY).eval()
    maps = torch.nn.functional.one_hot(torch.randint(0, VOID + 1, (3, 16, 24)), VOID + 1).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        whole = model(maps)
        assert whole.shape == (3, 3, 16, 24) and whole.min() >= 0 and whole.max() <= 1
        torch.testing.assert_close(model(maps[1:2]), whole[1:2], rtol=0, atol=1e-5)  # instance norm: no batch coupling
    with pytest.raises(LinksimError, match="multiples of 4"):
        model(maps[..., :14, :])
    with pytest.raises(LinksimError, match="needs 12 map planes"):
        model(maps[:, :5])


def test_payload_is_the_lossless_map_then_the_residual_and_the_base_is_shared(tmp_path: Path) -> None:
    scheme = _scheme(tmp_path, 1.0)
    images, labels, tx, x_hat = _link(scheme, 30.0)
    record = tx.side_info["encoded"][0]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(record.map_png))), labels[0].numpy())
    assert record.image is not None and record.image.decoded.shape == (48, 64, 3)
    assert bool(tx.columns["decoded"].all())
    # receiver = the base layer both ends computed + the decoded residual
    base = scheme.generator(scheme.upsampled(labels, (48, 64), 1))
    residual = 2 * torch.from_numpy(np.array(record.image.decoded)).permute(2, 0, 1).float() / 255 - 1
    torch.testing.assert_close(x_hat[0], (base[0] + residual).clamp(0, 1), rtol=0, atol=1e-5)
    # the residual layer is what makes the reconstruction faithful: the base alone is far worse
    assert (psnr(x_hat, images) > psnr(base.detach(), images) + 5).all()


def test_enhancement_share_traces_the_split_at_equal_channel_uses(tmp_path: Path) -> None:
    quality = {}
    for share in (0.0, 0.3, 1.0):
        images, labels, tx, x_hat = _link(_scheme(tmp_path, share), 30.0, ratio=1 / 4)
        assert tx.symbols.shape[1] == round(3 * 48 * 64 / 4)  # the same channel uses for every split
        quality[share] = float(psnr(x_hat, images).mean())
        if share == 0:  # map alone: the generated base layer
            assert int(tx.columns["source_bits"].sum()) == 0 and (tx.columns["quality"] == -1).all()
    assert quality[0.0] < quality[0.3] < quality[1.0]


def test_the_cliff_loses_the_image(tmp_path: Path) -> None:
    *_, tx, x_hat = _link(_scheme(tmp_path, 1.0), -10.0)
    assert not bool(tx.columns["decoded"].any()) and torch.all(x_hat == LOST_VALUE)


def test_layered_gan_refuses_other_checkpoints_and_the_oracle(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a deepjscc checkpoint, not a spade-generator one"):
        LayeredGanConfig(checkpoint="cifar10-deepjscc-v1")
    with pytest.raises(ValueError, match="policy oracle is not supported"):
        LayeredGanConfig(checkpoint=_checkpoint(tmp_path), mcs={"policy": "oracle"})
    with pytest.raises(LinksimError, match="not a SPADE generator checkpoint"):
        load_spade_generator("cifar10-deepjscc-v1")
    other = _checkpoint(tmp_path, TINY.model_copy(update={"classes": ("road", "car")}))
    with pytest.raises(LinksimError, match=r"trained for the classes \(road, car\), but the label maps are CamVid's"):
        LayeredGanScheme(LayeredGanConfig(checkpoint=other))


@pytest.mark.skipif(not (CAMVID / "train.tar").is_file(), reason=f"CamVid not found at {CAMVID}")
def test_spade_training_writes_a_loadable_checkpoint_and_resumes_exactly(tmp_path: Path) -> None:
    from linksim.training.spade import SpadeTrainConfig, train_spade

    common = dict(root=str(CAMVID), heights=[48], crop=(48, 64), model=TINY, discriminator_widths=(8, 8),
                  batch_size=2, warmup_steps=1, log_every=1, eval_images=2, device="cpu", threads=1)
    train_spade(SpadeTrainConfig(steps=4, checkpoint_every=4, out=str(tmp_path / "a"), **common), progress=False)
    halves = SpadeTrainConfig(steps=4, checkpoint_every=2, out=str(tmp_path / "b"), **common)
    train_spade(halves.model_copy(update={"steps": 2}), progress=False)  # same schedule up to step 2
    train_spade(halves, resume=True, progress=False)
    a, b = (load_spade_generator(str(tmp_path / run / "last.safetensors")) for run in "ab")
    assert a.metadata["step"] == "4" and a.model.config == TINY
    assert set(json.loads(a.metadata["scores"])) == {"psnr", "lpips", "miou"}
    assert all(torch.equal(a.model.state_dict()[k], v) for k, v in b.model.state_dict().items())


def test_auto_map_factor_sends_the_finest_map_that_fits(tmp_path: Path) -> None:
    fine = _scheme(tmp_path, 1.0)
    auto = LayeredGanScheme(fine.config.model_copy(update={"map_factor": "auto"}))
    for ratio in (1 / 2, 1 / 24):
        *_, tx_fine, _ = _link(fine, 30.0, ratio)
        *_, tx_auto, x_hat = _link(auto, 30.0, ratio)
        factors = tx_auto.columns["map_factor"]
        if ratio == 1 / 2:  # room for the full-resolution map: auto sends it too
            assert (factors == 1).all() and (tx_fine.columns["map_factor"] == 1).all()
        else:  # the full map does not fit: fixed factor 1 loses the image, auto sends a coarser map
            assert (tx_fine.columns["map_factor"] == 0).all()
            assert (factors > 1).all() and bool(tx_auto.columns["decoded"].all())
            record = tx_auto.side_info["encoded"][0]
            assert record.bytes[2] == record.factor == int(factors[0])
