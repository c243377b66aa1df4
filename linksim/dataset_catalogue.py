"""The datasets by name with what validation asks of them (native size, label maps, how
``image_size`` reads), without their loaders: :mod:`linksim.data` imports torch and Pillow, a
scenario check needs neither. A loader is imported when a dataset is loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linksim.lazy import import_object

if TYPE_CHECKING:
    from linksim.data import ImageSet


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: a one-line description (for ``linksim list``) and the loader.

    ``loader(*, image_size, num_images, split, root, subset_seed) -> ImageSet``; arguments are
    already checked by :func:`linksim.data.load_dataset`. ``image_size=None`` asks for native size;
    loaders that cannot give it say so (``native``). ``loader_path`` (``"module:function"``)
    names the loader, imported on first use.
    """

    description: str
    loader_path: str
    native: bool = False
    labels: bool = False  # gives per-pixel class maps (what the semantic metrics and schemes need)
    size_is_height: bool = False  # image_size is the height (aspect kept), not the side of a square

    @property
    def loader(self) -> Callable[..., ImageSet]:
        return import_object(self.loader_path)


DATASETS: dict[str, DatasetInfo] = {
    "skimage-samples": DatasetInfo(
        "random crops of the colour photos shipped with scikit-image (no download; default 64)",
        "linksim.data:_load_skimage_samples",
    ),
    "image_folder": DatasetInfo(
        "a folder or .tar of <split>/<class>/<file> images (or a plain folder of images); root required",
        "linksim.data:_load_image_folder",
        native=True,
    ),
    "cifar10": DatasetInfo(
        "official CIFAR-10 python release from root, or downloaded once to ~/.cache/linksim/cifar10",
        "linksim.data:_load_cifar10",
    ),
    "kodak": DatasetInfo(
        "the 24 Kodak photos (768x512, both orientations) from root, checksummed; evaluation only",
        "linksim.data:_load_kodak",
        native=True,
    ),
    "camvid": DatasetInfo(
        "CamVid street scenes with 11-class label maps from root (<root>/<split>.tar); image_size = height, 4:3",
        "linksim.data:_load_camvid",
        native=True,
        labels=True,
        size_is_height=True,
    ),
}


def available_datasets() -> list[str]:
    """Names accepted by :func:`linksim.data.load_dataset`, in registry order."""
    return list(DATASETS)


def size_text(name: str, image_size: int | None) -> str:
    """How ``image_size`` reads for dataset ``name``: ``"32x32"``, ``"120 pixels high"`` or ``"native size"``."""
    if image_size is None:
        return "native size"
    return f"{image_size} pixels high" if DATASETS[name].size_is_height else f"{image_size}x{image_size}"


def labelled_datasets() -> list[str]:
    """Names of the datasets whose images come with per-pixel class maps."""
    return [name for name, info in DATASETS.items() if info.labels]


def native_size_datasets() -> list[str]:
    """Names of the datasets that can give images at their native size (``image_size=None``)."""
    return [name for name, info in DATASETS.items() if info.native]
