"""5G LDPC decoding for the digital baseline: throughput, early stopping, BLER vs Sionna's tutorial,
the fast decoder vs Sionna's.

Four sections (``--sections``, default all):

``throughput``
    LDPC decoding throughput in information Mbit/s (LDPC information bits, CRC included, per
    second of ``CodedModulation.decode_codewords``; demapping is not timed) for the codes the
    baseline uses: a few MCS at the codeword lengths of 256/512/1024 channel uses (CIFAR-10 at
    bandwidth ratios 1/12, 1/6, 1/3) and QPSK rate 1/2 with n=3456 for reference, at batch sizes
    ``--batches`` (images per call; one codeword per image here), with and without early
    stopping, at two SNRs: the SNR where the fast decoder reaches BLER = 1e-2 on AWGN (measured
    first, :func:`operating_snr`; the typical operating point of a link that picks its MCS at 10%
    BLER and has a little margin) and 3 dB above. The measured BLER and mean iterations are printed next to the times.

``early-stopping``
    The same received LLRs decoded with 20 full iterations and with early stopping: block errors
    of each and the number of codewords whose decisions differ.

``tutorial``
    BLER of k=512, n=1024 5G LDPC + QPSK over linksim's AWGN channel (20 iterations, early
    stopping) around BLER 1e-2, and the Eb/N0 where it crosses 1e-2, compared with Sionna's
    tutorial "5G Channel Coding and Rate-Matching: Polar vs. LDPC Codes" (v2.2.0 notebook,
    section "Performance of Longer LDPC Codes", curve "5G LDPC BP-20 (n=1000)", rate 0.5, QPSK):
    BLER 1.8034e-2 at 1.75 dB and 3.53e-3 at 2.0 dB, i.e. 1e-2 at 1.84 dB. ``--decoder`` picks
    the decoder (default Sionna's).

``fast``
    linksim's compiled decoder (:class:`~linksim.digital.FastLDPC5GDecoder`: layered normalised
    min-sum, and its exact-BP rule) against Sionna's ``LDPC5GDecoder`` (flooding boxplus-phi BP,
    20 iterations) for n=1024 r1/2 QPSK, n=2048 r2/3 16QAM and n=3456 r1/2 QPSK: BLER curves
    on *the same LLRs* (blocks until ``--min-errors`` Sionna errors or ``--max-blocks``), the SNR
    of each at BLER 1e-2 and the gap; then information Mbit/s at Sionna's 1e-2 point, per thread
    and with ``--all-threads`` threads, of Sionna's decoder (20 iterations, as Sionna runs it),
    Sionna's with linksim's early stopping, and the fast decoder; and the speed-ups.

    python benchmarks/ldpc.py [--sections throughput early-stopping tutorial fast]
                              [--batches 64 256] [--reps 3] [--threads 1] [--decoder sionna]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linksim.channels import AWGNConfig, build_channel  # noqa: E402
from linksim.digital import CodedModulation, FastLDPC5GDecoder, mcs_by_name, shannon_snr_db  # noqa: E402
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


@functools.lru_cache(maxsize=None)
def operating_snr(name: str, uses: int, target: float) -> float:
    """SNR (dB) where ``name`` over ``uses`` channel uses reaches BLER ``target`` on AWGN with the
    fast decoder: 0.25 dB steps up from the capacity limit, then log-linear interpolation (the
    benchmark's codes are not table entries, so no shipped calibration holds them)."""
    cm = CodedModulation(mcs_by_name(name), uses, decoder="fast")
    channel = build_channel(AWGNConfig(snr_pilots=0))
    snr, previous = math.floor(4 * shannon_snr_db(cm.info_bits_per_symbol)) / 4, None
    while True:
        errors, blocks, _ = simulate_point(cm, channel, snr, max_blocks=int(50 / target), min_errors=50, seed=7)
        bler = max(errors, 0.5) / blocks
        if bler <= target:
            if previous is None:
                return snr
            (s0, b0), (s1, b1) = previous, (snr, bler)
            return s0 + (math.log10(target) - math.log10(b0)) * (s1 - s0) / (math.log10(b1) - math.log10(b0))
        previous, snr = (snr, bler), snr + 0.25


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
    threads = torch.get_num_threads()
    print(f"\n## LDPC decoding throughput (information Mbit/s, {threads} thread(s))\n")
    print("| code | k | n | batch | SNR (dB) | BLER | full 20 it | early stop | mean it "
          "| speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, uses in CODES:
        mcs = mcs_by_name(name)
        full = CodedModulation(mcs, uses, early_stopping=False)
        fast = CodedModulation(mcs, uses, early_stopping=True)
        operating = operating_snr(name, uses, 1e-2)
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
    print("\n## Early stopping vs 20 full iterations (same LLRs)\n")
    print("| code | SNR (dB) | target BLER | codewords | errors full 20 it | errors early stop "
          "| differing decisions | mean it |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, uses in (("QPSK-r1/2", 512), ("16QAM-r2/3", 512), ("64QAM-r3/4", 1024)):
        mcs = mcs_by_name(name)
        full = CodedModulation(mcs, uses, early_stopping=False)
        fast = CodedModulation(mcs, uses, early_stopping=True)
        for target in (0.1, 1e-2):
            snr = operating_snr(name, uses, target)
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


def crossing_db(points: dict[float, float], target: float = 1e-2) -> float:
    """SNR where a BLER curve ``{snr: bler}`` crosses ``target`` (log-linear interpolation)."""
    pts = sorted(points.items())
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if y0 > target >= y1 and y1 > 0:
            l0, l1 = math.log10(y0), math.log10(y1)
            return x0 + (math.log10(target) - l0) * (x1 - x0) / (l1 - l0)
    return math.nan


def section_tutorial(max_blocks: int, min_errors: int, decoder: str) -> None:
    print(f"\n## k=512, n=1024 5G LDPC + QPSK over AWGN vs Sionna's tutorial (n=1000, k=500), "
          f"decoder {decoder}\n")
    cm = CodedModulation(mcs_by_name("QPSK-r1/2"), 512, decoder=decoder)
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
    crossing = crossing_db(measured)
    print(f"\nBLER 1e-2 at Eb/N0 = {crossing:.2f} dB (tutorial: {TUTORIAL_CROSSING_DB:.2f} dB, "
          f"difference {crossing - TUTORIAL_CROSSING_DB:+.2f} dB)")


FAST_CODES = [("QPSK-r1/2", 512), ("16QAM-r2/3", 512), ("QPSK-r1/2", 1728)]
"""n=1024 r1/2 QPSK, n=2048 r2/3 16QAM, n=3456 r1/2 QPSK (issue 14)."""


def section_fast(max_blocks: int, min_errors: int, reps: int, all_threads: int) -> None:
    print("\n## Fast decoder vs Sionna's BP-20: BLER on the same LLRs\n")
    print("| code | SNR (dB) | blocks | BLER Sionna BP-20 | BLER fast min-sum | BLER fast BP | mean it min-sum |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    operating: dict[tuple[str, int], float] = {}
    gaps = []
    for name, uses in FAST_CODES:
        sionna = CodedModulation(mcs_by_name(name), uses, decoder="sionna")
        minsum = FastLDPC5GDecoder(sionna.encoder)
        exact = FastLDPC5GDecoder(sionna.encoder, cn_update="boxplus")
        centre = operating_snr(name, uses, 1e-2)
        curves: dict[str, dict[float, float]] = {"sionna": {}, "minsum": {}, "bp": {}}
        for offset in (-0.6, -0.4, -0.2, 0.0, 0.2, 0.4):
            snr = round(centre + offset, 2)
            errors = {key: 0 for key in curves}
            blocks, iterations = 0, 0.0
            while blocks < max_blocks and errors["sionna"] < min_errors:
                llr = received_llr(sionna, 500, snr, seed=int(1000 * snr) + blocks)
                gen = torch.Generator().manual_seed(int(1000 * snr) + blocks)
                bits = torch.randint(0, 2, (500, sionna.payload_bits), generator=gen).float()
                info = sionna.crc_encoder(bits.reshape(500, sionna.num_codewords, -1)).reshape(llr.shape[0], -1)
                for key, decode in (("sionna", sionna.decode_codewords), ("minsum", minsum), ("bp", exact)):
                    errors[key] += int((decode(llr) != info).any(dim=1).sum())
                iterations += float(minsum.last_iterations.float().sum())
                blocks += llr.shape[0]
            for key in curves:
                curves[key][snr] = errors[key] / blocks
            print(f"| {name} n={sionna.codeword_bits} | {snr:.2f} | {blocks} | {curves['sionna'][snr]:.2e} "
                  f"| {curves['minsum'][snr]:.2e} | {curves['bp'][snr]:.2e} | {iterations / blocks:.1f} |", flush=True)
            if curves["sionna"][snr] < 2e-3:
                break
        at = {key: crossing_db(curve) for key, curve in curves.items()}
        operating[(name, uses)] = at["sionna"]
        gaps.append((name, sionna.codeword_bits, at))
    print("\n| code | SNR at BLER 1e-2: Sionna BP-20 | fast min-sum | gap | fast BP | gap |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, n, at in gaps:
        print(f"| {name} n={n} | {at['sionna']:.2f} | {at['minsum']:.2f} | {at['minsum'] - at['sionna']:+.2f} dB "
              f"| {at['bp']:.2f} | {at['bp'] - at['sionna']:+.2f} dB |")

    print("\n## Fast decoder vs Sionna's: information Mbit/s at Sionna's BLER-1e-2 point (256 codewords)\n")
    print("| code | threads | Sionna BP-20 | Sionna + early stop | fast min-sum | fast BP | speed-up vs BP-20 "
          "| vs early stop |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, uses in FAST_CODES:
        snr = operating[(name, uses)]
        if not math.isfinite(snr):
            continue
        for threads in sorted({1, all_threads}):
            torch.set_num_threads(threads)
            plain = CodedModulation(mcs_by_name(name), uses, decoder="sionna", early_stopping=False)
            stopped = CodedModulation(mcs_by_name(name), uses, decoder="sionna")
            fast = CodedModulation(mcs_by_name(name), uses, decoder="fast")
            exact = FastLDPC5GDecoder(fast.encoder, cn_update="boxplus")
            llr = received_llr(plain, 256, snr, seed=5)
            info = llr.shape[0] * plain.codeword_info_bits
            rates = []
            for decode in (plain.decode_codewords, stopped.decode_codewords, fast.decode_codewords, exact):
                decode(llr)  # warm-up (and numba compilation)
                times = []
                for _ in range(reps):
                    start = time.perf_counter()
                    decode(llr)
                    times.append(time.perf_counter() - start)
                rates.append(info / statistics.median(times) / 1e6)
            print(f"| {name} n={plain.codeword_bits} | {threads} | {rates[0]:.3f} | {rates[1]:.3f} | {rates[2]:.2f} "
                  f"| {rates[3]:.2f} | {rates[2] / rates[0]:.0f}x | {rates[2] / rates[1]:.0f}x |", flush=True)
    torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sections = ["throughput", "early-stopping", "tutorial", "fast"]
    parser.add_argument("--sections", nargs="+", default=sections, choices=sections)
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--codewords", type=int, default=3000, help="early-stopping section")
    parser.add_argument("--max-blocks", type=int, default=30000, help="tutorial section")
    parser.add_argument("--min-errors", type=int, default=200, help="tutorial and fast sections")
    parser.add_argument("--decoder", default="sionna", choices=["sionna", "fast"], help="tutorial section")
    parser.add_argument("--all-threads", type=int, default=os.cpu_count() or 1,
                        help="fast section: the multi-thread measurement (default: all CPUs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    with torch.no_grad():
        if "throughput" in args.sections:
            section_throughput(args.batches, args.reps)
        if "early-stopping" in args.sections:
            section_early_stopping(args.codewords)
        if "tutorial" in args.sections:
            section_tutorial(args.max_blocks, args.min_errors, args.decoder)
        if "fast" in args.sections:
            section_fast(args.max_blocks, args.min_errors, args.reps, args.all_threads)


if __name__ == "__main__":
    main()
