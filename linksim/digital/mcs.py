"""Modulation and coding schemes (MCS) and the BLER tables that select one for a given SNR.

:data:`MCS_TABLE` is the MCS index table of 3GPP TS 38.214, Table 5.1.3.1-2 (the PDSCH table with
256QAM): 28 entries, QPSK to 256QAM, target code rates 120/1024 to 948/1024, spectral efficiency
0.23 to 7.41 bit per channel use, about 1 dB apart; an entry's ``index`` is its 3GPP MCS index.
The 5G LDPC rate matching of Sionna stops at rate 1/5; below it (MCS 0 and 1) the rate-1/5
codeword is repeated cyclically and the receiver adds the LLRs of the copies, as 5G's circular
buffer does beyond the mother code (:class:`~linksim.digital.CodedModulation`). Any other
(modulation, rate) pair, e.g. for ``policy: fixed``, is an :class:`Mcs` without an index,
named like ``"16QAM-r1/2"``.

:class:`BlerTable` holds calibrated BLER curves (``channel, mcs, channel_uses, snr_db, bler,
blocks``; ``mcs`` is the 3GPP index) and answers two questions: at what SNR does an MCS reach a
target BLER (:meth:`BlerTable.threshold_db`), and which MCS should a link with a given SNR use
(:meth:`BlerTable.select`). Calibrations shipped in ``linksim/digital/tables/`` are named in
:data:`BLER_TABLES` (one per channel they were measured on) and loaded by :func:`bler_table`;
``tables/<name>.md`` says how each was generated.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from linksim.digital.catalogue import BLER_TABLES, MCS_TABLE, Mcs, mcs_by_name

BLER_COLUMNS = ["channel", "mcs", "channel_uses", "snr_db", "bler", "blocks"]


def shannon_snr_db(spectral_efficiency: float) -> float:
    """SNR (dB) at which AWGN capacity ``log2(1 + SNR)`` equals ``spectral_efficiency``."""
    return 10.0 * math.log10(2.0**spectral_efficiency - 1.0)


class BlerTable:
    """Calibrated BLER curves of the MCS in :data:`MCS_TABLE` for one channel.

    Args:
        frame: rows with columns ``channel, mcs, channel_uses, snr_db, bler, blocks`` (``mcs`` is
            the index into :data:`MCS_TABLE`, or its name).
        channel: which channel's rows to use; may be omitted when the frame holds one channel.

    Thresholds: the SNR where the BLER curve crosses ``target`` is found by linear interpolation
    of ``log10(BLER)`` between the two SNR points around the *last* crossing from above
    (so that a noisy point below the target in the waterfall is not taken for the threshold).
    A measured BLER of 0 counts as ``0.5 / blocks`` in the logarithm. If even the lowest
    calibrated SNR meets the target, that SNR is returned (a conservative bound); if no point
    meets it, the last segment of a falling curve is extended (else ``inf``). For a ``channel_uses`` without calibration, the calibrated value nearest
    in log distance is used (ties go to the smaller, i.e. shorter and more conservative, code).
    """

    def __init__(self, frame: pd.DataFrame, channel: str | None = None) -> None:
        missing = [c for c in BLER_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"BLER table lacks columns {missing}; expected {BLER_COLUMNS}")
        channels = sorted(frame["channel"].astype(str).unique())
        if channel is None:
            if len(channels) != 1:
                raise ValueError(f"BLER table holds channels {channels}; pass channel=")
            channel = channels[0]
        elif channel not in channels:
            raise ValueError(f"BLER table has no channel {channel!r}; it holds {channels}")
        rows = frame[frame["channel"].astype(str) == channel].copy()
        rows["mcs"] = [self._mcs_index(v) for v in rows["mcs"]]
        rows["channel_uses"] = rows["channel_uses"].astype(int)
        self.channel = channel
        self.frame = rows.sort_values(["mcs", "channel_uses", "snr_db"]).reset_index(drop=True)
        self._curves: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for (mcs, uses), group in self.frame.groupby(["mcs", "channel_uses"]):
            self._curves[(int(mcs), int(uses))] = (
                group["snr_db"].to_numpy(float),
                group["bler"].to_numpy(float),
                group["blocks"].to_numpy(float),
            )
        self._threshold_cache: dict[tuple[int, float], torch.Tensor] = {}

    @staticmethod
    def _mcs_index(value: object) -> int:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            index = mcs_by_name(value.strip()).index
            if index is None:
                raise ValueError(f"MCS {value!r} is not in TS 38.214 Table 5.1.3.1-2 (MCS0..MCS{len(MCS_TABLE) - 1})")
            return index
        index = int(value)  # type: ignore[call-overload]
        if not 0 <= index < len(MCS_TABLE):
            raise ValueError(f"MCS index {index} outside MCS_TABLE (0..{len(MCS_TABLE) - 1})")
        return index

    def check_complete(self, target: float = 0.1) -> None:
        """Raise ``ValueError`` (one line) unless every MCS of :data:`MCS_TABLE` has a curve at
        every calibrated block length, and within each modulation a higher code rate never
        reaches BLER ``target`` at a lower SNR by more than three standard errors of the two
        thresholds (:meth:`threshold_error_db`). Across modulations no order is required: on a
        fading channel a lower-rate 256QAM code can beat a high-rate 64QAM one (more coding
        diversity), and the adaptive choice (the most efficient feasible MCS) handles that."""
        for uses in self.channel_uses:
            missing = [m.index for m in MCS_TABLE if (m.index, uses) not in self._curves]
            if missing:
                listed = ", ".join(f"MCS{i}" for i in missing[:6]) + (", ..." if len(missing) > 6 else "")
                raise ValueError(f"channel '{self.channel}', {uses} channel uses: no rows for {listed} "
                                 f"(every MCS of TS 38.214 Table 5.1.3.1-2 needs a BLER curve)")
            values = {m.index: self.threshold_db(m.index, uses, target) for m in MCS_TABLE}
            errors = {m.index: self.threshold_error_db(m.index, uses, target) for m in MCS_TABLE}
            for low, high in zip(MCS_TABLE, MCS_TABLE[1:]):
                if low.bits_per_symbol != high.bits_per_symbol:
                    continue
                margin = 3.0 * math.hypot(errors[low.index], errors[high.index])
                if values[high.index] < values[low.index] - margin:
                    raise ValueError(f"channel '{self.channel}', {uses} channel uses: thresholds not increasing: "
                                     f"{high.name} reaches BLER {target:g} at {values[high.index]:.2f} dB, "
                                     f"below {low.name} at {values[low.index]:.2f} dB (more than 3 standard errors)")

    def threshold_error_db(self, mcs_index: int, channel_uses: int, target: float = 0.1) -> float:
        """Standard error (dB) of :meth:`threshold_db` from the Monte Carlo error of the measured
        BLER near ``target``: ``sqrt((1 - p) / (p n)) / ln 10`` decades (``n`` blocks of the
        bracketing point with most blocks) divided by the curve's slope there (decades per dB).
        ``inf`` where the curve does not cross ``target``."""
        curve = self._log_curve(mcs_index, channel_uses)
        if curve is None:
            return math.inf
        snr, log_bler, blocks = curve
        above = np.nonzero(log_bler > math.log10(target))[0]
        if above.size == 0 or above[-1] == len(snr) - 1:
            return math.inf
        i = int(above[-1])
        slope = (log_bler[i] - log_bler[i + 1]) / (snr[i + 1] - snr[i])
        n = float(max(blocks[i], blocks[i + 1]))
        spread = math.sqrt((1 - target) / (target * n)) / math.log(10)
        return float(spread / slope) if slope > 0 else math.inf

    @classmethod
    def from_csv(cls, path: str | Path, channel: str | None = None) -> BlerTable:
        """Load a table written by :func:`linksim.digital.calibration.write_bler_table`."""
        return cls(pd.read_csv(path), channel=channel)

    @property
    def channel_uses(self) -> list[int]:
        """The calibrated block lengths (channel uses per image), ascending."""
        return sorted({uses for _, uses in self._curves})

    def mcs_indices(self, channel_uses: int | None = None) -> list[int]:
        """MCS indices with a calibrated curve (at the block length used for ``channel_uses``)."""
        if channel_uses is None:
            return sorted({mcs for mcs, _ in self._curves})
        uses = self.nearest_channel_uses(channel_uses)
        return sorted(mcs for mcs, u in self._curves if u == uses)

    def nearest_channel_uses(self, channel_uses: int) -> int:
        """The calibrated block length nearest to ``channel_uses`` in log distance."""
        if channel_uses <= 0:
            raise ValueError(f"channel_uses must be positive, got {channel_uses}")
        available = self.channel_uses
        if not available:
            raise ValueError("BLER table is empty")
        target = math.log(channel_uses)
        # sorted ascending, and min() keeps the first of equals: ties go to the shorter code
        return min(available, key=lambda u: abs(math.log(u) - target))

    def _log_curve(self, mcs_index: int, channel_uses: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(snr_db, log10 BLER, blocks)`` of the curve used for ``channel_uses`` (a BLER of 0
        counts as ``0.5 / blocks``), or ``None`` if the MCS has none there."""
        curve = self._curves.get((int(mcs_index), self.nearest_channel_uses(channel_uses)))
        if curve is None:
            return None
        snr, bler, blocks = curve
        return snr, np.log10(np.maximum(bler, 0.5 / np.maximum(blocks, 1.0))), blocks

    def threshold_db(self, mcs_index: int, channel_uses: int, target: float = 0.1) -> float:
        """SNR (dB) where MCS ``mcs_index`` reaches BLER ``target`` at ``channel_uses``."""
        if not 0.0 < target < 1.0:
            raise ValueError(f"target BLER must be in (0, 1), got {target}")
        curve = self._log_curve(mcs_index, channel_uses)
        if curve is None:
            return math.inf
        snr, log_bler, _ = curve
        log_target = math.log10(target)
        above = np.nonzero(log_bler > log_target)[0]
        if above.size == 0:
            return float(snr[0])
        last = int(above[-1])
        if last == len(snr) - 1:
            # Below the last measured point: extend the waterfall's last segment, if it falls.
            if len(snr) < 2 or log_bler[-1] >= log_bler[-2]:
                return math.inf
            last -= 1
        x0, x1 = snr[last], snr[last + 1]
        y0, y1 = log_bler[last], log_bler[last + 1]
        return float(x0 + (log_target - y0) * (x1 - x0) / (y1 - y0))

    def block_target(self, channel_uses: int, target: float) -> tuple[int, float]:
        """The calibrated block length for images of ``channel_uses`` and the BLER each block
        may have for the image's error rate to be ``target``.

        An image longer than the longest calibrated block (a Kodak photo at ratio 1/16 is 73,728
        channel uses, 72 blocks of 1,024) is lost if any of its ``m = K / K_max`` blocks is: its
        blocks may each fail with ``1 - (1 - target)^(1/m)``, treating them as independent (the
        image's actual codewords are longer, with a steeper waterfall, so this is conservative).
        """
        uses = self.nearest_channel_uses(channel_uses)
        blocks = max(1.0, channel_uses / max(self.channel_uses))
        return uses, 1.0 - (1.0 - target) ** (1.0 / blocks)

    def thresholds_db(self, channel_uses: int, target: float = 0.1) -> torch.Tensor:
        """Thresholds of every entry of :data:`MCS_TABLE` (``inf`` where uncalibrated), ``[M]``,
        for an image error rate ``target`` at ``channel_uses`` (see :meth:`block_target`)."""
        key = self.block_target(channel_uses, target)
        if key not in self._threshold_cache:
            values = [self.threshold_db(m.index, key[0], key[1]) for m in MCS_TABLE]
            self._threshold_cache[key] = torch.tensor(values, dtype=torch.float64)
        return self._threshold_cache[key]

    def select(
        self, snr_db: torch.Tensor, channel_uses: int, target: float = 0.1
    ) -> torch.Tensor:
        """The highest-efficiency MCS whose threshold is <= ``snr_db``, per sample.

        Args:
            snr_db: ``[B]`` SNR (dB) the transmitter believes the link has.
            channel_uses: channel uses per image (selects the calibrated block length).
            target: the error rate of a whole image the chosen MCS must reach at ``snr_db``
                (per calibrated block for images up to the longest block, see :meth:`block_target`).

        Returns:
            ``[B]`` long tensor of MCS indices, ``-1`` where no MCS reaches the target.
        """
        snr = torch.as_tensor(snr_db)
        thresholds = self.thresholds_db(channel_uses, target).to(snr.device)
        feasible = snr.to(torch.float64)[..., None] >= thresholds
        rank = torch.arange(1, len(MCS_TABLE) + 1, device=snr.device)
        return (feasible.long() * rank).amax(dim=-1) - 1

    def summary(self, target: float = 0.1) -> pd.DataFrame:
        """Threshold (dB) per MCS (rows) and calibrated block length (columns)."""
        data = {
            uses: [self.threshold_db(m.index, uses, target) for m in MCS_TABLE]
            for uses in self.channel_uses
        }
        index = pd.Index([m.name for m in MCS_TABLE], name="mcs")
        return pd.DataFrame(data, index=index)


@lru_cache(maxsize=None)
def bler_table(name: str) -> BlerTable:
    """A shipped calibration by name (see :data:`BLER_TABLES`), checked complete."""
    if name not in BLER_TABLES:
        raise ValueError(f"unknown BLER table {name!r}; shipped: {', '.join(BLER_TABLES)}")
    source = resources.files("linksim.digital").joinpath(f"tables/{name}.csv")
    with resources.as_file(source) as path:
        table = BlerTable.from_csv(path)
    table.check_complete()
    return table


def default_bler_table() -> BlerTable:
    """The AWGN calibration shipped with linksim (``linksim/digital/tables/awgn.csv``)."""
    return bler_table("awgn")
