"""The metrics by name and what the sweep, the plots and validation know of them
(:class:`MetricSpec`: label, direction, region, label maps, set level), without torch: the
functions themselves live in :mod:`linksim.metrics` and are imported when first computed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linksim.lazy import import_object


@dataclass(frozen=True)
class MetricSpec:
    """A metric as the sweep runner and the plots see it.

    ``fn(x, y, mask)`` maps reconstructions and references ``[B, 3, H, W]`` (and an optional
    mask ``[B, 1, H, W]``) to ``[B]``; ``label`` is the plot axis label. ``region`` says which
    pixels count: ``"all"``, ``"roi"`` (inside the ROI mask) or ``"background"`` (outside it);
    region metrics need ROI masks (the scenario's ``roi:`` block).
    """

    name: str
    function: str | None  # "module:function", None for the semantic metrics (see compute_metrics)
    label: str
    higher_is_better: bool
    unit: str = ""
    region: str = "all"
    needs_labels: bool = False  # scored against the dataset's label maps (``miou``, ``pixel_accuracy``)
    set_level: bool = False  # one value per point, over its images (``fd_alex``, ``kid_alex``)

    @property
    def fn(self) -> Callable[..., Any] | None:
        """The metric's function (imported on first use; torch)."""
        return None if self.function is None else import_object(self.function)


METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec("psnr", "linksim.metrics:psnr", "PSNR [dB]", higher_is_better=True, unit="dB"),
    "ssim": MetricSpec("ssim", "linksim.metrics:ssim", "SSIM", higher_is_better=True),
    "ms_ssim": MetricSpec("ms_ssim", "linksim.metrics:ms_ssim", "MS-SSIM", higher_is_better=True),
    "lpips": MetricSpec("lpips", "linksim.metrics:lpips", "LPIPS (AlexNet)", higher_is_better=False),
    "roi_psnr": MetricSpec("roi_psnr", "linksim.metrics:psnr", "ROI PSNR [dB]", higher_is_better=True, unit="dB", region="roi"),
    "bg_psnr": MetricSpec("bg_psnr", "linksim.metrics:psnr", "background PSNR [dB]", higher_is_better=True, unit="dB", region="background"),
    "roi_lpips": MetricSpec("roi_lpips", "linksim.metrics:lpips", "ROI LPIPS (AlexNet)", higher_is_better=False, region="roi"),
    # the reconstruction segmented by the zoo's CamVid segmenter, against the label map (per image)
    "miou": MetricSpec("miou", None, "mIoU of the segmented reconstruction", higher_is_better=True, needs_labels=True),
    "pixel_accuracy": MetricSpec("pixel_accuracy", None, "pixel accuracy of the segmented reconstruction",
                                 higher_is_better=True, needs_labels=True),
    # distribution distances between a point's reconstructions and originals (linksim.set_metrics)
    "fd_alex": MetricSpec("fd_alex", None, "Fréchet distance (AlexNet conv5)", higher_is_better=False, set_level=True),
    "kid_alex": MetricSpec("kid_alex", None, "KID x 1000 (AlexNet conv5)", higher_is_better=False, set_level=True),
}


def available_metrics() -> list[str]:
    """Names accepted by :func:`compute_metrics` (and a scenario's ``metrics:``)."""
    return list(METRICS)


def region_metrics() -> list[str]:
    """Metrics that need an ROI mask."""
    return [name for name, spec in METRICS.items() if spec.region != "all"]


def set_level_metrics() -> list[str]:
    """Metrics with one value per point (computed by the evaluator, not per image)."""
    return [name for name, spec in METRICS.items() if spec.set_level]


def label_metrics() -> list[str]:
    """Metrics that need the dataset's label maps."""
    return [name for name, spec in METRICS.items() if spec.needs_labels]
