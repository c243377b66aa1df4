"""CamVid data, the segmenter and the metrics of semantic preservation (issue 18)."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import SHARED
from linksim.camvid import CLASSES, VOID, class_index, read_camvid
from linksim.errors import DatasetError, LinksimError, MetricError
from linksim.metrics import compute_metrics
from linksim.models.segmentation import Segmenter, SegmenterConfig, load_segmenter
from linksim.semantic_metrics import confusion, miou, per_image_scores, pixel_accuracy, segmentation_scores

CAMVID = SHARED / "data" / "camvid"
needs_camvid = pytest.mark.skipif(not (CAMVID / "val.tar").is_file(), reason=f"CamVid not found at {CAMVID}")


# -- metrics ----------------------------------------------------------------------------------
def test_confusion_counts_every_pixel_pair_and_skips_ignored_ones() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (3, 7, 9), generator=g)
    pred = torch.randint(0, 4, (3, 7, 9), generator=g)
    matrix = confusion(pred, target, num_classes=4, ignore=4)
    expected = np.zeros((3, 4, 4), np.int64)
    for b in range(3):
        for t, p in zip(target[b].flatten().tolist(), pred[b].flatten().tolist()):
            if t != 4:
                expected[b, t, p] += 1
    assert np.array_equal(matrix.numpy(), expected)


def test_miou_is_one_for_a_perfect_map_and_zero_for_a_permuted_one() -> None:
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, VOID]]])
    perfect = per_image_scores(target.clone(), target, 4, VOID)
    assert perfect["miou"].item() == 1.0 and perfect["pixel_accuracy"].item() == 1.0
    wrong = per_image_scores((target + 1) % 4, target, 4, VOID)
    assert wrong["miou"].item() == 0.0 and wrong["pixel_accuracy"].item() == 0.0


def test_set_level_scores_by_hand() -> None:
    # class 0: tp 2, fp 1, fn 0 -> 2/3; class 1: tp 1, fp 0, fn 1 -> 1/2
    target = torch.tensor([[[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 0, 0, 1]]])
    matrix = confusion(pred, target, 2).sum(0)
    assert miou(matrix) == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert pixel_accuracy(matrix) == pytest.approx(3 / 4)
    assert per_image_scores(pred, target, 2)["miou"].item() == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_semantic_metrics_need_labels() -> None:
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(MetricError, match="needs label maps"):
        compute_metrics(["psnr", "miou"], x, x)


def test_class_names_are_checked() -> None:
    assert class_index("car", "roi.weights") == CLASSES.index("car")
    with pytest.raises(DatasetError, match="roi.weights: unknown CamVid class 'lorry'.*accepted: sky"):
        class_index("lorry", "roi.weights")


# -- the segmenter ----------------------------------------------------------------------------
def test_segmenter_is_fully_convolutional_and_refuses_other_multiples() -> None:
    model = Segmenter(SegmenterConfig(classes=CLASSES, widths=(4, 8, 16))).eval()
    assert model(torch.rand(2, 3, 24, 32)).shape == (2, len(CLASSES), 24, 32)
    assert model.predict(torch.rand(1, 3, 48, 64)).shape == (1, 48, 64)
    with pytest.raises(LinksimError, match="multiples of 4"):
        model(torch.rand(1, 3, 30, 32))


def test_load_segmenter_refuses_other_checkpoints() -> None:
    with pytest.raises(LinksimError, match="not a segmenter checkpoint"):
        load_segmenter("cifar10-deepjscc-v1")


# -- CamVid -----------------------------------------------------------------------------------
@needs_camvid
def test_camvid_reads_images_with_their_label_maps_at_any_height() -> None:
    pixels, labels, ids = read_camvid(CAMVID, "val", 120, num_images=3, subset_seed=1)
    assert pixels.shape == (3, 120, 160, 3) and pixels.dtype == np.uint8
    assert labels.shape == (3, 120, 160) and labels.max() <= VOID
    assert all(i.startswith("camvid/val/") for i in ids) and ids == sorted(ids)
    native_pixels, native_labels, native_ids = read_camvid(CAMVID, "val", None, num_images=3, subset_seed=1)
    assert native_ids == ids and native_labels.shape == (3, 360, 480)
    # nearest neighbour: every label of the small map occurs in the native one
    assert set(np.unique(labels)) <= set(np.unique(native_labels))


@needs_camvid
def test_camvid_dataset_carries_labels_through_a_sweep(tmp_path: Path, write_scenario) -> None:
    from conftest import small_scenario
    from linksim.scenario import load_scenario
    from linksim.sweep import run_sweep

    data = small_scenario(tmp_path / "out", dataset={"name": "camvid", "root": str(CAMVID), "split": "val",
                                                     "image_size": 48, "num_images": 2},
                          metrics=["psnr", "pixel_accuracy", "miou"], sweep={"snr_db": [-5, 20], "bandwidth_ratio": ["1/3"]},
                          output={"dir": str(tmp_path / "out"), "plots": ["miou_vs_snr"]})
    scenario = load_scenario(write_scenario(data))
    images = scenario.dataset.load()
    assert images.has_labels and images.labels.shape == (2, 48, 64)
    result = run_sweep(scenario, progress=False)
    assert result.rows["pixel_accuracy"].between(0, 1).all()
    # the ceiling: the originals through the same segmenter, per image, averaged
    ceiling = pd.read_csv(tmp_path / "out" / "ceiling.csv").set_index("metric")
    originals = segmentation_scores(images.images, images.labels)
    assert ceiling.loc["miou", "mean"] == pytest.approx(originals["miou"].mean().item(), rel=1e-5)
    assert (tmp_path / "out" / "miou_vs_snr.png").is_file()
    noisy = result.summary[(result.summary.metric == "pixel_accuracy") & (result.summary.snr_db == -5)]["mean"].item()
    assert noisy < ceiling.loc["pixel_accuracy", "mean"]  # SoftCast at -5 dB loses what the segmenter sees


def _tar(path: Path, members: dict[str, Image.Image]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, image in members.items():
            data = io.BytesIO()
            image.save(data, "PNG")
            info = tarfile.TarInfo(name)
            info.size = data.tell()
            data.seek(0)
            archive.addfile(info, data)
    return path


def test_camvid_refuses_unpaired_files_wrong_sizes_and_unknown_classes(tmp_path: Path) -> None:
    image, label = Image.new("RGB", (480, 360)), Image.new("L", (480, 360))
    lonely = _tar(tmp_path / "a.tar", {"val/images/x.png": image})
    with pytest.raises(DatasetError, match="x has an image or a label map but not both"):
        read_camvid(lonely, "val")
    small = _tar(tmp_path / "b.tar", {"val/images/x.png": image, "val/labels/x.png": Image.new("L", (240, 180))})
    with pytest.raises(DatasetError, match="labels/x.png is 240x180, not CamVid's 480x360"):
        read_camvid(small, "val")
    bad = _tar(tmp_path / "c.tar", {"val/images/x.png": image, "val/labels/x.png": Image.new("L", (480, 360), 40)})
    with pytest.raises(DatasetError, match="class index 40 > 11"):
        read_camvid(bad, "val")
    good = _tar(tmp_path / "d.tar", {"val/images/x.png": image, "val/labels/x.png": label})
    with pytest.raises(DatasetError, match="height >= 8 divisible by 3"):
        read_camvid(good, "val", 100)
    with pytest.raises(DatasetError, match="holds no 'test/images/'"):
        read_camvid(good, "test")


@needs_camvid
def test_segmenter_training_writes_a_loadable_checkpoint_and_resumes_exactly(tmp_path: Path) -> None:
    from linksim.training.segmentation import SegmenterTrainConfig, train_segmenter

    common = dict(root=str(CAMVID), heights=[48, 60], crop=(48, 64), widths=(4, 8), batch_size=2,
                  warmup_steps=1, log_every=1, eval_images=2, device="cpu", threads=1)
    whole = SegmenterTrainConfig(steps=4, checkpoint_every=4, out=str(tmp_path / "whole"), **common)
    train_segmenter(whole, progress=False)
    halves = SegmenterTrainConfig(steps=4, checkpoint_every=2, out=str(tmp_path / "halves"), **common)
    first = halves.model_copy(update={"steps": 2})  # stops at 2; the schedule up to step 2 is the same
    train_segmenter(first, progress=False)
    with open(tmp_path / "halves" / "loss.csv", "a") as log:  # a step logged before a crash, not checkpointed
        log.write("3,9.9,0.1,1.0\n")
    train_segmenter(halves, resume=True, progress=False)
    import pandas as pd

    whole_log, halves_log = (pd.read_csv(tmp_path / run / "loss.csv") for run in ("whole", "halves"))
    assert list(halves_log["step"]) == [1, 2, 3, 4]  # the stale row is gone, the redone one is there
    assert halves_log["loss"].tolist() == whole_log["loss"].tolist()
    a = load_segmenter(str(tmp_path / "whole" / "last.safetensors"))
    b = load_segmenter(str(tmp_path / "halves" / "last.safetensors"))
    assert a.classes == CLASSES and a.metadata["step"] == "4"
    assert all(torch.equal(a.model.state_dict()[k], v) for k, v in b.model.state_dict().items())


# -- object-weighted ROI --------------------------------------------------------------------------
def test_segmentation_roi_gives_each_pixel_its_class_weight() -> None:
    from linksim.roi import SegmentationRoi, build_masks

    labels = torch.tensor([[[CLASSES.index("car"), CLASSES.index("road")], [CLASSES.index("pole"), VOID]]])
    masks = build_masks(SegmentationRoi(), torch.rand(1, 3, 2, 2), ["x"], labels)
    assert masks.shape == (1, 1, 2, 2)
    assert masks[0, 0].tolist() == [[1.0, 0.0], [0.5, 0.0]]
    custom = SegmentationRoi(weights={"road": 0.25})
    assert build_masks(custom, torch.rand(1, 3, 2, 2), ["x"], labels)[0, 0].tolist() == [[0.0, 0.25], [0.0, 0.0]]
    with pytest.raises(LinksimError, match="map: labels needs a dataset with label maps"):
        build_masks(SegmentationRoi(), torch.rand(1, 3, 2, 2), ["x"], None)


@pytest.mark.parametrize(("roi", "message"), [
    ({"source": "segmentation", "weights": {"lorry": 1.0}}, r"roi.*unknown CamVid class 'lorry' \(accepted: sky, building"),
    ({"source": "segmentation"}, r"roi: source segmentation with map: labels needs label maps.*map: predicted"),
])
def test_segmentation_roi_bad_input_is_one_line(roi, message, tmp_path, write_scenario, capsys) -> None:
    from conftest import small_scenario
    from linksim.cli import main

    assert main(["validate", str(write_scenario(small_scenario(tmp_path / "o", roi=roi)))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
