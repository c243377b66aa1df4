"""Cost of the diffusion receiver on this machine.

Two sections (``--sections``, default both):

``denoiser``
    Seconds per image per sampling step (one denoiser evaluation plus one scheduler step: the
    time of ``DiffusionReceiverPipeline`` with each of ``--steps`` divided by the steps), at batch
    sizes ``--batches``, for the checkpoint ``--checkpoint`` and each sampler. The conditioning
    (computed once per image: DeepJSCC decoder and the conditioning network) is timed separately.

``schemes``
    End-to-end seconds per image of each scheme at one point (``--snr-db``, ``--ratio``, AWGN,
    ``--images`` CIFAR-10 test images or scikit-image crops): transmit + channel + receive, best of
    ``--reps``; the diffusion receiver with its default sampler and from noise at each of ``--steps``. The digital baseline's HEVC fits are
    cached per image after the first repetition, as in a sweep, so its time is given for the first
    (cold) and the best (warm) repetition.

    python benchmarks/diffusion.py [--sections denoiser schemes] [--threads 1] [--batches 1 32 250]
                                   [--steps 5 10 20] [--images 250] [--reps 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linksim.channels import AWGNChannel  # noqa: E402
from linksim.data import load_dataset  # noqa: E402
from linksim.errors import LinksimError  # noqa: E402
from linksim.schemes import (  # noqa: E402
    DeepJSCCConfig,
    DiffusionConfig,
    DigitalConfig,
    LinkState,
    SoftCastConfig,
    build_scheme,
)
from linksim.randomness import seed_everything  # noqa: E402

SHARED_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg" / "test.tar"


def _images(n: int) -> torch.Tensor:
    if SHARED_TEST.is_file():
        return load_dataset("image_folder", image_size=32, num_images=n, split="test", root=str(SHARED_TEST)).images
    return load_dataset("skimage-samples", image_size=32, num_images=n).images


def _best(fn, reps: int) -> tuple[float, float]:
    """(first, best) wall time of ``reps`` calls."""
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times[0], min(times)


def bench_denoiser(args: argparse.Namespace) -> None:
    print(f"\n## denoiser ({args.checkpoint}), seconds per image per sampling step")
    print("| sampler | batch | conditioning s/img | s/img/step (steps=" + "/".join(map(str, args.steps)) + ") |")
    print("|---|---|---|---|")
    images = _images(max(args.batches))
    channel = AWGNChannel()
    for sampler in ("ddim", "dpm-solver"):
        scheme = build_scheme(DiffusionConfig(checkpoint=args.checkpoint, sampler=sampler))
        for batch in args.batches:
            x = images[:batch]
            state = LinkState(snr_db=torch.full((batch,), args.snr_db), bandwidth_ratio=args.ratio)
            with torch.no_grad():
                tx = scheme.transmit(x, state)
                rx = channel(tx.symbols, state.snr_db)
                y, nv = scheme.deepjscc.padded(rx.y, rx.noise_var, tx)
                model = scheme.deepjscc.model
                ratio = scheme.deepjscc.ratio(state)

                def condition():
                    est, latent, rel, mask = model.decode_with_inputs(y, nv, state.snr_db, ratio, (32, 32))
                    return scheme.denoiser.condition(latent, rel, mask, state.snr_db, ratio, est), est

                _, t_cond = _best(condition, args.reps)
                cond, est = condition()
                per_step = []
                for steps in args.steps:
                    _, t = _best(lambda: scheme.pipeline(cond, steps, 1.0, est, torch.Generator().manual_seed(0)), args.reps)
                    per_step.append(t / batch / steps)
            print(f"| {sampler} | {batch} | {t_cond / batch:.2e} | " + " / ".join(f"{v:.2e}" for v in per_step) + " |")


def bench_schemes(args: argparse.Namespace) -> None:
    print(f"\n## end-to-end seconds per image, AWGN {args.snr_db} dB, ratio {args.ratio:.4g}, {args.images} images")
    print("| scheme | first rep s/img | best rep s/img |")
    print("|---|---|---|")
    images = _images(args.images)
    channel = AWGNChannel()
    entries = [("deepjscc", DeepJSCCConfig()), ("softcast", SoftCastConfig()),
               ("HEVC+LDPC adaptive", DigitalConfig.model_validate({"source_codec": "hevc", "mcs": {"policy": "adaptive"}}))]
    entries += [("diffusion, SDEdit 0.3, 3 DDIM steps (default)", DiffusionConfig(checkpoint=args.checkpoint))]
    entries += [(f"diffusion, from noise, {s} DDIM steps", DiffusionConfig(checkpoint=args.checkpoint, steps=s, strength=1.0))
                for s in args.steps]
    for label, config in entries:
        scheme = build_scheme(config)
        scheme.prepare(images)
        state = LinkState(snr_db=torch.full((len(images),), args.snr_db), bandwidth_ratio=args.ratio)

        def run():
            with torch.no_grad():
                for chunk in images.split(250):
                    s = LinkState(snr_db=state.snr_db[: len(chunk)], bandwidth_ratio=args.ratio)
                    tx = scheme.transmit(chunk, s)
                    rx = channel(tx.symbols, s.snr_db)
                    scheme.receive(rx.y, rx.noise_var, tx, s)

        first, best = _best(run, args.reps)
        print(f"| {label} | {first / len(images):.2e} | {best / len(images):.2e} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["denoiser", "schemes"], choices=["denoiser", "schemes"])
    parser.add_argument("--checkpoint", default="cifar10-diffusion-v2")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 250])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--snr-db", type=float, default=5.0)
    parser.add_argument("--ratio", type=float, default=1 / 6)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    try:
        if "denoiser" in args.sections:
            bench_denoiser(args)
        if "schemes" in args.sections:
            bench_schemes(args)
    except LinksimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
