"""Datasets: image_folder (real CIFAR-10 JPEG tar + synthetic folders/tars), cifar10 (fake
python release), skimage-samples, and the one-line DatasetError of every user mistake."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from linksim import data as data_module
from linksim.data import DATASETS, ImageSet, available_datasets, load_dataset
from linksim.errors import DatasetError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CIFAR_JPEG_TEST = SHARED_DATA / "cifar10-jpeg" / "test.tar"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def raises_dataset_error(*fragments: str):
    """``pytest.raises(DatasetError)`` that also checks the message is one line holding ``fragments``."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(DatasetError)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self._ctx.__exit__(*exc)
            message = str(self.info.value)
            assert "\n" not in message, message
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in {message!r}"
            return suppressed

    return _Check()


def assert_valid(images: ImageSet, n: int, size: int) -> None:
    assert images.images.shape == (n, 3, size, size)
    assert images.images.dtype == torch.float32 and images.images.is_contiguous()
    assert images.images.min() >= 0.0 and images.images.max() <= 1.0
    assert len(images) == len(images.ids) == n and len(set(images.ids)) == n


# ----------------------------------------------------------------------------------------------
# image_folder on the real CIFAR-10 JPEG copy


@pytest.fixture(scope="module")
def cifar_jpeg_tar() -> Path:
    if not CIFAR_JPEG_TEST.is_file():
        pytest.skip(f"../shared/data not found: {CIFAR_JPEG_TEST} is missing")
    return CIFAR_JPEG_TEST


def test_image_folder_real_tar_random_subset(cifar_jpeg_tar):
    subset = load_dataset("image_folder", image_size=32, num_images=200, root=cifar_jpeg_tar, subset_seed=5)
    assert_valid(subset, 200, 32)
    assert subset.name == "image_folder"
    assert subset.ids == sorted(subset.ids) and all(i.startswith("test/") and i.endswith(".jpg") for i in subset.ids)
    assert {i.split("/")[1] for i in subset.ids} == set(CLASSES)  # random, not the first class only
    assert subset.images.std() > 0.1  # real pictures, not a constant

    again = load_dataset("image_folder", image_size=32, num_images=200, root=str(cifar_jpeg_tar), subset_seed=5)
    assert again.ids == subset.ids and torch.equal(again.images, subset.images)
    other = load_dataset("image_folder", image_size=32, num_images=200, root=cifar_jpeg_tar, subset_seed=6)
    assert other.ids != subset.ids


def test_image_folder_real_tar_too_many(cifar_jpeg_tar):
    with raises_dataset_error("dataset.num_images", "20000", "only 10000", str(cifar_jpeg_tar)):
        load_dataset("image_folder", image_size=32, num_images=20000, root=cifar_jpeg_tar)


# ----------------------------------------------------------------------------------------------
# image_folder on synthetic folders and tars


def colour_image(index: int, size: tuple[int, int] = (8, 8)) -> Image.Image:
    """An image whose colour encodes ``index`` (R = 10 * index), so pixels identify files."""
    return Image.new("RGB", size, (10 * index, 100, 200))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


LAYOUT = {f"test/{c}/{i}.png": 3 * k + i for k, c in enumerate(["cat", "dog"]) for i in range(3)}


def write_folder(root: Path, files: dict[str, int]) -> Path:
    for name, index in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        colour_image(index).save(root / name)
    return root


def write_tar(path: Path, files: dict[str, int], reverse: bool = False) -> Path:
    with tarfile.open(path, "w") as archive:
        for name in sorted(files, reverse=reverse):
            blob = png_bytes(colour_image(files[name]))
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


def red_values(images: ImageSet) -> list[int]:
    return (images.images[:, 0, 0, 0] * 255).round().int().tolist()


def test_folder_and_tar_layouts_agree(tmp_path):
    files = {**LAYOUT, "train/cat/9.png": 20, "test/cat/notes.txt": 0}
    (tmp_path / "dir").mkdir()
    folder = write_folder(tmp_path / "dir", {k: v for k, v in files.items() if k.endswith(".png")})
    (folder / "test/cat/notes.txt").write_text("not an image")
    (folder / "test/cat/._0.png").write_bytes(b"macOS resource fork")  # hidden: skipped
    archive = write_tar(tmp_path / "data.tar", {k: v for k, v in files.items() if k.endswith(".png")})
    for root in (folder, archive):
        images = load_dataset("image_folder", image_size=8, root=root)
        assert_valid(images, 6, 8)
        assert images.ids == sorted(LAYOUT)
        assert red_values(images) == [10 * LAYOUT[i] for i in images.ids]
        train = load_dataset("image_folder", image_size=8, root=root, split="train")
        assert train.ids == ["train/cat/9.png"] and red_values(train) == [200]


def test_subset_does_not_depend_on_archive_order(tmp_path):
    forward = write_tar(tmp_path / "forward.tar", LAYOUT)
    backward = write_tar(tmp_path / "backward.tar", LAYOUT, reverse=True)
    a = load_dataset("image_folder", image_size=8, num_images=4, root=forward, subset_seed=3)
    b = load_dataset("image_folder", image_size=8, num_images=4, root=backward, subset_seed=3)
    assert a.ids == b.ids == sorted(a.ids) and torch.equal(a.images, b.images)
    assert red_values(a) == [10 * LAYOUT[i] for i in a.ids]


def test_plain_folder_of_mixed_images_is_resized_and_cropped(tmp_path):
    # A flat folder (no split, no classes): landscape stripes, grayscale, RGBA, upper-case extension.
    stripes = np.zeros((30, 60, 3), np.uint8)
    stripes[:, :20, 0], stripes[:, 20:40, 1], stripes[:, 40:, 2] = 255, 255, 255
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    Image.new("L", (12, 16), 128).save(tmp_path / "gray.PNG")
    Image.new("RGBA", (10, 10), (0, 255, 0, 0)).save(tmp_path / "alpha.png")
    Image.new("RGB", (10, 10), (0, 0, 255)).save(tmp_path / "blue.webp", lossless=True)
    Image.new("RGB", (10, 10), (255, 255, 255)).save(tmp_path / "white.jpg", quality=95)

    images = load_dataset("image_folder", image_size=10, root=tmp_path)
    assert_valid(images, 5, 10)
    assert images.ids == ["alpha.png", "blue.webp", "gray.PNG", "stripes.png", "white.jpg"]
    alpha, blue, gray, stripes_out, white = images.images
    assert torch.equal(blue, torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 10, 10))
    assert torch.allclose(alpha, torch.tensor([0.0, 1.0, 0.0])[:, None, None])  # alpha dropped
    assert torch.allclose(gray, torch.full_like(gray, 128 / 255), atol=1 / 255)  # L -> RGB, resized
    # 60x30 -> 20x10, centre crop = source columns 15..45: green in the middle, not red or blue.
    assert stripes_out[1, :, 3:7].min() > 0.95 and stripes_out[[0, 2], :, 3:7].max() < 0.05
    assert white.min() > 0.95


def test_folder_of_class_folders_without_split(tmp_path):
    write_folder(tmp_path, {"cat/a.png": 1, "dog/b.png": 2})
    assert load_dataset("image_folder", image_size=8, root=tmp_path).ids == ["cat/a.png", "dog/b.png"]


# ----------------------------------------------------------------------------------------------
# image_folder errors


def test_image_folder_root_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with raises_dataset_error("dataset.root", str(missing)):
        load_dataset("image_folder", image_size=8, root=missing)
    with raises_dataset_error("dataset.root", "image_folder"):
        load_dataset("image_folder", image_size=8)
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello")
    with raises_dataset_error("dataset.root", str(not_tar), "tar"):
        load_dataset("image_folder", image_size=8, root=not_tar)
    (tmp_path / "empty").mkdir()
    with raises_dataset_error("dataset.root", str(tmp_path / "empty"), "no images"):
        load_dataset("image_folder", image_size=8, root=tmp_path / "empty")


def test_image_folder_split_errors(tmp_path):
    root = write_folder(tmp_path / "d", {"train/cat/a.png": 1})
    with raises_dataset_error("dataset.split", "'test/'", "train", str(root)):
        load_dataset("image_folder", image_size=8, root=root)
    (root / "test" / "cat").mkdir(parents=True)
    with raises_dataset_error("dataset.split", "'test/'", "no images", str(root)):
        load_dataset("image_folder", image_size=8, root=root)
    archive = write_tar(tmp_path / "train.tar", {"train/cat/a.png": 1})
    with raises_dataset_error("dataset.split", "'test/'", str(archive)):
        load_dataset("image_folder", image_size=8, root=archive)


def test_unreadable_image_names_its_path(tmp_path):
    root = write_folder(tmp_path / "d", {"test/cat/a.png": 1})
    (root / "test/cat/b.jpg").write_bytes(b"not a jpeg")
    with raises_dataset_error("cannot read image", str(root / "test/cat/b.jpg")):
        load_dataset("image_folder", image_size=8, root=root)
    with tarfile.open(tmp_path / "bad.tar", "w") as archive:
        archive.add(root / "test/cat/b.jpg", arcname="test/cat/b.jpg")
    with raises_dataset_error("cannot read image", f"{tmp_path / 'bad.tar'}:test/cat/b.jpg"):
        load_dataset("image_folder", image_size=8, root=tmp_path / "bad.tar")


def test_subset_size_errors(tmp_path):
    root = write_folder(tmp_path, LAYOUT)
    with raises_dataset_error("dataset.num_images", "7", "only 6", str(root)):
        load_dataset("image_folder", image_size=8, num_images=7, root=root)
    for bad in (0, -3):
        with raises_dataset_error("dataset.num_images", str(bad)):
            load_dataset("image_folder", image_size=8, num_images=bad, root=root)


# ----------------------------------------------------------------------------------------------
# cifar10 (a fake python release with a verifiable pixel layout)

PER_BATCH = 4


def fake_cifar_batch(first: int, count: int) -> dict:
    """Image k: R plane = k, G plane = 3 * column, B plane = 5 * row (row-major 32x32 planes)."""
    rows, cols = np.mgrid[0:32, 0:32]
    planes = [
        np.stack([np.full((32, 32), k), 3 * cols, 5 * rows]).astype(np.uint8).reshape(3072)
        for k in range(first, first + count)
    ]
    return {b"batch_label": b"fake", b"labels": [k % 10 for k in range(first, first + count)],
            b"data": np.stack(planes), b"filenames": [b"x.png"] * count}  # fmt: skip


def write_fake_cifar(parent: Path, protocol: int = 2) -> Path:
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        first = 0 if name == "test_batch" else 100 + b * PER_BATCH  # train images k = 100..119
        (folder / name).write_bytes(pickle.dumps(fake_cifar_batch(first, PER_BATCH), protocol=protocol))
    return folder


def test_cifar10_pixel_layout_and_ids(tmp_path):
    folder = write_fake_cifar(tmp_path)
    for root in (tmp_path, folder):  # the parent or the batches folder itself
        test = load_dataset("cifar10", image_size=32, root=root)
        assert_valid(test, PER_BATCH, 32)
        assert test.name == "cifar10" and test.ids == [f"cifar10/test/{k:05d}" for k in range(PER_BATCH)]
        pixels = (test.images * 255).round().to(torch.uint8)
        cols = torch.arange(32).expand(32, 32)
        for k in range(PER_BATCH):
            assert torch.equal(pixels[k, 0], torch.full((32, 32), k, dtype=torch.uint8))
            assert torch.equal(pixels[k, 1], (3 * cols).to(torch.uint8))
            assert torch.equal(pixels[k, 2], (5 * cols.T).to(torch.uint8))


def test_cifar10_train_subset_and_resize(tmp_path):
    write_fake_cifar(tmp_path, protocol=pickle.HIGHEST_PROTOCOL)
    train = load_dataset("cifar10", image_size=32, split="train", num_images=6, root=tmp_path, subset_seed=1)
    index = [int(i.rsplit("/", 1)[1]) for i in train.ids]
    assert index == sorted(index) and len(set(index)) == 6 and max(index) < 5 * PER_BATCH
    assert red_values(train) == [100 + i for i in index]  # the 5 batches, concatenated in order
    big = load_dataset("cifar10", image_size=48, root=tmp_path, num_images=2, subset_seed=1)
    assert_valid(big, 2, 48)
    assert torch.allclose(big.images[:, 0], big.images[:, 0, :1, :1], atol=1 / 255)  # R stays constant


def test_cifar10_errors(tmp_path):
    missing = tmp_path / "nowhere"
    with raises_dataset_error("dataset.root", str(missing)):
        load_dataset("cifar10", image_size=32, root=missing)
    with raises_dataset_error("dataset.root", str(tmp_path), "cifar-10-batches-py"):
        load_dataset("cifar10", image_size=32, root=tmp_path)
    folder = write_fake_cifar(tmp_path)
    with raises_dataset_error("dataset.split", "'val'", "train, test"):
        load_dataset("cifar10", image_size=32, split="val", root=tmp_path)
    (folder / "data_batch_3").unlink()
    with raises_dataset_error("dataset.root", str(folder / "data_batch_3")):
        load_dataset("cifar10", image_size=32, split="train", root=tmp_path)
    (folder / "test_batch").write_bytes(b"garbage")
    with raises_dataset_error("dataset.root", str(folder / "test_batch")):
        load_dataset("cifar10", image_size=32, root=tmp_path)


def test_cifar10_batch_pickle_cannot_run_code(tmp_path):
    folder = write_fake_cifar(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": print}))  # any global but numpy's
    with raises_dataset_error("dataset.root", "builtins.print"):
        load_dataset("cifar10", image_size=32, root=tmp_path)


class FakeResponse(io.BytesIO):
    """What ``urllib.request.urlopen`` returns, for an in-memory body."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def fake_release_tgz(tmp_path: Path) -> bytes:
    write_fake_cifar(tmp_path / "src")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return buffer.getvalue()


def test_cifar10_download_failure_suggests_offline_options(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKSIM_CACHE", str(tmp_path / "cache"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data_module.urllib.request, "urlopen", offline)
    with raises_dataset_error("download", data_module.CIFAR10_URL, "dataset.root", "image_folder",
                              "../shared/data/cifar10-jpeg/test.tar"):  # fmt: skip
        load_dataset("cifar10", image_size=32)
    assert not (tmp_path / "cache" / "cifar10" / "cifar-10-batches-py").exists()


def test_cifar10_download_verifies_extracts_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LINKSIM_CACHE", str(tmp_path / "cache"))
    body = fake_release_tgz(tmp_path)
    monkeypatch.setattr(data_module.urllib.request, "urlopen", lambda *a, **k: FakeResponse(body))
    with raises_dataset_error("md5"):  # the real checksum does not match the fake release
        load_dataset("cifar10", image_size=32)
    assert [p.name for p in (tmp_path / "cache" / "cifar10").iterdir()] == []  # nothing half-written

    monkeypatch.setattr(data_module, "CIFAR10_MD5", hashlib.md5(body).hexdigest())
    assert load_dataset("cifar10", image_size=32).ids[0] == "cifar10/test/00000"
    monkeypatch.setattr(data_module.urllib.request, "urlopen", None)  # second call: cache only
    assert len(load_dataset("cifar10", image_size=32, num_images=2)) == 2
    assert (tmp_path / "cache" / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()


# ----------------------------------------------------------------------------------------------
# skimage-samples and the registry


def test_skimage_samples_are_deterministic_crops():
    a = load_dataset("skimage-samples", image_size=24, num_images=14, subset_seed=3)
    assert_valid(a, 14, 24)
    photos = list(data_module.SKIMAGE_PHOTOS)
    assert a.ids[:3] == [f"{photos[0]}/crop000", f"{photos[1]}/crop001", f"{photos[2]}/crop002"]
    assert {i.split("/")[0] for i in a.ids} == set(photos)  # round-robin over every photo
    b = load_dataset("skimage-samples", image_size=24, num_images=14, subset_seed=3)
    assert a.ids == b.ids and torch.equal(a.images, b.images)
    c = load_dataset("skimage-samples", image_size=24, num_images=14, subset_seed=4)
    assert not torch.equal(a.images, c.images)
    assert len(load_dataset("skimage-samples", image_size=8)) == data_module.SKIMAGE_DEFAULT_COUNT
    # Crops larger than a photo's downscaled range still work (no downscale, or an upscale).
    assert_valid(load_dataset("skimage-samples", image_size=400, num_images=len(photos)), len(photos), 400)


def test_skimage_samples_errors():
    with raises_dataset_error("dataset.root", "skimage-samples"):
        load_dataset("skimage-samples", image_size=8, root="somewhere")
    with raises_dataset_error("dataset.split", "'train'"):
        load_dataset("skimage-samples", image_size=8, split="train")


def test_registry_and_request_errors():
    assert available_datasets() == list(DATASETS) == ["skimage-samples", "image_folder", "cifar10", "kodak", "camvid"]
    assert all(info.description and callable(info.loader) for info in DATASETS.values())
    with raises_dataset_error("dataset.name", "'mnist'", "skimage-samples, image_folder, cifar10"):
        load_dataset("mnist", image_size=32)
    with raises_dataset_error("dataset.image_size", "0"):
        load_dataset("skimage-samples", image_size=0)


def test_batches_are_views_in_order():
    images = load_dataset("skimage-samples", image_size=8, num_images=5)
    batches = list(images.batches(2))
    assert [ids for _, ids in batches] == [images.ids[0:2], images.ids[2:4], images.ids[4:]]
    assert all(b.data_ptr() == images.images[2 * i].data_ptr() for i, (b, _) in enumerate(batches))
