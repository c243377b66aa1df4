"""Semantic maps as analog symbols, the map-conditioned denoiser and its training (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import SHARED
from linksim.camvid import CLASSES
from linksim.errors import LinksimError
from linksim.models.map_diffusion import MapDenoiser, MapDenoiserConfig, load_map_denoiser
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler, training_scheduler
from linksim.semantic_maps import amplitude, class_posterior, map_symbols, one_hot, posterior_from_symbols

CAMVID = SHARED / "data" / "camvid"


def test_map_symbols_have_unit_power_and_a_clean_channel_returns_the_map() -> None:
    labels = torch.randint(0, 12, (3, 16, 24), generator=torch.Generator().manual_seed(0))
    symbols = map_symbols(labels, 12, 4)
    assert symbols.shape == (3, 12 * 4 * 6 // 2)
    assert symbols.abs().square().mean().item() == pytest.approx(1.0)
    posterior = posterior_from_symbols(symbols, torch.full(symbols.shape, 1e-3), 12, (4, 6), (16, 24))
    expected = labels[:, 2::4, 2::4].repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert torch.equal(posterior.argmax(1), expected)


def test_class_posterior_is_bayes_rule_for_gaussian_noise() -> None:
    g = torch.Generator().manual_seed(1)
    planes, variance = 5, 0.7
    reals = torch.randn(1, planes, 2, 2, generator=g)
    log_likelihood = torch.stack([-(reals - amplitude(planes) * one_hot(torch.full((1, 2, 2), c), planes)).square().sum(1)
                                  / (2 * variance) for c in range(planes)], dim=1)
    expected = torch.softmax(log_likelihood, dim=1)
    assert torch.allclose(class_posterior(reals, torch.full_like(reals, variance)), expected, atol=1e-6)


def test_map_denoiser_checks_its_inputs_and_samples_any_multiple() -> None:
    config = MapDenoiserConfig(classes=CLASSES, block_out_channels=(8, 16), norm_num_groups=4, low_res_factor=4)
    model = MapDenoiser(config).eval()
    posterior = torch.softmax(torch.randn(2, 12, 16, 24), dim=1)
    cond = model.condition(posterior, torch.rand(2, 3, 4, 6))
    assert model.image_shape(cond) == (16, 24)
    pipeline = DiffusionReceiverPipeline(model, sampling_scheduler("ddim", training_scheduler().config))
    x = pipeline(cond, steps=2, generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 16, 24) and 0 <= x.min() and x.max() <= 1
    assert model.condition(posterior).features.shape == cond.features.shape  # no image: zeros and flag 0
    with pytest.raises(LinksimError, match="needs 12 map planes"):
        model.condition(posterior[:, :11])
    with pytest.raises(LinksimError, match="multiples of 4"):
        model.condition(torch.softmax(torch.randn(1, 12, 14, 24), dim=1))
    plain = MapDenoiser(MapDenoiserConfig(classes=CLASSES, block_out_channels=(8, 16), norm_num_groups=4))
    with pytest.raises(LinksimError, match="trained without a low-resolution image"):
        plain.condition(posterior, torch.rand(2, 3, 4, 6))


@pytest.mark.skipif(not (CAMVID / "train.tar").is_file(), reason=f"CamVid not found at {CAMVID}")
def test_map_diffusion_training_writes_a_loadable_checkpoint_and_resumes_exactly(tmp_path: Path) -> None:
    from linksim.training.map_diffusion import MapDiffusionTrainConfig, train_map_diffusion

    model = MapDenoiserConfig(classes=CLASSES, block_out_channels=(8, 16), norm_num_groups=4, low_res_factor=8)
    common = dict(root=str(CAMVID), heights=[48], crop=(48, 64), model=model, batch_size=2, warmup_steps=1,
                  log_every=1, eval_images=2, eval_steps=1, device="cpu", threads=1)
    train_map_diffusion(MapDiffusionTrainConfig(steps=4, checkpoint_every=4, out=str(tmp_path / "a"), **common),
                        progress=False)
    halves = MapDiffusionTrainConfig(steps=4, checkpoint_every=2, out=str(tmp_path / "b"), **common)
    train_map_diffusion(halves.model_copy(update={"steps": 2}), progress=False)  # same schedule up to step 2
    train_map_diffusion(halves, resume=True, progress=False)
    a, b = (load_map_denoiser(str(tmp_path / run / "last.safetensors")) for run in "ab")
    assert a.metadata["step"] == "4" and a.model.config == model
    assert all(torch.equal(a.model.state_dict()[k], v) for k, v in b.model.state_dict().items())
    with pytest.raises(LinksimError, match="not a map-conditioned diffusion checkpoint"):
        load_map_denoiser("cifar10-deepjscc-v1")
    # continuing from a saved model on another machine: its weights (and architecture), no state.pt
    from linksim.training.map_diffusion import MapDiffusionTrainer

    rest = {k: v for k, v in common.items() if k != "model"}
    continued = MapDiffusionTrainer(MapDiffusionTrainConfig(init_checkpoint=str(tmp_path / "a" / "last.safetensors"),
                                                            out=str(tmp_path / "c"), steps=1, **rest))
    assert continued.config.model == model
    assert all(torch.equal(a.model.state_dict()[k], v) for k, v in continued.model.state_dict().items())
