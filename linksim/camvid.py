"""CamVid street scenes with per-pixel class labels (the 11-class SegNet version).

The archives (``../shared/data/camvid/{train,val,test}.tar``) hold ``<split>/images/<name>.jpg``
(480x360) and ``<split>/labels/<name>.png`` (one byte per pixel: a class index, 11 = void).
:func:`read_camvid` returns images and label maps at a chosen height (width 4/3 of it, the native
aspect): images resized bicubic (antialiased), labels by nearest neighbour, so a label is always
one of the classes. Ids are ``camvid/<split>/<name>``.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from linksim.errors import DatasetError, LinksimError
from linksim.schema import StrictModel

__all__ = ["CLASSES", "NUM_CLASSES", "VOID", "NATIVE_SIZE", "PALETTE", "LabelledCrops", "class_index", "colourise", "read_camvid"]

CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car",
           "pedestrian", "bicyclist")
NUM_CLASSES = len(CLASSES)
VOID = 11  # unlabelled pixels: ignored by training and by mIoU
NATIVE_SIZE = (360, 480)  # (H, W)
# The colours of the CamVid/SegNet label images (RGB), void last: for drawing label maps.
PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
           (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0))


class MapClasses(StrictModel):
    """The classes a map model (generator, denoiser) takes: its one-hot maps have a plane per
    class and one for void (:attr:`map_channels`)."""

    classes: tuple[str, ...]

    @property
    def map_channels(self) -> int:
        return len(self.classes) + 1

    def check_map(self, shape: tuple[int, ...], multiple: int, model: str) -> None:
        """One-line :class:`LinksimError` unless a map of ``shape`` ``[B, K + 1, H, W]`` has this
        model's planes and sides that are multiples of ``multiple``."""
        k, h, w = shape[-3:]
        if k != self.map_channels:
            raise LinksimError(f"the {model} needs {self.map_channels} map planes, got {k}")
        if h % multiple or w % multiple:
            raise LinksimError(f"the {model} needs image sides that are multiples of {multiple}, got {h}x{w}")


def check_classes(classes: tuple[str, ...], checkpoint: str) -> None:
    """One-line :class:`DatasetError` unless a map model (``checkpoint``) was trained on CamVid's
    classes in CamVid's order: the label maps it is given index them."""
    if tuple(classes) != CLASSES:
        raise DatasetError(f"checkpoint '{checkpoint}' was trained for the classes ({', '.join(classes)}), but the "
                           f"label maps are CamVid's ({', '.join(CLASSES)})")


def class_index(name: str, where: str) -> int:
    """The index of a class name; one-line DatasetError naming ``where`` and the accepted names."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise DatasetError(f"{where}: unknown CamVid class '{name}' (accepted: {', '.join(CLASSES)})") from None


def size_for_height(height: int | None) -> tuple[int, int]:
    """``(H, W)`` at ``height`` pixels high (native 360x480 for ``None``); W keeps the 4:3 aspect."""
    if height is None:
        return NATIVE_SIZE
    if height < 8 or height * 4 % 3:
        raise DatasetError(f"dataset.image_size: camvid needs a height >= 8 divisible by 3 (4:3 aspect), got {height}")
    return height, height * 4 // 3


def _decode(data: bytes, mode: str, size: tuple[int, int], where: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.size != NATIVE_SIZE[::-1]:
                raise DatasetError(f"dataset.root: {where} is {image.size[0]}x{image.size[1]}, not CamVid's 480x360")
            if mode == "L" and image.mode not in ("L", "P"):
                raise DatasetError(f"dataset.root: {where} is {image.mode}, not a one-byte label map")
            image = image.convert(mode)
            if image.size != size[::-1]:
                resample = Image.Resampling.NEAREST if mode == "L" else Image.Resampling.BICUBIC
                image = image.resize(size[::-1], resample)
            return np.asarray(image)
    except DatasetError:
        raise
    except Exception as error:  # Pillow raises many types for corrupt files
        raise DatasetError(f"dataset.root: cannot read {where} ({' '.join(str(error).split())})") from error


def read_camvid(root: str | Path, split: str, height: int | None = None, num_images: int | None = None,
                subset_seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images uint8 ``[N, H, W, 3]``, labels uint8 ``[N, H, W]`` (0..10, 11 void) and ids.

    Args:
        root: the folder holding ``<split>.tar``, or that tar itself.
        split: ``train``, ``val`` or ``test``.
        height: ``H`` (``W = 4 H / 3``); ``None`` keeps 360x480.
        num_images: a seeded random subset (``subset_seed``) of that many, in name order.

    Raises:
        DatasetError: a missing archive or member, an image without its label map (or the other
            way round), a label map whose size differs from its image, a class index above 11.
    """
    path = Path(root).expanduser()
    if path.is_dir():
        path = path / f"{split}.tar"
    if not path.is_file():
        raise DatasetError(f"dataset.root: {path} does not exist (CamVid is <root>/{{train,val,test}}.tar)")
    size = size_for_height(height)
    try:
        with tarfile.open(path) as archive:
            members = {PurePosixPath(m.name).as_posix().removeprefix("./"): m for m in archive.getmembers() if m.isfile()}
            images = {PurePosixPath(n).stem: n for n in members if n.startswith(f"{split}/images/")}
            labels = {PurePosixPath(n).stem: n for n in members if n.startswith(f"{split}/labels/")}
            if not images:
                raise DatasetError(f"dataset.split: {path} holds no '{split}/images/' (CamVid splits: train, val, test)")
            unpaired = sorted(set(images) ^ set(labels))
            if unpaired:
                raise DatasetError(f"dataset.root: {path}: {unpaired[0]} has an image or a label map but not both")
            names = sorted(images)
            if num_images is not None:
                if num_images > len(names):
                    raise DatasetError(f"dataset.num_images: {num_images} requested but {path} holds only {len(names)}")
                pick = np.sort(np.random.default_rng(subset_seed).choice(len(names), num_images, replace=False))
                names = [names[i] for i in pick]
            pixels = np.empty((len(names), *size, 3), np.uint8)
            maps = np.empty((len(names), *size), np.uint8)
            for i, name in enumerate(names):
                read = lambda member: archive.extractfile(members[member]).read()  # type: ignore[union-attr]  # noqa: E731
                pixels[i] = _decode(read(images[name]), "RGB", size, f"{path}:{images[name]}")
                maps[i] = _decode(read(labels[name]), "L", size, f"{path}:{labels[name]}")
    except (tarfile.TarError, OSError) as error:
        raise DatasetError(f"dataset.root: cannot read {path} ({' '.join(str(error).split())})") from error
    if maps.size and maps.max() > VOID:
        bad = int(np.argmax(maps.reshape(len(maps), -1).max(1) > VOID))
        raise DatasetError(f"dataset.root: {path}:{labels[names[bad]]} has class index {int(maps[bad].max())} > {VOID}")
    return pixels, maps, [f"camvid/{split}/{name}" for name in names]


def labelled_tensors(root: str | Path, split: str, height: int, num_images: int | None,
                     device: "torch.device | str" = "cpu") -> tuple["torch.Tensor", "torch.Tensor"]:
    """The first ``num_images`` of ``split`` at ``height`` as images ``[N, 3, H, W]`` in [0, 1]
    and label maps ``[N, H, W]`` (int64) on ``device``."""
    import torch

    pixels, labels, _ = read_camvid(root, split, height, num_images)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255)
    return images.to(device), torch.from_numpy(labels).long().to(device)


class LabelledCrops:
    """What a trainer draws CamVid batches from: the ``split`` at several heights (random scale),
    random ``crop = (h, w)`` crops and random left-right flips, images with their label maps."""

    def __init__(self, root: str | Path, split: str, heights: list[int], crop: tuple[int, int]) -> None:
        self.scales = [read_camvid(root, split, h)[:2] for h in heights]
        self.crop = crop

    def sample(self, batch_size: int, generator: "torch.Generator",
               device: "torch.device | str" = "cpu") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Images ``[B, 3, h, w]`` float in [0, 1] and labels ``[B, h, w]`` int64 on ``device``
        (draws per image: scale, image, offsets, flip)."""
        import torch

        g, (ch, cw) = generator, self.crop
        images, labels = [], []
        for _ in range(batch_size):
            pixels, maps = self.scales[int(torch.randint(len(self.scales), (1,), generator=g))]
            i = int(torch.randint(len(pixels), (1,), generator=g))
            u, v = torch.rand(2, generator=g).tolist()
            top, left = int(u * (pixels.shape[1] - ch + 1)), int(v * (pixels.shape[2] - cw + 1))
            image = torch.from_numpy(pixels[i, top : top + ch, left : left + cw]).permute(2, 0, 1)
            label = torch.from_numpy(maps[i, top : top + ch, left : left + cw])
            if torch.rand(1, generator=g) < 0.5:
                image, label = image.flip(-1), label.flip(-1)
            images.append(image)
            labels.append(label)
        return torch.stack(images).float().div_(255).to(device), torch.stack(labels).long().to(device)


def colourise(labels: "torch.Tensor") -> "torch.Tensor":
    """Label maps ``[B, H, W]`` -> images ``[B, 3, H, W]`` in [0, 1] in the :data:`PALETTE` colours."""
    import torch

    palette = torch.tensor(PALETTE, dtype=torch.float32, device=labels.device) / 255
    return palette[labels.long().clamp(0, VOID)].permute(0, 3, 1, 2)
