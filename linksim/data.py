"""Image datasets for the sweep runner.

Every loader returns an :class:`ImageSet`: ``images`` is a float32 tensor ``[N, 3, S, S]`` in
``[0, 1]`` (RGB, ``S = image_size``) and ``ids`` names each image stably (the same id always means
the same source pixels), so result rows can be traced back to their image.

Datasets (``DATASETS``, in :mod:`linksim.dataset_catalogue`, maps name -> description and loader):

- ``cifar10``: the official CIFAR-10 *python* release (``cifar-10-batches-py/``), read from
  ``root`` or from the cache (downloaded once on machines with internet).
- ``image_folder``: a directory or a ``.tar`` archive of images, laid out as
  ``<split>/<class>/<file>``, or a plain folder of images (see :func:`_split_members`).
- ``skimage-samples``: deterministic random crops of the colour photographs that ship inside the
  scikit-image wheel, so a fresh machine can run the quickstart with no data at all.
- ``kodak``: the 24 Kodak originals, every file checked against its published SHA-256.
- ``camvid``: CamVid street scenes with their 11-class label maps (``ImageSet.labels``);
  ``image_size`` is the height, the width keeps the 4:3 aspect (:mod:`linksim.camvid`).

Common rules: ``num_images`` picks a seeded random subset (``subset_seed``) that does not depend on
file-system or archive order; images that are not ``S x S`` get their shorter side resized to
``S`` (bicubic, antialiased) and are centre-cropped. ``image_size=None`` keeps the native size
(``image_folder``, ``kodak``): images of several sizes are then batched size by size; an optional
centre ``crop`` applies after. Every user-facing problem raises
:class:`~linksim.errors.DatasetError` with a one-line message naming the path or field.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from linksim.dataset_catalogue import (  # noqa: F401 (re-exported: the catalogue's home before)
    DATASETS,
    DatasetInfo,
    available_datasets,
    labelled_datasets,
    native_size_datasets,
    size_text,
)
from linksim.errors import DatasetError

__all__ = ["DATASETS", "DatasetInfo", "ImageSet", "available_datasets", "load_dataset"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
# Folder names that mark a split level; used to refuse a silent fallback to "all images".
SPLIT_NAMES = frozenset({"train", "test", "val", "valid", "validation"})
SKIMAGE_DEFAULT_COUNT = 64

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
OFFLINE_HINT = "{name: image_folder, root: ../shared/data/cifar10-jpeg/test.tar}"


# ----------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensors with == is not a bool
class ImageSet:
    """A loaded dataset.

    Attributes:
        images: ``[N, 3, H, W]`` float32 in ``[0, 1]``, RGB, contiguous, on the CPU, when every
            image has the same size; otherwise a list of ``N`` tensors ``[3, H_i, W_i]`` (a
            native-size dataset such as Kodak, 768x512 and 512x768): see :meth:`size_groups`.
        ids: ``N`` stable, human-readable ids (e.g. ``"test/cat/0042.jpg"``,
            ``"cifar10/test/00042"``, ``"astronaut/crop003"``, ``"kodim01"``).
        name: the dataset name (a key of :data:`DATASETS`).
        labels: ``[N, H, W]`` uint8 class maps (``camvid``: 0-10, 11 void), or ``None`` for a
            dataset without them.
    """

    images: torch.Tensor | list[torch.Tensor]
    ids: list[str]
    name: str
    labels: torch.Tensor | None = None

    @property
    def has_labels(self) -> bool:
        """Whether every image comes with a per-pixel class map (``labels``)."""
        return self.labels is not None

    def __post_init__(self) -> None:
        shapes = [tuple(self.images.shape[1:])] if isinstance(self.images, torch.Tensor) else \
            [tuple(image.shape) for image in self.images]
        if isinstance(self.images, torch.Tensor) and self.images.ndim != 4 or any(len(s) != 3 or s[0] != 3 for s in shapes):
            raise ValueError(f"images must be [N, 3, H, W] or a list of [3, H, W], got {shapes[:3]}")
        if len(self.ids) != len(self.images):
            raise ValueError(f"{len(self.ids)} ids for {len(self.images)} images")
        if self.labels is not None and (not self.uniform or tuple(self.labels.shape) != (len(self), *self.images.shape[-2:])):
            raise ValueError(f"labels must be [N, H, W] matching the images, got {tuple(self.labels.shape)}")

    @classmethod
    def from_pixels(cls, pixels: Sequence[np.ndarray], ids: list[str], name: str) -> "ImageSet":
        """uint8 ``[H, W, 3]`` images -> an ImageSet (one tensor when they share a size)."""
        if len({p.shape for p in pixels}) == 1:
            return cls(_to_tensor(np.stack(pixels)), ids, name)
        return cls([_to_tensor(p[None])[0] for p in pixels], ids, name)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def uniform(self) -> bool:
        """Whether every image has the same size (``images`` is one tensor)."""
        return isinstance(self.images, torch.Tensor)

    def size_groups(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(indices [n], images [n, 3, H, W])`` per image size, in order of first appearance;
        one group holding everything when the images share a size."""
        if isinstance(self.images, torch.Tensor):
            return [(torch.arange(len(self)), self.images)]
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(self.images):
            by_size.setdefault(tuple(image.shape[-2:]), []).append(i)
        return [(torch.tensor(index), torch.stack([self.images[i] for i in index])) for index in by_size.values()]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, list[str]]]:
        """Yield ``([B, 3, H, W], ids)`` pairs, size group by size group, in order within a group;
        the last batch of a group may be smaller."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        for index, images in self.size_groups():
            for start in range(0, len(index), batch_size):
                yield images[start : start + batch_size], [self.ids[i] for i in index[start : start + batch_size].tolist()]


# ----------------------------------------------------------------------------------------------
# Shared helpers


def _subset(num_available: int, num_images: int | None, subset_seed: int, where: str) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``range(num_available)`` (all if ``None``).

    Random rather than "the first N" because class-ordered sources (a CIFAR tar) would otherwise
    yield a single class; sorted so the images keep the order of the sorted source list.
    """
    if num_images is None:
        return np.arange(num_available)
    if num_images > num_available:
        raise DatasetError(f"dataset.num_images: {num_images} requested but {where} holds only {num_available} images")
    rng = np.random.default_rng(subset_seed)
    return np.sort(rng.choice(num_available, num_images, replace=False))


def _resize_short_side(image: Image.Image, short_side: int) -> Image.Image:
    """Resize (bicubic, keeping the aspect ratio) so the shorter side is ``short_side`` pixels.

    Pillow widens the filter support when shrinking, so downscaling is antialiased.
    """
    width, height = image.size
    scale = short_side / min(width, height)
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def _fit(image: Image.Image, size: int) -> Image.Image:
    """Shorter side resized to ``size``, then the centre ``size x size`` crop."""
    image = _resize_short_side(image, size)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> float32 ``[N, 3, H, W]`` in ``[0, 1]`` (one vectorised pass)."""
    # Transposing the uint8 array first keeps the expensive float copy contiguous and single.
    nchw = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
    return torch.from_numpy(nchw).to(torch.float32).div_(255.0)


def _one_line(error: BaseException) -> str:
    """An exception as one line (errors.py promises one-line messages)."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _existing_root(root: str | Path | None, dataset: str) -> Path:
    """``root`` as an existing path, or a DatasetError naming ``dataset.root``."""
    if root is None:
        raise DatasetError(f"dataset.root: {dataset} needs a root (a folder or .tar of images)")
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset.root: {path} does not exist")
    return path


# ----------------------------------------------------------------------------------------------
# image_folder: a directory or a tar archive


def _is_image_name(name: str) -> bool:
    """An image file by extension, skipping hidden files and folders (``.DS_Store``, ``._x.jpg``)."""
    path = PurePosixPath(name)
    return path.suffix.lower() in IMAGE_EXTENSIONS and not any(p.startswith(".") for p in path.parts)


def _list_directory(root: Path) -> list[str]:
    """Relative POSIX paths of all image files under ``root`` (recursive)."""
    names = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [n for n in names if _is_image_name(n)]


def _tar_names(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """All members of an archive by normalised name (``./test/a.jpg`` -> ``test/a.jpg``)."""
    return {PurePosixPath(m.name).as_posix().removeprefix("./"): m for m in archive.getmembers()}


def _split_members(names: Sequence[str], split: str, has_split_folder: bool, where: str) -> list[str]:
    """The sorted image names that belong to ``split``.

    Layout rules: if a top-level ``<split>/`` folder exists, take every image below it
    (``<split>/<class>/<file>``, any depth). Otherwise the root is a plain collection of images
    (flat, or ``<class>/<file>``) and every image is taken, unless some folder is named like a
    split (train/test/val/...): then the requested split is missing and silently reading another
    split instead would be wrong.
    """
    if has_split_folder:
        in_split = sorted(n for n in names if n.startswith(f"{split}/"))
        if not in_split:
            raise DatasetError(
                f"dataset.split: {where}: the '{split}/' folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return in_split
    splits = sorted({p for n in names for p in PurePosixPath(n).parts[:-1] if p in SPLIT_NAMES})
    if splits:
        raise DatasetError(
            f"dataset.split: no '{split}/' folder at the top of {where} (split folders found: "
            f"{', '.join(splits)}; expected <split>/<class>/<file>)"
        )
    if not names:
        raise DatasetError(f"dataset.root: {where} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return sorted(names)


def _decode(data: bytes, size: int | None, where: str) -> np.ndarray:
    """Encoded image bytes -> uint8 RGB ``[size, size, 3]`` (``size=None``: native ``[H, W, 3]``).

    At native size only RGB files are accepted: a greyscale or RGBA file in an evaluation set is
    almost always a mistake, and converting it silently would change what is measured.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if size is None and image.mode != "RGB":
                raise DatasetError(f"dataset.root: {where} is {image.mode}, not 8-bit RGB (convert it to RGB)")
            image = image.convert("RGB")
            return np.asarray(image if size is None else _fit(image, size))
    except DatasetError:
        raise
    except Exception as error:  # Pillow raises many types for corrupt files (OSError, SyntaxError, ...)
        raise DatasetError(f"dataset.root: cannot read image {where} ({_one_line(error)})") from error


Reader = Callable[[Sequence[str]], Iterator[bytes]]


@contextlib.contextmanager
def _open_image_source(path: Path, split: str) -> Iterator[tuple[list[str], bool, Reader]]:
    """Yield ``(image names, has <split>/ folder, read)`` for a directory or a tar.

    ``read(names)`` yields the encoded bytes of those images, in the order given.
    """
    if path.is_dir():

        def read_files(names: Sequence[str]) -> Iterator[bytes]:
            for name in names:
                try:
                    yield (path / name).read_bytes()
                except OSError as error:
                    raise DatasetError(f"dataset.root: cannot read {path / name} ({_one_line(error)})") from error

        yield _list_directory(path), (path / split).is_dir(), read_files
        return
    try:
        archive = tarfile.open(path)
    except (tarfile.TarError, OSError) as error:
        raise DatasetError(
            f"dataset.root: {path} is neither a folder nor a readable tar archive ({_one_line(error)})"
        ) from error
    with archive:
        everything = _tar_names(archive)
        members = {n: m for n, m in everything.items() if m.isfile() and _is_image_name(n)}
        # Directory entries are optional in tars, so the split folder exists if anything is below it.
        has_split = split in everything or any(n.startswith(f"{split}/") for n in everything)

        def read_members(names: Sequence[str]) -> Iterator[bytes]:
            # Read in archive order (one forward pass, cheap even for .tar.gz), yield in request order.
            order = sorted(range(len(names)), key=lambda i: members[names[i]].offset_data)
            blobs: dict[int, bytes] = {}
            for i in order:
                try:
                    blobs[i] = archive.extractfile(members[names[i]]).read()  # type: ignore[union-attr]
                except (tarfile.TarError, OSError, EOFError, zlib.error) as error:  # truncated .tar.gz too
                    raise DatasetError(f"dataset.root: cannot read {path}:{names[i]} ({_one_line(error)})") from error
            for i in range(len(names)):
                yield blobs.pop(i)

        yield list(members), has_split, read_members


def read_image_folder(
    root: str | Path | None, split: str, num_images: int | None, subset_seed: int, size: int | None
) -> tuple[list[np.ndarray], list[str]]:
    """Decoded uint8 ``[H, W, 3]`` images of a folder or tar (``<split>/<class>/<file>`` or plain)
    and their ids (paths in the root): ``size x size`` (shorter side resized, centre crop), or at
    native size with ``size=None``."""
    path = _existing_root(root, "image_folder")
    archive = path.is_file()
    with _open_image_source(path, split) as (names, has_split, read):
        names = _split_members(names, split, has_split, str(path))
        where = f"{path} (split '{split}')" if has_split else str(path)
        chosen = [names[i] for i in _subset(len(names), num_images, subset_seed, where)]
        pixels = [_decode(data, size, f"{path}:{name}" if archive else str(path / name))
                  for name, data in zip(chosen, read(chosen), strict=True)]
    return pixels, chosen


def _load_image_folder(
    *, image_size: int | None, num_images: int | None, split: str, root: str | Path | None, subset_seed: int
) -> ImageSet:
    """Images from a folder or tar (``<split>/<class>/<file>`` or plain); ids are paths in the root."""
    pixels, ids = read_image_folder(root, split, num_images, subset_seed, image_size)
    return ImageSet.from_pixels(pixels, ids, "image_folder")


# ----------------------------------------------------------------------------------------------
# cifar10: the official python release


def _cache_dir() -> Path:
    """``$LINKSIM_CACHE/cifar10``, else ``${XDG_CACHE_HOME:-~/.cache}/linksim/cifar10``."""
    base = os.environ.get("LINKSIM_CACHE")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "linksim")
    return Path(base).expanduser() / "cifar10"


def _find_cifar10(root: Path) -> Path | None:
    """The ``cifar-10-batches-py`` folder at ``root`` or inside it, if any."""
    for candidate in (root / CIFAR10_DIRNAME, root):
        if (candidate / "test_batch").is_file() or (candidate / "data_batch_1").is_file():
            return candidate
    return None


def _download(url: str, target: Path, md5: str) -> None:
    """Stream ``url`` to ``target`` with a progress bar; DatasetError if it fails or mismatches."""
    from tqdm import tqdm  # only needed here; keeps `import linksim.data` light

    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc="cifar10 download", disable=None) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as error:  # URLError/timeouts are OSErrors
        raise DatasetError(
            f"cifar10: download of {url} failed ({_one_line(error)}); set dataset.root to a copy of the "
            f"official CIFAR-10 python release, or use the offline JPEG copy: {OFFLINE_HINT}"
        ) from error
    if digest.hexdigest() != md5:
        raise DatasetError(f"cifar10: {url} downloaded with md5 {digest.hexdigest()}, expected {md5}; try again")


def _fetch_cifar10(cache: Path) -> Path:
    """Download and extract CIFAR-10 into ``cache`` once; returns the batches folder.

    Atomic: everything happens in a temporary folder inside ``cache`` and the extracted folder is
    renamed into place at the end, so an interrupted download never leaves a half-written copy.
    """
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / CIFAR10_DIRNAME
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        archive_path = Path(tmp) / "cifar-10-python.tar.gz"
        _download(CIFAR10_URL, archive_path, CIFAR10_MD5)
        with tarfile.open(archive_path) as archive:
            archive.extractall(tmp, filter="data")  # "data" filter: no absolute paths or links out
        try:
            os.replace(Path(tmp) / CIFAR10_DIRNAME, final)
        except OSError:
            if _find_cifar10(cache) is None:  # not a concurrent download that finished first
                raise
    return final


def _cifar10_dir(root: str | Path | None) -> Path:
    """The batches folder: from ``root``, else the cache, else a fresh download into the cache."""
    if root is not None:
        path = _existing_root(root, "cifar10")
        found = _find_cifar10(path)
        if found is None:
            raise DatasetError(
                f"dataset.root: {path} holds neither {CIFAR10_DIRNAME}/ nor test_batch "
                "(expected the official CIFAR-10 python release)"
            )
        return found
    cache = _cache_dir()
    return _find_cifar10(cache) or _fetch_cifar10(cache)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: a batch file must not run code."""

    # What numpy arrays pickle to: protocol 2 (the official py2 files; py3 adds _codecs.encode for
    # bytes) and protocol 5 (_frombuffer), under numpy 1 (numpy.core) and numpy 2 (numpy._core).
    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    })  # fmt: skip

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _read_cifar10_batch(path: Path) -> np.ndarray:
    """One batch file -> uint8 ``[N, 3, 32, 32]`` (stored as R, G, B planes, row-major)."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = batch[b"data"] if b"data" in batch else batch["data"]  # str keys if read as latin1
        return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    except FileNotFoundError as error:
        raise DatasetError(f"dataset.root: {path} is missing (incomplete CIFAR-10 copy)") from error
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(f"dataset.root: {path} is not a CIFAR-10 batch ({_one_line(error)})") from error


def _load_cifar10(
    *, image_size: int, num_images: int | None, split: str, root: str | Path | None, subset_seed: int
) -> ImageSet:
    """CIFAR-10 from the python release; ids ``cifar10/<split>/<index in split>``."""
    if split not in CIFAR10_FILES:
        raise DatasetError(f"dataset.split: '{split}' is not a cifar10 split (accepted: {', '.join(CIFAR10_FILES)})")
    folder = _cifar10_dir(root)
    data = np.concatenate([_read_cifar10_batch(folder / name) for name in CIFAR10_FILES[split]])
    index = _subset(len(data), num_images, subset_seed, f"{folder} (split '{split}')")
    pixels = data[index].transpose(0, 2, 3, 1)  # [N, 32, 32, 3]
    if image_size != 32:
        pixels = np.stack([np.asarray(_fit(Image.fromarray(p), image_size)) for p in pixels])
    ids = [f"cifar10/{split}/{i:05d}" for i in index]
    return ImageSet(_to_tensor(pixels), ids, "cifar10")


# ----------------------------------------------------------------------------------------------
# skimage-samples: crops of the photographs in the scikit-image wheel


def _motorcycle_left() -> np.ndarray:
    import skimage.data

    return skimage.data.stereo_motorcycle()[0]


# Colour photographs whose files are inside the scikit-image wheel (checked to load without a
# pooch download on 0.26). Synthetic images (colorwheel, logo) are excluded; so are retina and
# hubble_deep_field, whose large black areas would give many constant crops. `cat` is chelsea.
SKIMAGE_PHOTOS: dict[str, str | Callable[[], np.ndarray]] = {
    "astronaut": "astronaut",
    "chelsea": "chelsea",
    "coffee": "coffee",
    "rocket": "rocket",
    "motorcycle": _motorcycle_left,
    "immunohistochemistry": "immunohistochemistry",
}


@functools.cache
def _skimage_photo(name: str) -> Image.Image:
    """One photograph as an RGB PIL image (cached: the files are decoded once per process)."""
    import skimage.data

    source = SKIMAGE_PHOTOS[name]
    try:
        pixels = source() if callable(source) else getattr(skimage.data, source)()
    except Exception as error:  # e.g. a trimmed install where skimage would need to download
        raise DatasetError(
            f"skimage-samples: photo '{name}' cannot be loaded offline from scikit-image ({_one_line(error)})"
        ) from error
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8)).convert("RGB")


def _random_crop(photo: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """Downscale so the shorter side is uniform in ``[2, 4] * size`` (never upscaling beyond the
    photo unless it is smaller than ``size``), then take a uniformly placed ``size x size`` crop.

    The downscale gives crops with whole-object content at small sizes, as in CIFAR-like data.
    """
    short_side = max(size, min(photo.width, photo.height, round(rng.uniform(2.0, 4.0) * size)))
    scaled = _resize_short_side(photo, short_side)
    top, left = int(rng.integers(0, scaled.height - size + 1)), int(rng.integers(0, scaled.width - size + 1))
    return np.asarray(scaled.crop((left, top, left + size, top + size)))


def _load_skimage_samples(
    *, image_size: int, num_images: int | None, split: str, root: str | Path | None, subset_seed: int
) -> ImageSet:
    """``num_images`` (default 64) crops, round-robin over the photographs; ids ``<photo>/cropNNN``."""
    if root is not None:
        raise DatasetError(f"dataset.root: skimage-samples takes no root (got {root}); remove the field")
    if split != "test":
        raise DatasetError(f"dataset.split: skimage-samples has only the split 'test', got '{split}'")
    count = SKIMAGE_DEFAULT_COUNT if num_images is None else num_images
    rng = np.random.default_rng(subset_seed)
    names = list(SKIMAGE_PHOTOS)
    width = max(3, len(str(count - 1)))  # zero-padded ids sort in crop order
    pixels = np.empty((count, image_size, image_size, 3), np.uint8)
    ids = []
    for i in range(count):
        name = names[i % len(names)]
        pixels[i] = _random_crop(_skimage_photo(name), image_size, rng)
        ids.append(f"{name}/crop{i:0{width}d}")
    return ImageSet(_to_tensor(pixels), ids, "skimage-samples")


# ----------------------------------------------------------------------------------------------
# kodak: the 24 Kodak lossless true-colour photographs, checksummed

KODAK_URL = "https://r0k.us/graphics/kodak/kodak/{name}"
KODAK_SUMS = Path(__file__).parent / "checksums" / "kodak.sha256"  # the published SHA-256 of each file


def _kodak_sums() -> dict[str, str]:
    """``{file name: sha256}`` of the 24 originals (shipped with the package)."""
    pairs = (line.split() for line in KODAK_SUMS.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


def _download_kodak(folder: Path, names: Sequence[str]) -> None:
    """Fetch missing Kodak files into ``folder`` (atomically, one file at a time)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / name
        if target.exists():
            continue
        try:
            with urllib.request.urlopen(KODAK_URL.format(name=name), timeout=60) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise DatasetError(
                f"kodak: download of {KODAK_URL.format(name=name)} failed ({_one_line(error)}); set dataset.root "
                "to a folder holding kodim01.png ... kodim24.png"
            ) from error
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)


def _load_kodak(
    *, image_size: int | None, num_images: int | None, split: str, root: str | Path | None, subset_seed: int
) -> ImageSet:
    """Kodak from ``root`` (or downloaded once to the cache); every file's SHA-256 is checked
    against the published checksums, so an altered or recompressed copy is refused. Ids
    ``kodim01`` ... ``kodim24``; 768x512 and 512x768 at native size."""
    if split != "test":
        raise DatasetError(f"dataset.split: kodak has only the split 'test' (evaluation only), got '{split}'")
    sums = _kodak_sums()
    if root is None:
        folder = _cache_dir().parent / "kodak"
        _download_kodak(folder, list(sums))
    else:
        folder = _existing_root(root, "kodak")
    files: dict[str, bytes] = {}  # read once: checked, then decoded
    for name, expected in sums.items():
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"dataset.root: {path} is missing (Kodak is kodim01.png ... kodim24.png)")
        files[name] = path.read_bytes()
        if hashlib.sha256(files[name]).hexdigest() != expected:
            raise DatasetError(f"dataset.root: {path} fails its checksum (not the original Kodak file)")
    names = list(sums)
    chosen = [names[i] for i in _subset(len(names), num_images, subset_seed, str(folder))]
    pixels = [_decode(files[name], image_size, str(folder / name)) for name in chosen]
    return ImageSet.from_pixels(pixels, [PurePosixPath(name).stem for name in chosen], "kodak")


# ----------------------------------------------------------------------------------------------
# camvid: street scenes with per-pixel class labels


def _load_camvid(
    *, image_size: int | None, num_images: int | None, split: str, root: str | Path | None, subset_seed: int
) -> ImageSet:
    """CamVid (:mod:`linksim.camvid`) with its label maps; ``image_size`` is the height (the
    width keeps the 4:3 aspect: 120 -> 120x160), native 360x480."""
    from linksim.camvid import read_camvid

    pixels, labels, ids = read_camvid(_existing_root(root, "camvid"), split, image_size, num_images, subset_seed)
    return ImageSet(_to_tensor(pixels), ids, "camvid", torch.from_numpy(labels))


# ----------------------------------------------------------------------------------------------
# Entry point (the registry is linksim.dataset_catalogue.DATASETS)


def centre_crop(images: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The centre ``h x w`` of images ``[..., H, W]`` (all of a side that is shorter)."""
    top, left = max(0, (images.shape[-2] - h) // 2), max(0, (images.shape[-1] - w) // 2)
    return images[..., top : top + h, left : left + w]


def _centre_crop(images: ImageSet, crop: tuple[int, int]) -> ImageSet:
    """The centre ``crop = (h, w)`` of every image; DatasetError naming an image that is smaller."""
    h, w = crop
    stacked = torch.empty(len(images), 3, h, w)
    for index, group in images.size_groups():
        if group.shape[-2] < h or group.shape[-1] < w:
            raise DatasetError(f"dataset.crop: {h}x{w} is larger than image {images.ids[int(index[0])]} "
                               f"({group.shape[-2]}x{group.shape[-1]})")
        stacked[index] = centre_crop(group, h, w)
    labels = None if images.labels is None else centre_crop(images.labels, h, w).contiguous()
    return ImageSet(stacked, images.ids, images.name, labels)


def load_dataset(
    name: str,
    *,
    image_size: int | None,
    num_images: int | None = None,
    split: str = "test",
    root: str | Path | None = None,
    subset_seed: int = 0,
    crop: tuple[int, int] | None = None,
) -> ImageSet:
    """Load ``num_images`` images (all if ``None``) of dataset ``name``.

    Args:
        name: a key of :data:`DATASETS`.
        image_size: side ``S`` of square ``[N, 3, S, S]`` images (shorter side resized, centre
            crop), or ``None`` for the native size (no resize; sizes may differ, see
            :meth:`ImageSet.size_groups`), where the dataset supports it.
        num_images: size of the seeded random subset (``subset_seed``); for ``skimage-samples``
            the number of crops (default 64).
        split: split folder / CIFAR-10 split (``train`` or ``test``).
        root: where the data lives (see each dataset); relative paths are relative to the cwd.
        subset_seed: seed of the subset (or of the crops for ``skimage-samples``).
        crop: ``(h, w)``: then the centre ``h x w`` of every image (after any resize).

    Raises:
        DatasetError: for any problem with the request or the data, in one line.
    """
    if name not in DATASETS:
        raise DatasetError(f"dataset.name: unknown dataset '{name}' (accepted: {', '.join(DATASETS)})")
    if image_size is None and not DATASETS[name].native:
        raise DatasetError(f"dataset.image_size: {name} has no native size; give a number "
                           f"(native size: {', '.join(native_size_datasets())})")
    if image_size is not None and image_size <= 0:
        raise DatasetError(f"dataset.image_size: must be a positive number of pixels, got {image_size}")
    if num_images is not None and num_images <= 0:
        raise DatasetError(f"dataset.num_images: must be a positive number of images, got {num_images}")
    images = DATASETS[name].loader(
        image_size=image_size, num_images=num_images, split=split, root=root, subset_seed=subset_seed
    )
    return images if crop is None else _centre_crop(images, crop)
