"""Real photographs at any size: native-size datasets (mixed orientations, batched by size, crops),
the checksummed Kodak set, any-size DeepJSCC and diffusion receivers, crop training."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED, small_scenario
from linksim.data import load_dataset
from linksim.errors import DatasetError, LinksimError, ScenarioError
from linksim.models.deepjscc import DeepJSCC, latent_channels_for
from linksim.models.diffusion import ConditionalDenoiser, DenoiserConfig
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler, training_scheduler
from linksim.scenario import DatasetConfig, parse_scenario
from linksim.sweep import run_sweep
from linksim.training.common import TrainingImages

KODAK = SHARED / "data" / "kodak"


def _photo_folder(root, sizes: dict[str, tuple[int, int]]):
    """PNG photos of the given (height, width) under ``root/test/``, with seeded random pixels."""
    rng = np.random.default_rng(0)
    (root / "test").mkdir(parents=True)
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "test" / f"{name}.png")
    return root


def test_native_size_keeps_both_orientations_and_batches_by_size(tmp_path):
    root = _photo_folder(tmp_path, {"a": (16, 24), "b": (24, 16), "c": (16, 24), "d": (24, 16), "e": (16, 24)})
    images = load_dataset("image_folder", image_size=None, root=root)
    assert not images.uniform
    assert [tuple(x.shape) for x in images.images] == [(3, 16, 24), (3, 24, 16), (3, 16, 24), (3, 24, 16), (3, 16, 24)]
    groups = images.size_groups()
    assert [g[0].tolist() for g in groups] == [[0, 2, 4], [1, 3]]
    assert all(torch.equal(g[1][j], images.images[i]) for g in groups for j, i in enumerate(g[0].tolist()))
    batches = list(images.batches(2))
    assert [ids for _, ids in batches] == [["test/a.png", "test/c.png"], ["test/e.png"], ["test/b.png", "test/d.png"]]
    cropped = load_dataset("image_folder", image_size=None, root=root, crop=(8, 12))
    assert cropped.uniform and cropped.images.shape == (5, 3, 8, 12)
    assert torch.equal(cropped.images[1], images.images[1][:, 8:16, 2:14])  # the centre
    with pytest.raises(DatasetError, match=r"dataset.crop: 20x20 is larger than image test/a.png \(16x24\)"):
        load_dataset("image_folder", image_size=None, root=root, crop=(20, 20))
    with pytest.raises(DatasetError, match="dataset.image_size: skimage-samples has no native size"):
        load_dataset("skimage-samples", image_size=None)
    with pytest.raises(ScenarioError, match="dataset: image_size: skimage-samples has no native size"):
        parse_scenario(small_scenario(tmp_path, dataset={"name": "skimage-samples", "image_size": "native"}))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_native_size_refuses_greyscale_and_rgba_files(tmp_path, mode):
    (tmp_path / "test").mkdir()
    Image.new(mode, (16, 16)).save(tmp_path / "test" / "odd.png")
    with pytest.raises(DatasetError, match=rf"odd.png is {mode}, not 8-bit RGB"):
        load_dataset("image_folder", image_size=None, root=tmp_path)


@pytest.mark.parametrize("factor, downsample", [(4, 2), (8, 3)])
def test_deepjscc_sends_r_3hw_symbols_at_any_size(factor, downsample):
    torch.manual_seed(0)
    model = DeepJSCC(latent_channels=384 // 3 if factor == 8 else 32, width=8, downsample=downsample)
    ratios = torch.tensor([1 / 24, 1 / 16, 1 / 6] if factor == 8 else [1 / 24, 1 / 12, 1 / 6])
    for h, w in [(48, 64), (64, 48), (32, 32)]:
        symbols = model.encode(torch.rand(3, 3, h, w), torch.zeros(3), ratios)
        sent = (symbols.abs() > 0).sum(dim=1)
        assert sent.tolist() == [round(float(r) * 3 * h * w) for r in ratios]
        assert torch.allclose(symbols.abs().pow(2).sum(dim=1) / sent, torch.ones(3), atol=1e-5)
        out = model.decode(symbols, torch.full(symbols.shape, 0.1), torch.zeros(3), ratios, (h, w))
        assert out.shape == (3, 3, h, w)
    assert latent_channels_for(1 / 16, (3, 64, 48), factor=8) == 24
    with pytest.raises(ValueError, match=f"not a multiple of the model's downsampling {factor}"):
        model.encode(torch.rand(1, 3, 36, 40 + factor // 2), torch.zeros(1), ratios[:1])


def test_diffusion_receiver_runs_at_any_size_its_grid_allows():
    torch.manual_seed(0)
    config = DenoiserConfig(block_out_channels=(16, 32), cond_channels=8, cond_hidden=16, norm_num_groups=8,
                            latent_channels=128, latent_factor=8)
    assert config.multiple == 8
    model = ConditionalDenoiser(config).eval()
    deepjscc = DeepJSCC(latent_channels=128, width=8, downsample=3)
    x, snr, ratio = torch.rand(2, 3, 40, 64), torch.zeros(2), torch.full((2,), 1 / 16)
    symbols = deepjscc.encode(x, snr, ratio)
    estimate, latent, reliability, mask = deepjscc.decode_with_inputs(symbols, torch.full(symbols.shape, 0.1), snr, ratio, (40, 64))
    cond = model.condition(latent, reliability, mask, snr, ratio, estimate)
    pipeline = DiffusionReceiverPipeline(model, sampling_scheduler("ddim", training_scheduler().config))
    out = pipeline(cond, 2, 0.5, estimate, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 40, 64) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="image_size must be a multiple of 8"):
        DenoiserConfig(image_size=36, latent_factor=8, block_out_channels=(16, 32), norm_num_groups=8)


def test_a_sweep_over_mixed_sizes_counts_channel_uses_per_image(tmp_path):
    root = _photo_folder(tmp_path / "photos", {"a": (32, 48), "b": (48, 32), "c": (32, 32)})
    data = small_scenario(tmp_path / "out", dataset={"name": "image_folder", "root": str(root), "image_size": "native"},
                          monte_carlo={"trials": 2, "batch_size": 4})
    result = run_sweep(parse_scenario(data), progress=False)
    point = result.rows[(result.rows.snr_db == 10) & (result.rows.bandwidth_ratio == 1 / 6)]
    # rows in (trial, image) order, whatever the size groups' batching
    assert point[["trial", "image_index"]].values.tolist() == [[t, i] for t in range(2) for i in range(3)]
    assert point.channel_uses.tolist() == [round(3 * h * w / 6) for h, w in [(32, 48), (48, 32), (32, 32)]] * 2
    assert "image_folder images (native size)" in DatasetConfig(name="image_folder", image_size="native").describe()


def test_random_crop_training_images(tmp_path):
    root = _photo_folder(tmp_path, {"a": (20, 30), "b": (30, 20)})
    config = DatasetConfig(name="image_folder", root=str(root), split="test", image_size="native")
    images = TrainingImages(config, crop=16)
    first = images.sample(8, torch.Generator().manual_seed(3))
    assert first.shape == (8, 3, 16, 16) and first.dtype == torch.float32
    assert torch.equal(first, images.sample(8, torch.Generator().manual_seed(3)))
    with pytest.raises(LinksimError, match="smaller than the 24-pixel crop"):
        TrainingImages(config, crop=24)


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/data/kodak (the Kodak originals)")
def test_kodak_is_checksummed_and_native(tmp_path):
    kodak = load_dataset("kodak", image_size=None, root=KODAK, num_images=4, subset_seed=1)
    assert all(i.startswith("kodim") for i in kodak.ids)
    full = load_dataset("kodak", image_size=None, root=KODAK)
    assert full.ids == [f"kodim{i:02d}" for i in range(1, 25)]
    assert {tuple(x.shape[-2:]) for x in full.images} == {(512, 768), (768, 512)}
    copy = tmp_path / "kodak"
    shutil.copytree(KODAK, copy)
    data = bytearray((copy / "kodim07.png").read_bytes())
    data[-20] ^= 1
    (copy / "kodim07.png").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"kodim07.png fails its checksum"):
        load_dataset("kodak", image_size=None, root=copy)
    (copy / "kodim07.png").unlink()
    with pytest.raises(DatasetError, match=r"kodim07.png is missing"):
        load_dataset("kodak", image_size=None, root=copy)


def test_diffusion_trains_on_random_crops_and_checks_its_grid(tmp_path):
    from linksim.errors import ScenarioError
    from linksim.training.diffusion import DiffusionTrainConfig, train_diffusion

    root = _photo_folder(tmp_path / "photos", {"a": (40, 48), "b": (48, 40)})
    data = {"name": "image_folder", "root": str(root), "split": "test", "image_size": "native"}
    tiny = {"block_out_channels": [16, 32], "cond_channels": 8, "cond_hidden": 16, "norm_num_groups": 8}
    config = {"train_data": data, "train_crop": 32, "eval_data": {**data, "image_size": 32}, "model": tiny,
              "steps": 2, "batch_size": 2, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1, "eval_steps": 1,
              "out": str(tmp_path / "run"), "device": "cpu"}
    out = train_diffusion(DiffusionTrainConfig.model_validate(config), progress=False)
    assert (out / "last.safetensors").is_file()
    wrong = DiffusionTrainConfig.model_validate({**config, "model": {**tiny, "latent_factor": 8}})
    with pytest.raises(ScenarioError, match="latent_factor/latent_channels 8/32 must match 'cifar10-deepjscc-v1' \\(4/32\\)"):
        train_diffusion(wrong, progress=False)
