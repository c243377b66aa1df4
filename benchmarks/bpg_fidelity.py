"""The ``hevc`` codec against the reference bpgenc: PSNR at equal bits, and the cost of ``fit``.

Fidelity. For each image and each QP of ``--qps``, the real bpgenc/bpgdec (the project's ``bpg``
codec, with ``--bpg-tools`` first on ``PATH``) give a file size and a PSNR. The ``hevc`` codec is
encoded at the QPs next to it until two neighbouring QPs bracket bpgenc's size, and its PSNR is
interpolated there (linear in log bits): ``diff`` is hevc minus bpgenc at equal bits. Also
listed: hevc at the same QP (its size over bpgenc's, its PSNR minus bpgenc's). Images: the
first ``--kodak`` Kodak photos centre-cropped to ``--size`` (256x256), and ``--cifar`` CIFAR-10
test images (32x32) evenly spaced in the sorted members of the JPEG copy
``cifar10-jpeg/test.tar`` (not bit-exact CIFAR-10, see ``../shared/data/README.md``).

Rate search. Each set is fitted again by a fresh codec (empty caches), image by image, at the
sizes of bpgenc's files at ``--qps`` in turn, as a sweep asks one image for several budgets:
encodes per ``fit`` (the first fit of an image, and all fits) and seconds per fit, for
``SourceCodec.fit`` and for the bisection it replaced (lowest quality, bisection over the
qualities, then the 3 qualities above; re-implemented here), and how often they disagree.

Measured before this benchmark existed, with the same protocol (12 photos, 24 CIFAR images, QP
22..42) on the codec it replaced (libheif's x265 with CRF, preset "slow", psycho-visual RD,
pictures under 64 pixels padded to 64x64; commit 91bfa84): -0.74 dB on the photos and -3.49 dB
on CIFAR at equal bits; 6.4 encodes and 0.71 s per fit on the photos, 6.3 encodes and 0.050 s
per fit on CIFAR (2-core CPU, shared with other work).

    python benchmarks/bpg_fidelity.py [--kodak 12] [--cifar 24] [--size 256]
        [--qps 22,27,32,37,42] [--bpg-tools ../shared/tools/bpg] [--data ../shared/data]
        [--per-image]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linksim.codecs.base import EncodedImage, SourceCodec  # noqa: E402
from linksim.codecs.bpg import BpgCodec  # noqa: E402
from linksim.codecs.hevc import HevcCodec  # noqa: E402

Images = list[tuple[str, np.ndarray]]


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    mse = np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def kodak(data: Path, count: int, size: int) -> Images:
    images = []
    for index in range(1, count + 1):
        with Image.open(data / "kodak" / f"kodim{index:02d}.png") as photo:
            width, height = photo.size
            box = ((width - size) // 2, (height - size) // 2, (width + size) // 2, (height + size) // 2)
            images.append((f"kodim{index:02d}", np.asarray(photo.convert("RGB").crop(box))))
    return images


def cifar(data: Path, count: int) -> Images:
    with tarfile.open(data / "cifar10-jpeg" / "test.tar") as archive:
        members = sorted((member for member in archive.getmembers() if member.isfile()), key=lambda m: m.name)
        chosen = members[::len(members) // count][:count]
        return [(member.name, np.asarray(Image.open(archive.extractfile(member)).convert("RGB"))) for member in chosen]


def hevc_at_bits(codec: HevcCodec, pixels: np.ndarray, bits: int, qp: int) -> float:
    """hevc's PSNR at ``bits``, interpolated between the neighbouring QPs whose sizes bracket it."""
    def point(q: int) -> tuple[float, float]:
        encoded = codec.encode(pixels, 51 - q)
        return math.log(encoded.bits), psnr(pixels, encoded.decoded)

    target = math.log(bits)
    step = 1 if point(qp)[0] > target else -1  # towards bpgenc's size
    while 0 <= qp + step <= 51 and (point(qp + step)[0] > target) == (step == 1):
        qp += step
    if not 0 <= qp + step <= 51:
        return math.nan
    (x0, y0), (x1, y1) = sorted([point(qp), point(qp + step)])
    return y0 + (y1 - y0) * (target - x0) / (x1 - x0) if x1 > x0 else (y0 + y1) / 2


def fidelity(name: str, images: Images, qps: list[int], per_image: bool) -> dict[str, list[int]]:
    """Print the table of one image set; return bpgenc's file sizes (bits) per image, by QP."""
    reference, codec = BpgCodec(), HevcCodec()
    rows, sizes = [], {}
    for image_name, pixels in images:
        sizes[image_name] = []
        for qp in qps:
            bpg = reference.encode(pixels, 51 - qp)
            same_qp = codec.encode(pixels, 51 - qp)
            bpg_psnr = psnr(pixels, bpg.decoded)
            at_bits = hevc_at_bits(codec, pixels, bpg.bits, qp)
            rows.append((qp, bpg.bits / pixels.shape[0] / pixels.shape[1], bpg_psnr, at_bits, at_bits - bpg_psnr,
                         same_qp.bits / bpg.bits, psnr(pixels, same_qp.decoded) - bpg_psnr))
            sizes[image_name].append(bpg.bits)
            if per_image:
                print(f"  {image_name:24s} QP {qp:2d}  bpg {bpg.bits:7d} bits {bpg_psnr:6.2f} dB   "
                      f"hevc at equal bits {at_bits:6.2f} dB ({at_bits - bpg_psnr:+.3f})", flush=True)
    table = np.array(rows)
    print(f"\n{name}: {len(images)} images {images[0][1].shape[1]}x{images[0][1].shape[0]}, hevc - bpgenc")
    print("   QP   bpg bpp  bpg dB  hevc dB  diff mean    min    max   same-QP size  same-QP dB")
    for qp in qps:
        part = table[table[:, 0] == qp]
        diff = part[:, 4]
        print(f"   {qp:2d}  {part[:, 1].mean():8.3f}  {part[:, 2].mean():6.2f}  {np.nanmean(part[:, 3]):7.2f}  "
              f"{np.nanmean(diff):+9.3f} {np.nanmin(diff):+6.2f} {np.nanmax(diff):+6.2f}   "
              f"{part[:, 5].mean():12.3f}  {part[:, 6].mean():+10.3f}")
    diff = table[:, 4]
    print(f"  all  {'':8s}  {table[:, 2].mean():6.2f}  {np.nanmean(table[:, 3]):7.2f}  {np.nanmean(diff):+9.3f} "
          f"{np.nanmin(diff):+6.2f} {np.nanmax(diff):+6.2f}   {table[:, 5].mean():12.3f}  {table[:, 6].mean():+10.3f}"
          f"   (mean |diff| {np.nanmean(np.abs(diff)):.3f}; {int(np.isnan(diff).sum())} points not bracketed)")
    return sizes


def bisection_fit(codec: SourceCodec, image: np.ndarray, budget_bits: int, window: int = 3) -> EncodedImage | None:
    """The search ``SourceCodec.fit`` used before the rate curve: bisection, then a window."""
    qualities = codec.qualities

    def fitting(index: int) -> EncodedImage | None:
        encoded = codec.encode(image, qualities[index])
        return encoded if encoded.bits <= budget_bits else None

    best = fitting(0)
    if best is None:
        return None
    low, high = 0, len(qualities)
    while high - low > 1:
        middle = (low + high) // 2
        encoded = fitting(middle)
        if encoded is None:
            high = middle
        else:
            low, best = middle, encoded
    for index in range(low + 1, min(low + 1 + window, len(qualities))):
        encoded = fitting(index)
        if encoded is not None:
            best = encoded
    return best


def search_cost(name: str, images: Images, sizes: dict[str, list[int]]) -> None:
    print(f"\n{name}: rate search, {len(images)} images x {len(next(iter(sizes.values())))} budgets (bpgenc's sizes)")
    print("   search                          encodes/fit  first fit   s/fit")
    results = {}
    for label, search in [("SourceCodec.fit (rate curve)", None), ("bisection + window 3 (before)", bisection_fit)]:
        codec, encodes = HevcCodec(), [0]
        encode = codec._encode

        def counted(image: np.ndarray, quality: int, encode=encode, encodes=encodes) -> EncodedImage:
            encodes[0] += 1
            return encode(image, quality)

        codec._encode = counted
        first, seconds, chosen = [], 0.0, []
        for image_name, pixels in images:
            for index, budget in enumerate(sizes[image_name]):
                before, start = encodes[0], time.perf_counter()
                result = codec.fit(pixels, budget) if search is None else search(codec, pixels, budget)
                seconds += time.perf_counter() - start
                chosen.append(None if result is None else result.quality)
                if index == 0:
                    first.append(encodes[0] - before)
        fits = len(chosen)
        results[label] = chosen
        print(f"   {label:30s}  {encodes[0] / fits:11.2f}  {np.mean(first):9.2f}  {seconds / fits:6.3f}", flush=True)
    new, old = results.values()
    print(f"   different qualities chosen: {sum(a != b for a, b in zip(new, old, strict=True))} of {len(new)} fits")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", type=int, default=12, help="Kodak photos (kodim01..)")
    parser.add_argument("--cifar", type=int, default=24, help="CIFAR-10 test images")
    parser.add_argument("--size", type=int, default=256, help="centre crop of the Kodak photos")
    parser.add_argument("--qps", default="22,27,32,37,42", help="bpgenc -q values")
    parser.add_argument("--bpg-tools", type=Path, default=ROOT.parent / "shared" / "tools" / "bpg")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--per-image", action="store_true", help="print every image and QP")
    args = parser.parse_args()
    if not (args.bpg_tools / "bpgenc").exists():
        sys.exit(f"no bpgenc in {args.bpg_tools}")
    os.environ["PATH"] = f"{args.bpg_tools}{os.pathsep}{os.environ['PATH']}"
    qps = [int(qp) for qp in args.qps.split(",")]
    sets = [("photos (Kodak crops)", kodak(args.data, args.kodak, args.size)) if args.kodak else None,
            ("CIFAR-10 test", cifar(args.data, args.cifar)) if args.cifar else None]
    for name, images in filter(None, sets):
        start = time.perf_counter()
        sizes = fidelity(name, images, qps, args.per_image)
        search_cost(name, images, sizes)
        print(f"   ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
