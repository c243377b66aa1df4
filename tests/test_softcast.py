"""SoftCast against theory: unit power, exact noiseless inversion, the LLSE closed-form MSE."""

from __future__ import annotations

import pytest
import torch

from linksim.channels import AWGNChannel
from linksim.data import load_dataset
from linksim.errors import LinksimError
from linksim.randomness import seed_everything
from linksim.schemes import LinkState, SoftCast, SoftCastConfig


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_dataset("skimage-samples", image_size=32, num_images=8, subset_seed=3).images


def _state(batch: int, snr_db: float, ratio: float) -> LinkState:
    return LinkState(snr_db=torch.full((batch,), snr_db), bandwidth_ratio=ratio)


@pytest.mark.parametrize("ratio", [1 / 24, 1 / 12, 1 / 6, 1.0])
def test_symbols_have_unit_average_power_per_image(images, ratio):
    tx = SoftCast().transmit(images, _state(len(images), 10.0, ratio))
    assert tx.symbols.shape == (len(images), round(ratio * 3 * 32 * 32))
    assert torch.allclose(tx.symbols.abs().pow(2).mean(dim=1), torch.ones(len(images)), atol=1e-5)


def test_noiseless_full_bandwidth_is_exact(images):
    scheme, state = SoftCast(), _state(len(images), 30.0, 1.0)
    tx = scheme.transmit(images, state)
    noise_var = torch.zeros(tx.symbols.shape)
    assert torch.allclose(scheme.receive(tx.symbols, noise_var, tx, state), images, atol=1e-5)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_mse_matches_llse_closed_form_at_ratio_one(images, snr_db):
    """Measured MSE over 64 noise draws agrees with the closed form within 4 standard errors."""
    seed_everything(11)
    scheme, channel, trials = SoftCast(), AWGNChannel(), 64
    batch = images.repeat(trials, 1, 1, 1)
    state = _state(len(batch), snr_db, 1.0)
    tx = scheme.transmit(batch, state)
    out = channel(tx.symbols, state.snr_db)
    mse = (scheme.receive(out.y, out.noise_var, tx, state) - batch).pow(2).mean(dim=(1, 2, 3))
    mse = mse.reshape(trials, len(images)).mean(dim=1)  # one value per trial
    expected = scheme.expected_mse(images, torch.full((len(images),), snr_db), 1.0).mean()
    stderr = mse.std() / trials**0.5
    assert abs(mse.mean() - expected) < 4 * stderr, (mse.mean().item(), expected.item(), stderr.item())


def test_psnr_rises_with_snr_and_bandwidth(images):
    seed_everything(5)
    scheme, channel = SoftCast(), AWGNChannel()
    psnr = {}
    for ratio in (1 / 12, 1 / 6):
        for snr in (-5.0, 5.0, 15.0):
            state = _state(len(images), snr, ratio)
            tx = scheme.transmit(images, state)
            out = channel(tx.symbols, state.snr_db)
            mse = (scheme.receive(out.y, out.noise_var, tx, state).clamp(0, 1) - images).pow(2).mean()
            psnr[ratio, snr] = (10 * torch.log10(1 / mse)).item()
    for ratio in (1 / 12, 1 / 6):
        assert psnr[ratio, -5.0] < psnr[ratio, 5.0] < psnr[ratio, 15.0]
    for snr in (-5.0, 5.0, 15.0):
        assert psnr[1 / 12, snr] < psnr[1 / 6, snr]


def test_too_few_channel_uses_for_one_chunk_is_a_user_error(images):
    scheme = SoftCast(SoftCastConfig(chunks_per_side=2))  # 256-coefficient chunks
    with pytest.raises(LinksimError, match="fewer than one chunk"):
        scheme.transmit(images, _state(len(images), 0.0, 1 / 48))


def test_chunks_must_divide_image_size(images):
    with pytest.raises(LinksimError, match="chunks_per_side=5 must divide the image size 32x32"):
        SoftCast(SoftCastConfig(chunks_per_side=5)).transmit(images, _state(len(images), 0.0, 0.5))
