"""BLER calibration: block error rate vs SNR of every MCS over a linksim channel.

:func:`calibrate_mcs` sends random payloads through :class:`~linksim.digital.CodedModulation` and
the channel (``channel(symbols, snr_db)`` -> equalised ``y`` and ``noise_var``, exactly as a sweep
does) and counts a block error whenever an image is not received correctly: a failed CRC in any of
its codewords, or (undetected error) a payload bit that differs. One "block" is one image's worth
of channel uses, so the BLER is the probability that an image's bit stream is lost.

SNR grid: given explicitly (``snr_db``), or found per MCS and block length on a ``step_db`` grid
(default 0.5 dB) that starts at the AWGN capacity limit of the MCS (rounded down to the grid),
steps *down* while the BLER is <= ``max_bler`` (0.9) and then *up* until it falls below
``min_bler`` (1e-2), so each curve covers the whole waterfall. Points at high BLER are cheap
(they stop after ``min_errors`` errors); each point stops after ``min_errors`` block errors or
``max_blocks`` blocks. Where the waterfall is steep (long codes drop two decades in 0.5 dB),
points are added at half and quarter steps around the 10% BLER crossing (``refine``), the
threshold :meth:`~linksim.digital.BlerTable.select` uses by default.

Every point draws its payloads and channel noise from a seed derived from (``seed``, channel,
block length, MCS, SNR), so a calibration is reproducible and does not depend on the order of the
points.

:func:`calibrate_main` runs a calibration and writes the table (``write_bler_table``, atomically)
plus a Markdown note next to it with the settings and the 10% BLER thresholds.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from linksim.channels import ChannelConfig, build_channel
from linksim.digital.coded_modulation import CodedModulation, resolve_decoder
from linksim.digital.mcs import BLER_COLUMNS, MCS_TABLE, BlerTable, Mcs, shannon_snr_db
from linksim.randomness import seed_everything
from linksim.results import atomic_write, write_text

_MAX_POINTS_PER_CURVE = 60


def _point_seed(seed: int, channel: str, channel_uses: int, mcs: Mcs, snr_db: float) -> int:
    key = f"{seed}/{channel}/{channel_uses}/{mcs.index}/{snr_db:.4f}"
    return zlib.crc32(key.encode())


def _batch_size(cm: CodedModulation, bits_per_batch: int) -> int:
    coded_bits = cm.num_symbols * cm.mcs.bits_per_symbol
    return int(min(256, max(8, math.ceil(bits_per_batch / coded_bits))))


def simulate_point(
    cm: CodedModulation,
    channel: torch.nn.Module,
    snr_db: float,
    *,
    max_blocks: int,
    min_errors: int,
    seed: int,
    batch_size: int | None = None,
    bits_per_batch: int = 1 << 17,
) -> tuple[int, int, float]:
    """BLER of ``cm`` over ``channel`` at ``snr_db``: ``(block_errors, blocks, mean_iterations)``.

    Stops after ``min_errors`` block errors or ``max_blocks`` blocks (whichever comes first; the
    last batch may overshoot ``min_errors`` but never ``max_blocks``).
    """
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    batch = batch_size or _batch_size(cm, bits_per_batch)
    errors = blocks = 0
    iterations = 0.0
    with torch.no_grad():
        while blocks < max_blocks and errors < min_errors:
            n = min(batch, max_blocks - blocks)
            bits = torch.randint(0, 2, (n, cm.payload_bits), generator=generator)
            bits = bits.to(device=cm.device, dtype=torch.float32)
            x = cm.encode(bits)
            snr = torch.full((n,), float(snr_db), device=cm.device)
            out = channel(x, snr)
            bits_hat, ok = cm.decode(out.y, out.noise_var)
            wrong = ~ok | (bits_hat != bits).any(dim=1)
            errors += int(wrong.sum())
            blocks += n
            if cm.last_iterations is not None:
                iterations += float(cm.last_iterations.float().sum())
    return errors, blocks, iterations / max(1, blocks * cm.num_codewords)


def _grid_point(value: float, step: float) -> float:
    return round(round(value / step) * step, 4)


def _bracket(results: dict[float, float], target: float) -> tuple[float, float] | None:
    """The SNR pair around the last downward crossing of ``target`` (as BlerTable reads it)."""
    points = sorted(results.items())
    above = [i for i, (_, bler) in enumerate(points) if bler > target]
    if not above or above[-1] == len(points) - 1:
        return None
    i = above[-1]
    return points[i][0], points[i + 1][0]


def calibrate_mcs(
    channel_config: ChannelConfig,
    channel_uses: Sequence[int],
    snr_db: Sequence[float] | None = None,
    max_blocks: int = 2000,
    min_errors: int = 100,
    device: str = "cpu",
    progress: bool = True,
    *,
    mcs: Sequence[int] | None = None,
    seed: int = 0,
    step_db: float = 0.5,
    min_bler: float = 1e-2,
    max_bler: float = 0.9,
    refine: Sequence[float] = (0.1,),
    num_iter: int = 20,
    decoder: str = "auto",
    channel_name: str | None = None,
    bits_per_batch: int = 1 << 17,
) -> pd.DataFrame:
    """BLER-vs-SNR curves of the MCS in :data:`~linksim.digital.MCS_TABLE` over a channel.

    Args:
        channel_config: the channel (e.g. ``AWGNConfig()``), built with ``build_channel``.
        channel_uses: block lengths (channel uses per image) to calibrate.
        snr_db: a fixed SNR grid for every curve; ``None`` finds one per curve (module docs).
        max_blocks: most blocks (images) simulated per point.
        min_errors: a point stops after this many block errors.
        device: torch device.
        progress: print one line per point and a progress bar over curves.
        mcs: indices of the MCS to calibrate (default: all).
        seed: base seed.
        step_db: SNR step of the automatic grid.
        min_bler: the automatic grid goes up until the BLER is below this.
        max_bler: ... and starts at an SNR where the BLER is above this.
        refine: BLER targets around which the automatic grid is refined: while the two points
            bracketing the target differ by more than a decade of BLER, a point is added halfway
            (at most twice, down to 0.125 dB for 0.5 dB steps).
        num_iter: LDPC iterations (early stopping on).
        decoder: LDPC decoder, ``"auto"``, ``"sionna"`` or ``"fast"`` (see ``CodedModulation``).
        channel_name: value of the ``channel`` column (default ``channel_config.type``).
        bits_per_batch: coded bits per simulated batch (sets the batch size).

    Returns:
        A frame with columns ``channel, mcs, channel_uses, snr_db, bler, blocks``. MCS that do
        not fit a block length (too few symbols for a codeword) are skipped with a note.
    """
    from tqdm import tqdm

    if max_blocks < 1 or min_errors < 1:
        raise ValueError("max_blocks and min_errors must be >= 1")
    name = channel_name or channel_config.bler_table or str(getattr(channel_config, "type", "channel"))
    channel = build_channel(channel_config, device=device)
    entries = [MCS_TABLE[i] for i in mcs] if mcs is not None else list(MCS_TABLE)
    combos = [(int(uses), entry) for uses in channel_uses for entry in entries]
    rows: list[dict[str, object]] = []
    bar = tqdm(combos, desc=f"calibrating {name}", disable=not progress, unit="curve")
    for uses, entry in bar:
        try:
            cm = CodedModulation(entry, uses, device=device, num_iter=num_iter, decoder=decoder)
        except ValueError as err:
            if progress:
                tqdm.write(f"skip {entry.name} at {uses} channel uses: {err}")
            continue

        def run(point: float, cm: CodedModulation = cm, uses: int = uses,
                entry: Mcs = entry) -> float:
            start = time.perf_counter()
            errors, blocks, iters = simulate_point(
                cm, channel, point, max_blocks=max_blocks, min_errors=min_errors,
                seed=_point_seed(seed, name, uses, entry, point), bits_per_batch=bits_per_batch,
            )
            bler = errors / blocks
            rows.append({"channel": name, "mcs": entry.index, "channel_uses": uses,
                         "snr_db": point, "bler": bler, "blocks": blocks})
            if progress:
                tqdm.write(
                    f"{name} K={uses:<5d} {entry.name:<11s} {point:6.2f} dB  BLER {bler:.4f} "
                    f"({errors}/{blocks})  {iters:4.1f} it  {time.perf_counter() - start:5.1f} s"
                )
            return bler

        if snr_db is not None:
            for point in sorted(float(s) for s in snr_db):
                if run(point) == 0.0:
                    break  # higher SNRs would only add more error-free points
            continue

        start = _grid_point(
            math.floor(shannon_snr_db(cm.info_bits_per_symbol) / step_db) * step_db, step_db
        )
        results: dict[float, float] = {start: run(start)}
        low = start
        while results[low] <= max_bler and len(results) < _MAX_POINTS_PER_CURVE:
            low = _grid_point(low - step_db, step_db)
            results[low] = run(low)
        high = start
        while results[high] >= min_bler and len(results) < _MAX_POINTS_PER_CURVE:
            high = _grid_point(high + step_db, step_db)
            results[high] = run(high)
        for target in refine:
            # halve the SNR gap around the target crossing while it spans > 1 decade of BLER
            for _ in range(2):
                bracket = _bracket(results, target)
                if bracket is None:
                    break
                lo, hi = bracket
                floor = 0.5 / max_blocks
                spread = math.log10(max(results[lo], floor)) - math.log10(max(results[hi], floor))
                if spread <= 1.0 or hi - lo < 0.2:
                    break
                mid = round((lo + hi) / 2, 4)
                results[mid] = run(mid)
    frame = pd.DataFrame(rows, columns=BLER_COLUMNS)
    return frame.sort_values(["channel", "channel_uses", "mcs", "snr_db"]).reset_index(drop=True)


def write_bler_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a BLER table (``channel, mcs, channel_uses, snr_db, bler, blocks``) atomically."""
    missing = [c for c in BLER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"BLER table lacks columns {missing}")
    table = frame[BLER_COLUMNS].sort_values(["channel", "channel_uses", "mcs", "snr_db"])
    path = Path(path)
    atomic_write(
        path,
        lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n"),
    )


def describe_table(frame: pd.DataFrame, target: float = 0.1) -> str:
    """Markdown table of the SNR (dB) at BLER ``target`` per MCS and block length."""
    parts = []
    for channel in sorted(frame["channel"].astype(str).unique()):
        table = BlerTable(frame, channel=channel)
        summary = table.summary(target)
        uses = list(summary.columns)
        parts.append(f"SNR (dB) at BLER {target:g}, channel `{channel}`:\n")
        parts.append("| MCS | SE (bit/use) | " + " | ".join(f"K={u}" for u in uses) + " |")
        parts.append("| --- | ---: | " + " | ".join("---:" for _ in uses) + " |")
        for entry in MCS_TABLE:
            cells = []
            for u in uses:
                value = summary.loc[entry.name, u]
                cells.append("-" if not math.isfinite(value) else f"{value:.2f}")
            parts.append(f"| {entry.name} | {entry.spectral_efficiency:.2f} | "
                         + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def calibrate_main(
    channel_config: ChannelConfig,
    channel_uses: Sequence[int],
    out_path: str | Path,
    max_blocks: int = 500,
    min_errors: int = 50,
    progress: bool = True,
    *,
    device: str = "cpu",
    seed: int = 0,
    snr_db: Sequence[float] | None = None,
    notes: bool = True,
    decoder: str = "auto",
    step_db: float = 0.5,
    min_bler: float = 1e-2,
) -> pd.DataFrame:
    """Calibrate every MCS over ``channel_config`` and write the BLER table to ``out_path``.

    Also writes ``out_path`` with the suffix ``.md``: the settings and the SNR at 10% BLER per
    MCS and block length (``notes=False`` skips it). Returns the table.
    """
    out_path = Path(out_path)
    start = time.perf_counter()
    frame = calibrate_mcs(
        channel_config, list(channel_uses), snr_db=snr_db, max_blocks=max_blocks,
        min_errors=min_errors, device=device, progress=progress, seed=seed, decoder=decoder,
        step_db=step_db, min_bler=min_bler,
    )
    write_bler_table(frame, out_path)
    if notes:
        elapsed = time.perf_counter() - start
        config = channel_config.model_dump() if hasattr(channel_config, "model_dump") else {}
        text = "\n".join([
            f"# BLER table `{out_path.name}`",
            "",
            "Generated by `linksim.digital.calibrate_main` (see `linksim/digital/calibration.py`).",
            "",
            f"- channel config: `{config}`",
            f"- channel uses (block lengths): {list(channel_uses)}",
            "- SNR grid: " + (f"automatic: {step_db:g} dB steps from BLER > 0.9 to BLER < {min_bler:g}, refined "
                              f"to {step_db / 2:g}/{step_db / 4:g} dB around the 10% crossing where it is steep"
                              if snr_db is None else str(list(snr_db))),
            f"- stop rule per point: {min_errors} block errors or {max_blocks} blocks",
            "- receiver: Sionna `app` demapper with the channel's per-symbol noise variance, "
            + ("5G LDPC BP (boxplus-phi, flooding; Sionna)" if resolve_decoder(decoder, device) == "sionna"
               else "5G LDPC layered normalised min-sum (linksim's fast decoder)")
            + ", at most 20 iterations with syndrome-based "
            "early stopping; block error = any CRC failure or payload bit error",
            f"- seed: {seed}; wall time: {elapsed / 60:.1f} min; torch threads: "
            f"{torch.get_num_threads()}",
            f"- points: {len(frame)}",
            "",
            describe_table(frame, 0.1),
        ])
        write_text(text + "\n", out_path.with_suffix(".md"))
    return frame
