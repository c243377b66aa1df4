"""Modulation and coding schemes (MCS) and the BLER table that selects one for a given SNR.

The MCS set is a compact subset in the spirit of 3GPP TS 38.214 Table 5.1.3.1-2 (the PDSCH
256QAM table): QPSK, 16QAM, 64QAM and 256QAM with 5G LDPC codes from rate 1/5 to 5/6, spaced
so that every step gains 0.17-1 bit per channel use, from 0.4 to 6.7 bit/use.

Why these entries rather than the 27 of the 3GPP table:

- Every entry must be *calibrated* (a BLER-vs-SNR curve per channel and per block length), so a
  dozen points keep the calibration affordable on a CPU (30 min for the AWGN table). The price is
  a coarser staircase: neighbouring 10%-BLER thresholds on AWGN are 1.1-3.7 dB apart (largest
  gaps 16QAM-r3/4 -> 64QAM-r2/3 and 64QAM-r5/6 -> 256QAM-r3/4, see ``tables/awgn.md``) where the
  3GPP table steps by about 1 dB; an adaptive link between two thresholds uses the lower MCS.
- Like the 3GPP table, each modulation covers the rates where it is the better choice for a given
  spectral efficiency: QPSK up to rate 3/4 (the 3GPP table stops QPSK at 602/1024 and starts 16QAM
  at 378/1024, our QPSK 3/4 and 16QAM 1/2 overlap that region), 16QAM 1/2-3/4 (3GPP 378-658/1024),
  64QAM 2/3-5/6 (3GPP 466-873/1024), 256QAM 3/4-5/6 (3GPP 682-948/1024).
- The lowest entry is QPSK 1/5 (SE 0.4), the lowest rate Sionna's 5G LDPC rate matching
  supports without repetition; the 3GPP table goes down to 120/1024 with repetition (SE 0.23).
  Below the QPSK 1/5 threshold (about -3 dB on AWGN for short blocks) the digital link fails.
- The highest entry is 256QAM 5/6 (SE 6.67); 3GPP goes up to 948/1024 (SE 7.4), not included:
  above ~23 dB on AWGN the digital link saturates at 6.67 bit/use.

:class:`BlerTable` holds calibrated BLER curves (``channel, mcs, channel_uses, snr_db, bler,
blocks``; ``mcs`` is the index into :data:`MCS_TABLE`) and answers two questions: at what SNR does
an MCS reach a target BLER (:meth:`BlerTable.threshold_db`), and which MCS should a link with a
given SNR use (:meth:`BlerTable.select`). :func:`default_bler_table` loads the AWGN table shipped
in ``linksim/digital/tables/awgn.csv`` (see ``tables/awgn.md`` for how it was generated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

BLER_COLUMNS = ["channel", "mcs", "channel_uses", "snr_db", "bler", "blocks"]

_MODULATION_NAMES = {2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM"}


@dataclass(frozen=True)
class Mcs:
    """One modulation and coding scheme.

    Attributes:
        index: position in :data:`MCS_TABLE` (ordered by spectral efficiency).
        bits_per_symbol: bits per QAM symbol, 2 (QPSK), 4 (16QAM), 6 (64QAM) or 8 (256QAM).
        code_rate: nominal LDPC code rate k/n (CRC bits count as information bits, as in 5G).
    """

    index: int
    bits_per_symbol: int
    code_rate: float

    def __post_init__(self) -> None:
        if self.bits_per_symbol not in _MODULATION_NAMES:
            raise ValueError(
                f"bits_per_symbol must be one of {sorted(_MODULATION_NAMES)}, "
                f"got {self.bits_per_symbol}"
            )
        if not 0.0 < self.code_rate < 1.0:
            raise ValueError(f"code_rate must be in (0, 1), got {self.code_rate}")

    @property
    def modulation(self) -> str:
        """``"QPSK"``, ``"16QAM"``, ``"64QAM"`` or ``"256QAM"``."""
        return _MODULATION_NAMES[self.bits_per_symbol]

    @property
    def name(self) -> str:
        """E.g. ``"16QAM-r2/3"`` (the rate as the nearest small fraction)."""
        rate = Fraction(self.code_rate).limit_denominator(16)
        return f"{self.modulation}-r{rate.numerator}/{rate.denominator}"

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per channel use, ``bits_per_symbol * code_rate``."""
        return self.bits_per_symbol * self.code_rate


def _table(entries: list[tuple[int, float]]) -> tuple[Mcs, ...]:
    ordered = sorted(entries, key=lambda e: e[0] * e[1])
    return tuple(Mcs(i, bits, rate) for i, (bits, rate) in enumerate(ordered))


MCS_TABLE: tuple[Mcs, ...] = _table(
    [
        (2, 1 / 5), (2, 1 / 3), (2, 1 / 2), (2, 2 / 3), (2, 3 / 4),
        (4, 1 / 2), (4, 2 / 3), (4, 3 / 4),
        (6, 2 / 3), (6, 3 / 4), (6, 5 / 6),
        (8, 3 / 4), (8, 5 / 6),
    ]
)
"""The MCS set, ordered by spectral efficiency (index = position)."""


def mcs_by_name(name: str) -> Mcs:
    """The entry of :data:`MCS_TABLE` called ``name`` (e.g. ``"64QAM-r3/4"``)."""
    for mcs in MCS_TABLE:
        if mcs.name == name:
            return mcs
    names = ", ".join(m.name for m in MCS_TABLE)
    raise ValueError(f"unknown MCS {name!r}; accepted: {names}")


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
            return mcs_by_name(value.strip()).index
        index = int(value)  # type: ignore[call-overload]
        if not 0 <= index < len(MCS_TABLE):
            raise ValueError(f"MCS index {index} outside MCS_TABLE (0..{len(MCS_TABLE) - 1})")
        return index

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

    def threshold_db(self, mcs_index: int, channel_uses: int, target: float = 0.1) -> float:
        """SNR (dB) where MCS ``mcs_index`` reaches BLER ``target`` at ``channel_uses``."""
        if not 0.0 < target < 1.0:
            raise ValueError(f"target BLER must be in (0, 1), got {target}")
        uses = self.nearest_channel_uses(channel_uses)
        curve = self._curves.get((int(mcs_index), uses))
        if curve is None:
            return math.inf
        snr, bler, blocks = curve
        log_bler = np.log10(np.maximum(bler, 0.5 / np.maximum(blocks, 1.0)))
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
def default_bler_table() -> BlerTable:
    """The AWGN table shipped with linksim (``linksim/digital/tables/awgn.csv``)."""
    source = resources.files("linksim.digital").joinpath("tables/awgn.csv")
    with resources.as_file(source) as path:
        return BlerTable.from_csv(path)
