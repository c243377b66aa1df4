"""The contract every registered scheme keeps (a new scheme is covered by registering it):
K = round(ratio 3 H W) symbols per image at each ratio it supports, unit average power, images
of the input's shape back, determinism for given row keys, and rows independent of their batch.
A scheme whose config declares ``needs_labels`` gets label maps made from the images (colour
bands: deterministic, and as varied as a scene's classes)."""

from __future__ import annotations

import pytest
import torch

from linksim.channels import AWGNChannel
from linksim.data import load_dataset
from linksim.randomness import RowKeys
from linksim.schemes import SCHEMES, LinkState, build_scheme, channel_uses

IDS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return load_dataset("skimage-samples", image_size=32, num_images=len(IDS), subset_seed=11).images


def _ratios(scheme) -> list[float]:
    return list(scheme.supported_ratios or [1 / 12, 1 / 6])[:2]


def _state(scheme, images, ratio, snr_db, keys) -> LinkState:
    labels = (images.mean(1) * 12).long().clamp(max=11) if scheme.config.needs_labels else None
    return LinkState(snr_db=torch.full((len(images),), snr_db), bandwidth_ratio=ratio, keys=keys, labels=labels)


def _link(scheme, images, ratio, snr_db, keys):
    state = _state(scheme, images, ratio, snr_db, keys)
    tx = scheme.transmit(images, state)
    received = AWGNChannel().send(tx.symbols, state.snr_db, keys)
    return scheme.receive(received.y, received.noise_var, tx, state), tx


@pytest.fixture(scope="module", params=list(SCHEMES))
def scheme(request):
    return build_scheme(SCHEMES[request.param].config_class())


def test_symbols_per_image_and_unit_power(scheme, images):
    for ratio in _ratios(scheme):
        symbols = scheme.transmit(images, _state(scheme, images, ratio, 10.0, RowKeys.of(1, [0] * len(IDS), IDS))).symbols
        assert symbols.shape == (len(images), channel_uses(tuple(images.shape[1:]), ratio))
        assert symbols.is_complex()
        power = symbols.abs().square().mean(dim=1)
        assert torch.allclose(power, torch.ones_like(power), atol=0.15), power


def test_reconstructions_have_the_input_shape_and_are_finite(scheme, images):
    for snr in (0.0, 20.0):
        x_hat, _ = _link(scheme, images, _ratios(scheme)[-1], snr, RowKeys.of(2, [0] * len(IDS), IDS))
        assert x_hat.shape == images.shape and bool(torch.isfinite(x_hat).all())
        assert x_hat.min() > -0.5 and x_hat.max() < 1.5  # the sweep clips to [0, 1]; far outside is a bug


def test_same_keys_same_output_and_rows_independent_of_the_batch(scheme, images):
    keys = RowKeys.of(3, [0, 0, 1, 1], IDS)
    ratio = _ratios(scheme)[0]
    torch.manual_seed(0)
    whole, _ = _link(scheme, images, ratio, 5.0, keys)
    torch.manual_seed(99)  # the global generators must not matter when keys are given
    again, _ = _link(scheme, images, ratio, 5.0, keys)
    torch.testing.assert_close(whole, again, rtol=0, atol=0)
    parts = [_link(scheme, images[i:i + 1], ratio, 5.0, keys.select([i]))[0] for i in (2, 0)]
    torch.testing.assert_close(torch.cat(parts), whole[[2, 0]], rtol=0, atol=1e-5)
