"""The digital baseline's channel coding: CRC + 5G LDPC + QAM, MCS selection, BLER calibration.

- :mod:`.catalogue`: what a scenario may name, without torch: the MCS table (:data:`MCS_TABLE`),
  the shipped calibrations (:data:`BLER_TABLES`) and the LDPC decoders (:data:`LDPC_DECODERS`);
- :mod:`.mcs`: :class:`BlerTable` (thresholds, MCS selection) and the shipped calibrations
  (:func:`bler_table`, :func:`default_bler_table`);
- :mod:`.coded_modulation`: :class:`CodedModulation`, payload bits <-> channel symbols for one MCS
  and block length, with early-stopping LDPC decoding (Sionna's or the fast one);
- :mod:`.fast_ldpc`: :class:`FastLDPC5GDecoder`, a compiled layered min-sum / BP decoder for
  Sionna's 5G LDPC codes on CPU threads;
- :mod:`.calibration`: :func:`calibrate_mcs` / :func:`calibrate_main`, BLER-vs-SNR curves of every
  MCS over any linksim channel, written as a BLER table.
"""

from __future__ import annotations

from linksim.lazy import lazy_exports

# name -> module; imported on first use, so that the torch-free catalogue loads alone
_EXPORTS = {
    **dict.fromkeys(("calibrate_main", "calibrate_mcs", "write_bler_table"), "linksim.digital.calibration"),
    **dict.fromkeys(("CodedModulation", "cached_coded_modulation", "resolve_decoder"), "linksim.digital.coded_modulation"),
    "FastLDPC5GDecoder": "linksim.digital.fast_ldpc",
    **dict.fromkeys(("BLER_TABLES", "LDPC_DECODERS", "MCS_TABLE", "Mcs", "mcs_by_name"), "linksim.digital.catalogue"),
    **dict.fromkeys(("BLER_COLUMNS", "BlerTable", "bler_table", "default_bler_table", "shannon_snr_db"), "linksim.digital.mcs"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
