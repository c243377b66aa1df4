"""ROI masks, region metrics in sweeps, and the DeepJSCC ROI weighting's side information."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from linksim.data import load_dataset
from linksim.errors import DatasetError, ScenarioError
from linksim.roi import CentreRoi, MaskFolderRoi, SaliencyRoi, build_masks
from linksim.scenario import parse_scenario
from linksim.sweep import run_sweep
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def samples():
    return load_dataset("skimage-samples", image_size=32, num_images=4)


def test_centre_and_saliency_masks_cover_the_requested_area(samples):
    centre = build_masks(CentreRoi(area=0.3), samples.images, samples.ids)
    assert centre.shape == (4, 1, 32, 32) and abs(centre.mean().item() - 0.3) < 0.02
    assert centre[0, 0, 16, 16] == 1 and centre[0, 0, 0, 0] == 0
    salient = build_masks(SaliencyRoi(area=0.2), samples.images, samples.ids)
    assert torch.allclose(salient.mean(dim=(1, 2, 3)), torch.full((4,), 0.2), atol=1 / 1024)
    assert torch.equal(salient, build_masks(SaliencyRoi(area=0.2), samples.images, samples.ids))


def test_block_saliency_selects_whole_latent_blocks(samples):
    blocks = build_masks(SaliencyRoi(area=0.25, block=4), samples.images, samples.ids)
    coarse = torch.nn.functional.avg_pool2d(blocks, 4)
    assert torch.equal(coarse, coarse.round())  # every 4x4 block entirely in or out
    assert torch.allclose(coarse.mean(dim=(1, 2, 3)), torch.full((4,), 0.25))
    with pytest.raises(Exception, match="does not divide"):
        build_masks(SaliencyRoi(block=5), samples.images, samples.ids)


def test_mask_folder(tmp_path, samples):
    for image_id in samples.ids:
        path = (tmp_path / image_id).with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        mask = np.zeros((32, 32), np.uint8)
        mask[:, :8] = 255
        Image.fromarray(mask).save(path)
    masks = build_masks(MaskFolderRoi(root=str(tmp_path)), samples.images, samples.ids)
    assert masks[:, :, :, :8].eq(1).all() and masks[:, :, :, 8:].eq(0).all()
    (tmp_path / samples.ids[0]).with_suffix(".png").unlink()
    with pytest.raises(DatasetError, match=f"roi.root: no mask .* for image '{samples.ids[0]}'"):
        build_masks(MaskFolderRoi(root=str(tmp_path)), samples.images, samples.ids)


def test_region_metrics_and_roi_weights_need_a_roi_block(tmp_path):
    with pytest.raises(ScenarioError, match="metrics: roi_psnr need ROI masks: add a roi: block"):
        parse_scenario(small_scenario(tmp_path, metrics=["psnr", "roi_psnr"]))
    sweep = {"snr_db": [0], "bandwidth_ratio": [0.5], "roi_weight": [0, 1]}
    with pytest.raises(ScenarioError, match=r"sweep.roi_weight: a weight > 0 needs ROI masks"):
        parse_scenario(small_scenario(tmp_path, sweep=sweep))
    with pytest.raises(ScenarioError, match=r"roi\.source: unknown type 'eyes' \(accepted: 'centre', 'saliency', 'mask_folder', 'segmentation'\)"):
        parse_scenario(small_scenario(tmp_path, roi={"source": "eyes"}))


def test_sweep_reports_region_metrics(tmp_path):
    data = small_scenario(tmp_path, roi={"source": "centre"}, metrics=["psnr", "roi_psnr", "bg_psnr", "roi_lpips"])
    rows = run_sweep(parse_scenario(data), progress=False).rows
    assert rows[["roi_psnr", "bg_psnr", "roi_lpips"]].notna().all().all()
    assert (rows["side_info_bits"] == 0).all()  # SoftCast ignores ROI weights
