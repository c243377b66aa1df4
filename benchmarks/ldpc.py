"""5G LDPC decoding for the digital baseline: throughput, early stopping, BLER vs Sionna's tutorial.

Three sections (``--sections``, default all):

``throughput``
    LDPC decoding throughput in information Mbit/s (LDPC information bits, CRC included, per
    second of ``CodedModulation.decode_codewords``; demapping is not timed) for the codes the
    baseline uses: a few MCS at the codeword lengths of 256/512/1024 channel uses (CIFAR-10 at
    bandwidth ratios 1/12, 1/6, 1/3) and QPSK rate 1/2 with n=3456 for reference, at batch sizes
    ``--batches`` (images per call; one codeword per image here), with and without early
    stopping, at two SNRs: the SNR where the shipped AWGN table puts BLER = 1e-2 (the typical
    operating point of a link that picks its MCS at 10% BLER and has a little margin) and 3 dB
    above. The measured BLER and mean iterations are printed next to the times.

``early-stopping``
    The same received LLRs decoded with 20 full iterations and with early stopping: block errors
    of each and the number of codewords whose decisions differ.

``tutorial``
    BLER of k=512, n=1024 5G LDPC + QPSK over linksim's AWGN channel (20 iterations, early
    stopping) around BLER 1e-2, and the Eb/N0 where it crosses 1e-2, compared with Sionna's
    tutorial "5G Channel Coding and Rate-Matching: Polar vs. LDPC Codes" (v2.2.0 notebook,
    section "Performance of Longer LDPC Codes", curve "5G LDPC BP-20 (n=1000)", rate 0.5, QPSK):
    BLER 1.8034e-2 at 1.75 dB and 3.53e-3 at 2.0 dB, i.e. 1e-2 at 1.84 dB.

    python benchmarks/ldpc.py [--sections throughput early-stopping tutorial] [--batches 64 256]
                              [--reps 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linksim.channels import AWGNConfig, build_channel  # noqa: E402
from linksim.digital import CodedModulation, default_bler_table, mcs_by_name  # noqa: E402
from linksim.digital.calibration import simulate_point  # noqa: E402
from linksim.randomness import seed_everything  # noqa: E402

TUTORIAL_EBNO_DB = {1.75: 1.8034e-2, 2.0: 3.53e-3}  # n=1000, k=500 row of the tutorial
TUTORIAL_CROSSING_DB = 1.84

CODES: list[tuple[str, int]] = [
    ("QPSK-r1/2", 256),
    ("16QAM-r1/2", 256),
    ("QPSK-r1/2", 512),
    ("16QAM-r2/3", 512),
    ("64QAM-r3/4", 512),
    ("16QAM-r1/2", 1024),
    ("64QAM-r3/4", 1024),
    ("256QAM-r5/6", 1024),
    ("QPSK-r1/2", 1728),  # n = 3456, rate 1/2 reference
]


def received_llr(cm: CodedModulation, batch: int, snr_db: float, seed: int) -> torch.Tensor:
    """LLRs ``[batch * C, n]`` of random payloads sent over AWGN at ``snr_db``."""
    seed_everything(seed)
    channel = build_channel(AWGNConfig(snr_pilots=0))
    gen = torch.Generator().manual_seed(seed)
    bits = torch.randint(0, 2, (batch, cm.payload_bits), generator=gen)
    out = channel(cm.encode(bits.float()), torch.full((batch,), snr_db))
    return cm.descramble(cm.llr(out.y, out.noise_var)).reshape(-1, cm.codeword_bits)


def time_decode(cm: CodedModulation, llr: torch.Tensor, reps: int) -> tuple[float, float]:
    """Median seconds per ``decode_codewords`` call and mean iterations (after one warm-up)."""
    cm.decode_codewords(llr)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        cm.decode_codewords(llr)
        times.append(time.perf_counter() - start)
    assert cm.last_iterations is not None
    return statistics.median(times), float(cm.last_iterations.float().mean())


def section_throughput(batches: list[int], reps: int) -> None:
    table = default_bler_table()
    threads = torch.get_num_threads()
    print(f"\n## LDPC decoding throughput (information Mbit/s, {threads} thread(s))\n")
    print("| code | k | n | batch | SNR (dB) | BLER | full 20 it | early stop | mean it "
          "| speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, uses in CODES:
        mcs = mcs_by_name(name)
        full = CodedModulation(mcs, uses, early_stopping=False)
        fast = CodedModulation(mcs, uses, early_stopping=True)
        operating = table.threshold_db(mcs.index, uses, target=1e-2)
        for snr in (operating, operating + 3.0):
            for batch in batches:
                llr = received_llr(full, batch, snr, seed=batch)
                info = llr.shape[0] * full.codeword_info_bits
                t_full, _ = time_decode(full, llr, reps)
                t_fast, iters = time_decode(fast, llr, reps)
                u_hat = fast.decode_codewords(llr)
                _, crc_ok = fast.crc_decoder(u_hat)
                bler = 1.0 - float(crc_ok.float().mean())
                label = f"{name} @{uses}" + (" (ref)" if uses == 1728 else "")
                print(
                    f"| {label} | {full.codeword_info_bits} | {full.codeword_bits} | {batch} "
                    f"| {snr:.2f} | {bler:.3f} | {info / t_full / 1e6:.3f} "
                    f"| {info / t_fast / 1e6:.3f} | {iters:.1f} | {t_full / t_fast:.1f}x |",
                    flush=True,
                )


def section_early_stopping(codewords: int) -> None:
    table = default_bler_table()
    print("\n## Early stopping vs 20 full iterations (same LLRs)\n")
    print("| code | SNR (dB) | table BLER | codewords | errors full 20 it | errors early stop "
          "| differing decisions | mean it |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, uses in (("QPSK-r1/2", 512), ("16QAM-r2/3", 512), ("64QAM-r3/4", 1024)):
        mcs = mcs_by_name(name)
        full = CodedModulation(mcs, uses, early_stopping=False)
        fast = CodedModulation(mcs, uses, early_stopping=True)
        for target in (0.1, 1e-2):
            snr = table.threshold_db(mcs.index, uses, target=target)
            err_full = err_fast = differ = 0
            iters = 0.0
            for chunk in range(0, codewords, 500):
                n = min(500, codewords - chunk)
                llr = received_llr(full, n, snr, seed=1000 + chunk)
                ref = full.decode_codewords(llr)
                out = fast.decode_codewords(llr)
                err_full += int((~full.crc_decoder(ref)[1]).sum())
                err_fast += int((~fast.crc_decoder(out)[1]).sum())
                differ += int((ref != out).any(dim=1).sum())
                assert fast.last_iterations is not None
                iters += float(fast.last_iterations.float().sum())
            print(f"| {name} @{uses} | {snr:.2f} | {target:g} | {codewords} | {err_full} "
                  f"| {err_fast} | {differ} | {iters / codewords:.1f} |", flush=True)


def section_tutorial(max_blocks: int, min_errors: int) -> None:
    print("\n## k=512, n=1024 5G LDPC + QPSK over AWGN vs Sionna's tutorial (n=1000, k=500)\n")
    cm = CodedModulation(mcs_by_name("QPSK-r1/2"), 512)
    channel = build_channel(AWGNConfig(snr_pilots=0))
    print("| Eb/N0 (dB) | BLER linksim | blocks | BLER tutorial (n=1000) |")
    print("| ---: | ---: | ---: | ---: |")
    measured = {}
    for ebno in (1.5, 1.75, 2.0, 2.25):
        errors, blocks, _ = simulate_point(cm, channel, ebno, max_blocks=max_blocks,
                                           min_errors=min_errors, seed=int(ebno * 100))
        measured[ebno] = errors / blocks
        ref = TUTORIAL_EBNO_DB.get(ebno)
        print(f"| {ebno:.2f} | {errors / blocks:.3e} | {blocks} | "
              f"{'' if ref is None else f'{ref:.3e}'} |", flush=True)
    points = sorted(measured.items())
    crossing = math.nan
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 > 1e-2 >= y1 and y1 > 0:
            l0, l1 = math.log10(y0), math.log10(y1)
            crossing = x0 + (-2 - l0) * (x1 - x0) / (l1 - l0)
    print(f"\nBLER 1e-2 at Eb/N0 = {crossing:.2f} dB (tutorial: {TUTORIAL_CROSSING_DB:.2f} dB, "
          f"difference {crossing - TUTORIAL_CROSSING_DB:+.2f} dB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sections = ["throughput", "early-stopping", "tutorial"]
    parser.add_argument("--sections", nargs="+", default=sections, choices=sections)
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--codewords", type=int, default=3000, help="early-stopping section")
    parser.add_argument("--max-blocks", type=int, default=30000, help="tutorial section")
    parser.add_argument("--min-errors", type=int, default=200, help="tutorial section")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    with torch.no_grad():
        if "throughput" in args.sections:
            section_throughput(args.batches, args.reps)
        if "early-stopping" in args.sections:
            section_early_stopping(args.codewords)
        if "tutorial" in args.sections:
            section_tutorial(args.max_blocks, args.min_errors)


if __name__ == "__main__":
    main()
