"""The digital baseline's channel coding: CRC + 5G LDPC + QAM, MCS selection, BLER calibration.

- :mod:`.mcs`: the MCS table (:data:`MCS_TABLE`), :class:`BlerTable` (thresholds, MCS selection)
  and the shipped calibrations (:data:`BLER_TABLES`, :func:`bler_table`, :func:`default_bler_table`);
- :mod:`.coded_modulation`: :class:`CodedModulation`, payload bits <-> channel symbols for one MCS
  and block length, with early-stopping LDPC decoding (Sionna's or the fast one);
- :mod:`.fast_ldpc`: :class:`FastLDPC5GDecoder`, a compiled layered min-sum / BP decoder for
  Sionna's 5G LDPC codes on CPU threads;
- :mod:`.calibration`: :func:`calibrate_mcs` / :func:`calibrate_main`, BLER-vs-SNR curves of every
  MCS over any linksim channel, written as a BLER table.
"""

from __future__ import annotations

from linksim.digital.calibration import calibrate_main, calibrate_mcs, write_bler_table
from linksim.digital.coded_modulation import LDPC_DECODERS, CodedModulation, cached_coded_modulation, resolve_decoder
from linksim.digital.fast_ldpc import FastLDPC5GDecoder
from linksim.digital.mcs import (
    BLER_COLUMNS,
    MCS_TABLE,
    BlerTable,
    Mcs,
    BLER_TABLES,
    bler_table,
    default_bler_table,
    mcs_by_name,
    shannon_snr_db,
)

__all__ = [
    "BLER_COLUMNS",
    "MCS_TABLE",
    "BlerTable",
    "CodedModulation",
    "FastLDPC5GDecoder",
    "LDPC_DECODERS",
    "Mcs",
    "cached_coded_modulation",
    "calibrate_main",
    "calibrate_mcs",
    "BLER_TABLES",
    "bler_table",
    "default_bler_table",
    "mcs_by_name",
    "resolve_decoder",
    "shannon_snr_db",
    "write_bler_table",
]
