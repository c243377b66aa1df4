"""What a scenario may name of the digital baseline, without torch: the MCS table of TS 38.214
(:data:`MCS_TABLE`, :class:`Mcs`, :func:`mcs_by_name`), the shipped BLER calibrations
(:data:`BLER_TABLES`) and the LDPC decoders (:data:`LDPC_DECODERS`).

Validating a scenario needs these names and entries only; :mod:`.mcs` (the BLER tables
themselves, pandas and torch) and :mod:`.coded_modulation` (Sionna) import them from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_MODULATION_NAMES = {2: "QPSK", 4: "16QAM", 6: "64QAM", 8: "256QAM"}
MODULATION_BITS = {name: bits for bits, name in _MODULATION_NAMES.items()}


@dataclass(frozen=True)
class Mcs:
    """One modulation and coding scheme.

    Attributes:
        bits_per_symbol: bits per QAM symbol, 2 (QPSK), 4 (16QAM), 6 (64QAM) or 8 (256QAM).
        code_rate: target LDPC code rate k/n (CRC bits count as information bits, as in 5G).
        index: its MCS index in :data:`MCS_TABLE` (TS 38.214 Table 5.1.3.1-2), ``None`` for a
            code outside the table.
    """

    bits_per_symbol: int
    code_rate: float
    index: int | None = None

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
        """``"MCS10-16QAM-658/1024"`` for a table entry (rate x 1024 as 3GPP writes it), else
        e.g. ``"16QAM-r2/3"`` (the rate as the nearest small fraction)."""
        if self.index is not None:
            return f"MCS{self.index}-{self.modulation}-{self.code_rate * 1024:g}/1024"
        rate = Fraction(self.code_rate).limit_denominator(16)
        return f"{self.modulation}-r{rate.numerator}/{rate.denominator}"

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per channel use, ``bits_per_symbol * code_rate``."""
        return self.bits_per_symbol * self.code_rate


# (Qm, R x 1024) of TS 38.214 V17 Table 5.1.3.1-2, MCS indices 0-27 (28-31 are reserved for
# retransmissions and carry no rate).
_TS38214_TABLE2 = [
    (2, 120), (2, 193), (2, 308), (2, 449), (2, 602),
    (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658),
    (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
    (8, 682.5), (8, 711), (8, 754), (8, 797), (8, 841), (8, 885), (8, 916.5), (8, 948),
]

MCS_TABLE: tuple[Mcs, ...] = tuple(Mcs(bits, rate / 1024, i) for i, (bits, rate) in enumerate(_TS38214_TABLE2))
"""TS 38.214 Table 5.1.3.1-2, ordered by spectral efficiency (position = 3GPP MCS index)."""

_NAME = re.compile(r"(?i)^(QPSK|16QAM|64QAM|256QAM)-r(\d+)/(\d+)$")


def mcs_by_name(name: str) -> Mcs:
    """An MCS by name: a table entry (``"MCS10"`` or its full name ``"MCS10-16QAM-658/1024"``),
    or any code as ``"<modulation>-r<p>/<q>"`` (e.g. ``"16QAM-r1/2"``, not a table entry)."""
    text = name.strip()
    if match := re.fullmatch(r"(?i)MCS(\d+)(-.*)?", text):
        index = int(match.group(1))
        if index < len(MCS_TABLE) and (match.group(2) is None or MCS_TABLE[index].name.lower() == text.lower()):
            return MCS_TABLE[index]
    elif match := _NAME.match(text):
        bits, rate = MODULATION_BITS[match.group(1).upper()], Fraction(int(match.group(2)), int(match.group(3)))
        if 0 < rate < 1:
            return Mcs(bits, float(rate))
    raise ValueError(f"unknown MCS {name!r}; accepted: MCS0..MCS{len(MCS_TABLE) - 1} (TS 38.214 Table 5.1.3.1-2) "
                     "or <QPSK|16QAM|64QAM|256QAM>-r<p>/<q> with 0 < p/q < 1")


BLER_TABLES: dict[str, str] = {
    "awgn": "AWGN",
    "tdl-a-ls": "OFDM over 3GPP TDL-A (linksim's default grid, 100 ns, 0-3 m/s), LS estimation",
    "tdl-a-lmmse": "OFDM over 3GPP TDL-A (linksim's default grid, 100 ns, 0-3 m/s), LMMSE estimation",
}
"""The calibrations shipped in ``linksim/digital/tables/<name>.csv``, by name: what they were
measured on (``<name>.md`` holds the settings). Channels name theirs (``ChannelConfig.bler_table``)."""


LDPC_DECODERS = ("auto", "sionna", "fast")
"""Accepted values of ``decoder`` (the MCS config's ``decoder:``)."""
