"""Throughput of every channel: complex symbols per second through ``channel(x, snr_db)``.

The default batch is what a sweep sends: 64 CIFAR-sized images (3x32x32) at bandwidth ratio 1/6,
i.e. K = 512 symbols per image, 32768 per batch. Each configuration is timed over ``--reps``
calls after ``--warmup`` calls, without autograd, for each ``--threads`` setting; the table gives
the median (and best) time per batch and the median throughput.

    python benchmarks/channels.py [--batch 64] [--symbols 512] [--reps 10] [--threads 1 2]

On a shared CPU, compare the ``threads`` rows: with a busy neighbour, two intra-op threads can be
several times slower than one (threads wait for each other at every op).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linksim.channels import (  # noqa: E402
    AWGNConfig,
    ChannelConfig,
    OFDMConfig,
    RayleighConfig,
    build_channel,
)
from linksim.randomness import seed_everything  # noqa: E402

CONFIGS: list[tuple[str, ChannelConfig]] = [
    ("16 SNR pilots", AWGNConfig()),
    ("perfect CSI, 64-use blocks", RayleighConfig()),
    ("LS CSI, 4 pilots / 64-use block", RayleighConfig(csi="estimated")),
    ("TDL-A, LS lin, LMMSE eq (default)", OFDMConfig()),
    ("TDL-A, LS nn, ZF eq", OFDMConfig(interpolation="nn", equalizer="zf")),
    ("TDL-A, perfect CSI, LMMSE eq", OFDMConfig(channel_estimation="perfect")),
    ("TDL-A, LMMSE est, LMMSE eq", OFDMConfig(channel_estimation="lmmse")),
    ("CDL-C, LS lin, LMMSE eq", OFDMConfig(model="CDL-C", delay_spread=300e-9)),
    ("flat, perfect CSI, LMMSE eq", OFDMConfig(model="flat", channel_estimation="perfect")),
]


def time_channel(config: ChannelConfig, batch: int, symbols: int, reps: int, warmup: int,
                 device: str) -> list[float]:
    """Seconds per call of ``reps`` timed calls."""
    channel = build_channel(config, device=device)
    x = torch.exp(2j * torch.pi * torch.rand(batch, symbols, device=device)).to(torch.complex64)
    snr = torch.linspace(0.0, 20.0, batch, device=device)
    times = []
    with torch.no_grad():
        for i in range(warmup + reps):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            channel(x, snr)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="samples per batch (default 64)")
    parser.add_argument("--symbols", type=int, default=512, help="symbols per sample K (default 512)")
    parser.add_argument("--reps", type=int, default=10, help="timed calls per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    seed_everything(0)
    total = args.batch * args.symbols
    print(f"batch {args.batch} x K {args.symbols} = {total} symbols, {args.reps} reps after {args.warmup} "
          f"warm-up, device {args.device}, torch {torch.__version__}")
    header = f"{'channel':9s} {'configuration':36s} {'threads':>7s} {'Msym/s':>8s} {'ms/batch':>9s} {'best ms':>8s}"
    print(header)
    print("-" * len(header))
    for threads in args.threads:
        torch.set_num_threads(threads)
        for label, config in CONFIGS:
            times = time_channel(config, args.batch, args.symbols, args.reps, args.warmup, args.device)
            median = statistics.median(times)
            print(f"{config.type:9s} {label:36s} {threads:7d} {total / median / 1e6:8.2f} "
                  f"{median * 1e3:9.2f} {min(times) * 1e3:8.2f}", flush=True)


if __name__ == "__main__":
    main()
