"""Regions of interest: where each image's important content is, as a mask ``[N, 1, H, W]``.

Sources (the scenario's ``roi:`` block):

- ``centre``: a centred ellipse covering ``area`` of the image — a content-blind prior.
- ``saliency``: OpenCV contrib's static saliency (spectral residual, Hou & Zhang 2007, or
  fine-grained), thresholded so that the ``area`` most salient pixels form the ROI; with
  ``block: b`` the saliency is averaged over b x b blocks first and the most salient blocks form
  the ROI (``block: 4`` matches the 4x4 pixels behind each DeepJSCC latent position, so the
  transmitter can weight exactly the ROI; pixel-level saliency on a 32x32 image is scattered and
  only about half of it survives at latent resolution).
- ``mask_folder``: one mask image per dataset image, ``<root>/<image id with .png>``; pixels
  >= 128 are inside.
- ``segmentation``: object-weighted (Gamage et al.): each pixel gets the weight of its class in
  the image's label map (``map: labels``) or in the zoo segmenter's prediction (``map:
  predicted``), from ``weights`` (class name -> weight in [0, 1]; unnamed classes and void 0).
  The default weights favour the objects a street scene is about (car, pedestrian, bicyclist,
  sign 1; pole 0.5) over the background (road, sky, building, ... 0).

Masks are binary, except ``segmentation`` masks, which hold the class weights. How the receiver
learns them is the scheme's business (see :mod:`linksim.schemes.deepjscc`: a coarse mask sent as
counted side information; it keeps the latent positions whose mean weight is >= 0.5).
Each source builds its masks itself (``masks(images, ids, labels)``), so a new source is one
class added to :data:`RoiConfig`.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Union

import numpy as np
from pydantic import Field, field_validator

from linksim.errors import DatasetError, LinksimError
from linksim.inputs import InputFile
from linksim.schema import StrictModel

if TYPE_CHECKING:
    import torch

# torch and Pillow are imported by the functions that make masks: validating a scenario's roi:
# block needs neither.


class CentreRoi(StrictModel):
    """``roi: {source: centre, area: 0.25}``."""

    source: Literal["centre"] = "centre"
    area: float = Field(0.25, gt=0, lt=1)
    needs_labels: ClassVar[bool] = False

    def masks(self, images: torch.Tensor, ids: list[str], labels: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = images.shape
        return centre_masks(n, h, w, self.area)


class SaliencyRoi(StrictModel):
    """``roi: {source: saliency, method: spectral_residual, area: 0.25}``."""

    source: Literal["saliency"] = "saliency"
    method: Literal["spectral_residual", "fine_grained"] = "spectral_residual"
    area: float = Field(0.25, gt=0, lt=1)
    block: int = Field(1, ge=1)
    needs_labels: ClassVar[bool] = False

    def masks(self, images: torch.Tensor, ids: list[str], labels: torch.Tensor | None = None) -> torch.Tensor:
        return saliency_masks(images, self.method, self.area, self.block)


class MaskFolderRoi(StrictModel):
    """``roi: {source: mask_folder, root: DIR}`` with ``DIR/<image id>.png`` per image."""

    source: Literal["mask_folder"] = "mask_folder"
    root: Annotated[str, InputFile()]
    needs_labels: ClassVar[bool] = False

    def masks(self, images: torch.Tensor, ids: list[str], labels: torch.Tensor | None = None) -> torch.Tensor:
        return folder_masks(self.root, ids, tuple(images.shape[-2:]))

    @field_validator("root")
    @classmethod
    def _is_a_folder(cls, value: str) -> str:
        # whether it holds a mask for every image is known once the dataset is loaded (run)
        if not Path(value).expanduser().is_dir():
            raise ValueError(f"{value} does not exist or is not a directory")
        return value


DEFAULT_CLASS_WEIGHTS = {"car": 1.0, "pedestrian": 1.0, "bicyclist": 1.0, "sign": 1.0, "pole": 0.5}


class SegmentationRoi(StrictModel):
    """``roi: {source: segmentation, map: labels, weights: {car: 1, pedestrian: 1, pole: 0.5}}``."""

    source: Literal["segmentation"] = "segmentation"
    map: Literal["labels", "predicted"] = "labels"
    weights: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=lambda: dict(DEFAULT_CLASS_WEIGHTS))

    @field_validator("weights")
    @classmethod
    def _known_classes(cls, value: dict[str, float]) -> dict[str, float]:
        from linksim.camvid import class_index

        for name in value:
            try:
                class_index(name, "weights")
            except DatasetError as exc:
                raise ValueError(str(exc).removeprefix("weights: ")) from None
        return value

    @property
    def needs_labels(self) -> bool:
        return self.map == "labels"

    def class_weights(self) -> torch.Tensor:
        """``[K + 1]``: the weight of each class index (void last, 0)."""
        import torch

        from linksim.camvid import CLASSES, class_index

        table = torch.zeros(len(CLASSES) + 1)
        for name, weight in self.weights.items():
            table[class_index(name, "roi.weights")] = weight
        return table

    def masks(self, images: torch.Tensor, ids: list[str], labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.map == "predicted":
            from linksim.semantic_metrics import segment

            labels = segment(images)
        elif labels is None:
            raise LinksimError("roi.map: labels needs a dataset with label maps (camvid); or set map: predicted")
        return self.class_weights().to(labels.device)[labels.long()][:, None]


#: Every ROI source, named by its ``source`` literal; adding one here is its registration.
ROI_SOURCES = (CentreRoi, SaliencyRoi, MaskFolderRoi, SegmentationRoi)
RoiConfig = Annotated[Union[ROI_SOURCES], Field(discriminator="source")]  # type: ignore[valid-type]


def centre_masks(count: int, height: int, width: int, area: float) -> torch.Tensor:
    """``[count, 1, H, W]``: a centred ellipse with the aspect of the image covering ``area``."""
    import torch

    ys = (torch.arange(height) + 0.5) / height - 0.5
    xs = (torch.arange(width) + 0.5) / width - 0.5
    radius_sq = area / torch.pi  # ellipse with semi-axes r*H, r*W covers pi r^2 of the unit image
    inside = (ys[:, None] ** 2 + xs[None, :] ** 2) <= radius_sq
    return inside.float().expand(count, 1, height, width).clone()


def _top_fraction(scores: np.ndarray, area: float) -> np.ndarray:
    """Binary mask of the ``area`` highest-scoring pixels (ties broken by position)."""
    flat = scores.ravel()
    keep = max(1, round(area * flat.size))
    order = np.argsort(-flat, kind="stable")[:keep]
    mask = np.zeros(flat.size, dtype=np.float32)
    mask[order] = 1.0
    return mask.reshape(scores.shape)


def saliency_masks(images: torch.Tensor, method: str, area: float, block: int = 1) -> torch.Tensor:
    """``[N, 1, H, W]`` from OpenCV contrib's static saliency on images ``[N, 3, H, W]`` in [0, 1].

    ``block > 1``: the top ``area`` of ``block x block`` blocks by mean saliency (H, W multiples of it).
    """
    import torch

    h, w = images.shape[-2:]
    if h % block or w % block:
        raise LinksimError(f"roi.block: {block} does not divide the image size {h}x{w}")
    try:
        import cv2
    except ImportError:  # pragma: no cover - a dependency of linksim
        raise LinksimError("roi.source=saliency needs OpenCV contrib: pip install opencv-contrib-python-headless") from None
    make = {"spectral_residual": cv2.saliency.StaticSaliencySpectralResidual_create,
            "fine_grained": cv2.saliency.StaticSaliencyFineGrained_create}[method]
    detector = make()
    pixels = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)[..., ::-1]  # RGB -> BGR
    masks = []
    for image in pixels:  # OpenCV works one image at a time
        ok, scores = detector.computeSaliency(np.ascontiguousarray(image))
        if not ok:
            raise LinksimError(f"roi: OpenCV {method} saliency failed on an image of size {image.shape[:2]}")
        scores = np.asarray(scores, dtype=np.float32).reshape(h // block, block, w // block, block).mean(axis=(1, 3))
        masks.append(np.kron(_top_fraction(scores, area), np.ones((block, block), dtype=np.float32)))
    return torch.from_numpy(np.stack(masks))[:, None]


def folder_masks(root: str, ids: list[str], size: tuple[int, int]) -> torch.Tensor:
    """``[N, 1, H, W]`` read from ``root/<id>.png`` (id's extension replaced), resized (nearest)."""
    import torch
    from PIL import Image

    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError(f"roi.root: {folder} does not exist or is not a directory")
    masks = []
    for image_id in ids:
        path = folder / PurePosixPath(image_id).with_suffix(".png")
        if not path.is_file():
            raise DatasetError(f"roi.root: no mask {path} for image '{image_id}'")
        mask = Image.open(path).convert("L").resize((size[1], size[0]), Image.NEAREST)
        masks.append((np.asarray(mask) >= 128).astype(np.float32))
    return torch.from_numpy(np.stack(masks))[:, None]


def build_masks(config: CentreRoi | SaliencyRoi | MaskFolderRoi | SegmentationRoi, images: torch.Tensor,
                ids: list[str], labels: torch.Tensor | None = None) -> torch.Tensor:
    """ROI masks ``[N, 1, H, W]`` in [0, 1] for images ``[N, 3, H, W]`` with dataset ids ``ids``
    and, where the dataset has them, label maps ``[N, H, W]``."""
    return config.masks(images, ids, labels)
