"""Metrics of semantic preservation: how well a segmentation of a reconstruction agrees with the
label map of the original.

A class map ``pred`` ``[B, H, W]`` (int) is scored against ``target`` ``[B, H, W]`` (int, pixels
equal to ``ignore`` do not count). Two forms:

- set level (:func:`confusion` summed over a set, then :func:`miou` / :func:`pixel_accuracy`):
  the standard CamVid numbers, used in model cards;
- per image (:func:`per_image_scores`): one value per image, so that a sweep can put them in its
  rows and bootstrap a CI. Per-image mIoU averages the IoU over the classes present in the image's
  label map or its prediction (a class absent from both has no defined IoU), so it is not the
  set-level mIoU; a plot compares like with like (its ceiling, the originals through the same
  segmenter, is computed the same way).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import pandas as pd

    from linksim.data import ImageSet

__all__ = ["SEGMENTER", "ceiling", "segment", "confusion", "miou", "pixel_accuracy", "per_image_scores", "segmentation_scores"]

# The zoo checkpoint that judges reconstructions (its card: data, steps, mIoU on CamVid test).
SEGMENTER = "camvid-segmenter-v1"


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore: int | None = None) -> torch.Tensor:
    """``[B, C, C]`` int64 counts per image: entry ``[b, t, p]`` counts pixels of class ``t``
    predicted as ``p`` (one ``bincount``, no loop over images or pixels)."""
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"pred and target must both be [B, H, W], got {tuple(pred.shape)} and {tuple(target.shape)}")
    b = pred.shape[0]
    valid = (target >= 0) & (target < num_classes) if ignore is None else (target != ignore)
    image = torch.arange(b, device=pred.device)[:, None, None].expand_as(pred)
    index = (image * num_classes + target.long()) * num_classes + pred.long().clamp(0, num_classes - 1)
    counts = torch.bincount(index[valid], minlength=b * num_classes * num_classes)
    return counts.view(b, num_classes, num_classes)


def _iou(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU per class ``[..., C]`` and whether it is defined (the class occurs in target or pred)."""
    tp = matrix.diagonal(dim1=-2, dim2=-1).double()
    union = matrix.sum(-1).double() + matrix.sum(-2).double() - tp
    return tp / union.clamp_min(1), union > 0


def miou(matrix: torch.Tensor) -> float:
    """Mean IoU of a set from its summed confusion ``[C, C]``, over the classes that occur."""
    iou, defined = _iou(matrix)
    return float(iou[defined].mean())


def pixel_accuracy(matrix: torch.Tensor) -> float:
    """Share of counted pixels classified correctly, from a confusion ``[C, C]``."""
    return float(matrix.diagonal().sum() / matrix.sum().clamp_min(1))


def per_image_scores(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore: int | None = None) -> dict[str, torch.Tensor]:
    """``{"miou": [B], "pixel_accuracy": [B]}`` float32 (NaN for an image with no counted pixel)."""
    matrix = confusion(pred, target, num_classes, ignore)
    iou, defined = _iou(matrix)
    present = defined.sum(-1)
    image_miou = torch.where(present > 0, (iou * defined).sum(-1) / present.clamp_min(1), torch.nan)
    total = matrix.sum((-2, -1))
    accuracy = torch.where(total > 0, matrix.diagonal(dim1=-2, dim2=-1).sum(-1) / total.clamp_min(1), torch.nan)
    return {"miou": image_miou.float(), "pixel_accuracy": accuracy.float()}


@functools.lru_cache(maxsize=4)
def _segmenter(device: torch.device):  # type: ignore[no-untyped-def]
    from linksim.models.segmentation import load_segmenter

    return load_segmenter(SEGMENTER, str(device))


def segment(x: torch.Tensor) -> torch.Tensor:
    """Class maps ``[B, H, W]`` of images ``[B, 3, H, W]`` in [0, 1] by :data:`SEGMENTER`."""
    return _segmenter(x.device).model.predict(x)


def segmentation_scores(x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image ``miou`` and ``pixel_accuracy`` ``[B]`` of images ``x`` ``[B, 3, H, W]`` in
    [0, 1], segmented by :data:`SEGMENTER`, against class maps ``labels`` ``[B, H, W]``."""
    from linksim.camvid import VOID

    return per_image_scores(segment(x), labels.to(x.device), len(_segmenter(x.device).classes), VOID)


def ceiling(images: "ImageSet", names: list[str], device: str = "cpu") -> "pd.DataFrame":
    """The semantic metrics ``names`` of the original images through the segmenter: what no
    reconstruction can beat (a perfect one scores exactly this). One row per metric: ``metric,
    mean, std, ci95_low, ci95_high, count`` (Student-t CI over the images)."""
    import pandas as pd

    from linksim.results import summarize

    if images.labels is None:
        raise ValueError(f"{images.name} has no label maps")
    values: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    for chunk in torch.arange(len(images)).split(32):  # labelled sets are of one size (ImageSet checks)
        scores = segmentation_scores(images.images[chunk].to(device), images.labels[chunk])
        for name in names:
            values[name].append(scores[name].cpu())
    rows = pd.DataFrame({name: torch.cat(v).numpy() for name, v in values.items()})
    rows = rows.assign(scheme="original images", channel="", snr_db=0.0, bandwidth_ratio=0.0, roi_weight=0.0)
    return summarize(rows, names)[["metric", "mean", "std", "ci95_low", "ci95_high", "count"]]
