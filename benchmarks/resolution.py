"""Cost of full-resolution images: seconds and peak memory per Kodak image, per scheme.

Each scheme runs in a fresh process (so that its peak resident memory is its own) on ``--images``
Kodak photos (768x512, both orientations, sent whole) at one point (``--snr-db``, ``--ratio``,
AWGN), ``--batch`` images per call, after one warm-up image. Columns:

- ``transmit s/img`` and ``receive s/img``: wall time per image of each side. For the digital
  baseline, transmit is essentially the HEVC quality search (and LDPC encoding) and receive the
  LDPC decoding; the HEVC encodings are cached per image, as in a sweep, so the search is timed
  on images the warm-up did not see. For the diffusion receiver, receive is also given per
  sampling step (``--steps`` evaluations of the denoiser).
- ``peak RSS MiB``: the process's peak resident memory above what it held after loading the
  images and the scheme (``ru_maxrss``), i.e. what the computation itself needs.

``--kodak-awgn`` also times a whole ``linksim run scenarios/kodak-awgn.yaml`` into a temporary
folder (minutes to an hour on a 2-core CPU).

    python benchmarks/resolution.py [--images 4] [--batch 2] [--snr-db 10] [--ratio 1/16]
        [--deepjscc photo-deepjscc-v1] [--diffusion CHECKPOINT] [--threads 2] [--kodak-awgn]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def _scheme_configs(args: argparse.Namespace) -> dict[str, dict]:
    configs = {
        "deepjscc": {"type": "deepjscc", "checkpoint": args.deepjscc},
        "softcast": {"type": "softcast"},
        "hevc-ldpc (adaptive)": {"type": "digital", "source_codec": "hevc", "mcs": {"policy": "adaptive"}},
        "hevc-capacity": {"type": "capacity", "source_codec": "hevc"},
    }
    if args.diffusion:
        configs["diffusion"] = {"type": "diffusion", "checkpoint": args.diffusion, "steps": args.steps}
    return configs


def _measure(name: str, config: dict, args: argparse.Namespace, queue) -> None:  # noqa: ANN001 (a multiprocessing queue)
    """In a child process: time transmit and receive per image, and the peak memory they add."""
    import torch

    from linksim.channels import AWGNChannel
    from linksim.data import load_dataset
    from linksim.randomness import seed_everything
    from linksim.schemes import LinkState, build_scheme
    from linksim.scenario import parse_scenario

    torch.set_num_threads(args.threads)
    seed_everything(0)
    images = load_dataset("kodak", image_size=None, root=KODAK, num_images=args.images + 1, subset_seed=0)
    scenario = parse_scenario({"name": "b", "dataset": {"name": "skimage-samples"}, "schemes": [config],
                               "sweep": {"snr_db": [0], "bandwidth_ratio": [args.ratio]}})
    scheme = build_scheme(scenario.schemes[0], "cpu")
    groups = images.size_groups()
    for _, pixels in groups:
        scheme.prepare(pixels)
    channel = AWGNChannel()
    batches = [pixels[i : i + args.batch] for _, pixels in groups for i in range(0, len(pixels), args.batch)]
    ratio = scenario.sweep.bandwidth_ratio[0]

    def run(x: torch.Tensor) -> tuple[float, float]:
        state = LinkState(snr_db=torch.full((len(x),), args.snr_db), bandwidth_ratio=ratio)
        with torch.no_grad():
            start = time.perf_counter()
            tx = scheme.transmit(x, state)
            sent = time.perf_counter()
            rx = channel(tx.symbols, state.snr_db)
            scheme.receive(rx.y, rx.noise_var, tx, state)
            return sent - start, time.perf_counter() - sent

    run(batches[0][:1])  # warm-up: lazy initialisation, kernels, the LDPC graphs
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    totals, count = [0.0, 0.0], 0
    for x in batches:
        if count >= args.images:
            break
        x = x[: args.images - count]
        t_tx, t_rx = run(x)
        totals[0] += t_tx
        totals[1] += t_rx
        count += len(x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((name, totals[0] / count, totals[1] / count, (peak - baseline) / 1024, count))


def bench_schemes(args: argparse.Namespace) -> None:
    print(f"\n## Kodak, whole images: seconds and peak memory per image (AWGN, {args.snr_db:g} dB, ratio {args.ratio}, "
          f"batch {args.batch}, {args.threads} thread(s))")
    print("| scheme | transmit s/img | receive s/img | peak RSS MiB (above loaded) | images |")
    print("|---|---|---|---|---|")
    context = multiprocessing.get_context("spawn")
    for name, config in _scheme_configs(args).items():
        queue = context.Queue()
        process = context.Process(target=_measure, args=(name, config, args, queue))
        process.start()
        process.join()
        if process.exitcode != 0:
            print(f"| {name} | failed (exit {process.exitcode}) | | | |")
            continue
        label, t_tx, t_rx, peak, count = queue.get()
        extra = f" ({t_rx / args.steps:.2f} per step)" if label == "diffusion" else ""
        print(f"| {label} | {t_tx:.2f} | {t_rx:.2f}{extra} | {peak:.0f} | {count} |", flush=True)


def bench_kodak_awgn(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "linksim", "run", str(ROOT / "scenarios" / "kodak-awgn.yaml"),
                        "--out", out, "--no-progress", "--threads", str(args.threads)], check=True, cwd=ROOT)
        print(f"\n## scenarios/kodak-awgn.yaml: {time.perf_counter() - start:.0f} s wall ({args.threads} thread(s))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="Kodak images timed per scheme (after one warm-up image)")
    parser.add_argument("--batch", type=int, default=2, help="images per transmit/receive call")
    parser.add_argument("--snr-db", type=float, default=10.0)
    parser.add_argument("--ratio", default="1/16")
    parser.add_argument("--deepjscc", default="photo-deepjscc-v1", help="DeepJSCC zoo name or .safetensors path")
    parser.add_argument("--diffusion", default=None, help="diffusion receiver checkpoint (left out if not given)")
    parser.add_argument("--steps", type=int, default=3, help="the diffusion receiver's sampling steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kodak-awgn", action="store_true", help="also time the whole kodak-awgn scenario")
    args = parser.parse_args()
    if not KODAK.is_dir():
        sys.exit(f"needs the Kodak originals in {KODAK}")
    bench_schemes(args)
    if args.kodak_awgn:
        bench_kodak_awgn(args)


if __name__ == "__main__":
    main()
