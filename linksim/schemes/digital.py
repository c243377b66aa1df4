"""The digital baseline: a source codec (BPG-class HEVC intra by default) + 5G LDPC + QAM.

Separate source and channel coding, as every DeepJSCC paper plots it:

1. **MCS.** Each image gets a modulation and code rate (:mod:`linksim.digital.mcs`), chosen by
   ``mcs.policy``: ``fixed`` (one MCS), ``adaptive`` (the highest-throughput MCS whose block
   error rate at the SNR the transmitter is told — ``LinkState.snr_db``, the fed-back SNR — is at
   most ``target_bler``, from a BLER table linksim measured itself; the most robust MCS when none
   qualifies), or ``oracle`` (every MCS is run at every point and the one with the best mean PSNR
   is kept: the upper envelope many papers plot; labelled as such). The MCS set is TS 38.214
   Table 5.1.3.1-2; ``mcs.table: auto`` reads the calibration of the point's channel
   (``ChannelConfig.bler_table``: AWGN, TDL-A with LS or LMMSE estimation) and AWGN's for a
   channel without one; rows say which in ``mcs_table``.
2. **Budget.** ``K = bandwidth_ratio x 3 H W`` complex channel uses carry ``K x bits/symbol``
   coded bits; after the LDPC code rate and the CRCs, :class:`~linksim.digital.CodedModulation`
   offers ``payload_bits`` information bits.
3. **Source coding.** The codec's highest quality whose stream fits ``payload_bits``
   (:meth:`~linksim.codecs.SourceCodec.fit`); the stream is zero-padded to ``payload_bits``
   (its header states its length) and sent through the real coded-modulation chain.
4. **Reception.** LLRs from the channel's per-symbol effective noise variance, LDPC decoding,
   CRC check. The image is recovered — exactly the codec's own decode — only if every codeword's
   CRC passes and the stream fitted; otherwise (or on a CRC-undetected error, checked against the
   sent bits) it is **lost** and the reconstruction is a uniform mid-grey image (``LOST_VALUE``):
   what a receiver can show without knowing the other images of the run, so that a row depends
   on its own image and channel draws only. Rows say ``decoded`` (True/False), ``mcs``,
   ``mcs_table`` (adaptive), ``source_bits``, ``quality``.

:class:`CapacityBound` is the idealised "codec + capacity" curve: the same codec with
``sum_k log2(1 + 1 / noise_var_k)`` bits delivered error-free — ``K log2(1 + SNR)`` on AWGN,
the realisation's own capacity on fading channels. It is a bound, not a system: it needs no
symbols (it sends unit-power Gaussian ones so that the channel layer runs as for every scheme).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from linksim.codecs import EncodedImage, SourceCodec, build_codec
from linksim.digital import (BLER_TABLES, MCS_TABLE, BlerTable, CodedModulation, Mcs, bler_table,
                             cached_coded_modulation, resolve_decoder)
from linksim.errors import LinksimError
from linksim.schemes.base import SCHEMES, LinkState, Scheme, Transmission, channel_uses
from linksim.schemes.config import CapacityConfig, DigitalConfig, McsConfig

def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images ``[B, 3, H, W]`` in [0, 1] -> ``[B, H, W, 3]`` uint8 (what codecs take)."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def from_uint8(pixels: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """``[B, H, W, 3]`` uint8 -> ``[B, 3, H, W]`` float in [0, 1]."""
    return torch.from_numpy(np.array(pixels, dtype=np.uint8)).to(device).permute(0, 3, 1, 2).float() / 255


def stream_bits(payload: bytes | None, length: int) -> torch.Tensor:
    """A payload as ``[length]`` bits (MSB first), zero-padded; zeros when nothing fitted."""
    bits = np.zeros(length, dtype=np.float32)
    if payload is not None:
        raw = np.unpackbits(np.frombuffer(payload, dtype=np.uint8)).astype(np.float32)
        bits[: len(raw)] = raw
    return torch.from_numpy(bits)


def stream_columns(encoded: list[EncodedImage | None]) -> dict[str, torch.Tensor]:
    """Result columns ``source_bits`` (0) and ``quality`` (-1 when nothing fitted), each ``[B]``."""
    return {
        "source_bits": torch.tensor([8 * len(e.payload) if e else 0 for e in encoded]),
        "quality": torch.tensor([e.quality if e else -1 for e in encoded]),
    }


_CODEC_CACHE_BYTES = 2 * 2**30  # a sweep re-fits every image at many budgets: keep all encodings


@functools.cache
def shared_codec(name: str) -> SourceCodec:
    """One codec instance per name and process, so that every digital scheme of a sweep (adaptive,
    oracle, capacity) shares its cache of encodings."""
    return build_codec(name, cache_bytes=_CODEC_CACHE_BYTES)


LOST_VALUE = 0.5  # every pixel of a lost image (the middle of [0, 1])


class _CodecScheme(Scheme):
    """What both digital schemes share: a source codec and the reconstruction of a lost image."""

    def __init__(self, codec_name: str, device: str) -> None:
        super().__init__()
        self.codec: SourceCodec = shared_codec(codec_name)
        self.device = device

    def _reconstruct(self, encoded: list[EncodedImage | None], decoded: torch.Tensor, shape: torch.Size,
                     state: LinkState | None = None) -> torch.Tensor:
        """Codec decodes where ``decoded`` ``[B]`` is True, mid-grey (``LOST_VALUE``) elsewhere;
        ``[B, 3, H, W]`` for ``shape``."""
        out = torch.full(tuple(shape), LOST_VALUE, device=decoded.device)
        for i in torch.nonzero(decoded).flatten().tolist():
            out[i] = from_uint8(encoded[i].decoded[None], out.device)[0]
        return out


@SCHEMES.register
class DigitalScheme(_CodecScheme):
    """Source codec + 5G LDPC + QAM with fixed, adaptive or oracle MCS (see the module docstring).

    ``transmit``: images ``[B, 3, H, W]`` -> ``K`` QAM symbols each (unit average power).
    ``receive``: ``y``, ``noise_var`` ``[B, K]`` -> images; rows get ``decoded``, ``mcs``,
    ``source_bits``, ``quality``.
    """

    config_class = DigitalConfig
    description = "separate source/channel coding: HEVC-intra (BPG-class), JPEG or WebP + 5G LDPC + QAM"

    def __init__(self, config: DigitalConfig | None = None, device: str = "cpu") -> None:
        self.config = config or DigitalConfig()
        super().__init__(self.config.source_codec, device)
        mcs = self.config.mcs
        # What the per-image choice indexes: the one fixed code, or TS 38.214 Table 5.1.3.1-2.
        self.entries: tuple[Mcs, ...] = (mcs.fixed_mcs(),) if mcs.policy == "fixed" else MCS_TABLE
        self._tables: dict[str, BlerTable] = {}
        if mcs.policy == "adaptive" and mcs.table != "auto":
            self.bler_table(mcs.table)  # a bad table file fails here, before any image is sent
        self.decoder = resolve_decoder(mcs.decoder, device)
        self._candidates: list[DigitalScheme] = []
        if mcs.policy == "oracle":
            for entry in MCS_TABLE:
                fixed = McsConfig(policy="fixed", index=entry.index, ldpc_iterations=mcs.ldpc_iterations,
                                  decoder=mcs.decoder)
                self._candidates.append(DigitalScheme(self.config.model_copy(update={"mcs": fixed, "name": entry.name}), device))

    @property
    def label(self) -> str:
        return self.config.label

    def hindsight_candidates(self) -> list[Scheme]:
        return list(self._candidates)

    def coder(self, mcs: Mcs, k: int) -> CodedModulation:
        """The coded-modulation chain of ``mcs`` over ``k`` channel uses (shared process-wide, so
        the oracle's candidates and the adaptive scheme build each chain once)."""
        try:
            return cached_coded_modulation(mcs, k, device=self.device, num_iter=self.config.mcs.ldpc_iterations,
                                           decoder=self.decoder)
        except ValueError as exc:
            raise LinksimError(f"digital scheme: {mcs.name} over {k} channel uses: {exc}") from None

    def bler_table(self, name: str) -> BlerTable:
        """The calibration called ``name`` (shipped, see ``BLER_TABLES``, or a CSV path), loaded once
        and checked complete; a one-line error naming ``mcs.table`` if it is not usable."""
        if name not in self._tables:
            try:
                if name in BLER_TABLES:
                    self._tables[name] = bler_table(name)
                else:
                    table = BlerTable.from_csv(name)
                    table.check_complete()
                    self._tables[name] = table
            except (OSError, ValueError, KeyError) as exc:
                raise LinksimError(f"digital scheme: mcs.table: {name}: {exc}") from None
        return self._tables[name]

    def table_name(self, state: LinkState) -> str:
        """The calibration an adaptive choice reads: ``mcs.table``, or with ``auto`` the one of the
        point's channel (``LinkState.bler_table``), AWGN's when the channel has none."""
        name = self.config.mcs.table
        return (state.bler_table or "awgn") if name == "auto" else name

    def select_mcs(self, state: LinkState, k: int) -> torch.Tensor:
        """Position in :attr:`entries` per image ``[B]`` from the policy and the fed-back SNR."""
        if self.config.mcs.policy == "fixed":
            return torch.zeros_like(state.snr_db, dtype=torch.long)
        assert self.config.mcs.policy == "adaptive", "oracle schemes run their fixed candidates"
        table = self.bler_table(self.table_name(state))
        chosen = table.select(state.snr_db.cpu(), k, self.config.mcs.target_bler)
        return chosen.clamp_min(0).to(state.snr_db.device)  # none qualifies: the most robust MCS

    # -- what the bits carry (a subclass sends something else through the same chain) ----------
    def source(self, pixels: np.ndarray, labels: torch.Tensor | None, budget_bits: int) -> Any:
        """What is sent of one image (uint8 ``[H, W, 3]``) in at most ``budget_bits``: here the
        codec's best fitting encoding (``None``: nothing fits, the image is lost)."""
        return self.codec.fit(pixels, budget_bits)

    def payload(self, record: Any) -> bytes | None:
        """The bytes of a :meth:`source` record (``None``: nothing is sent)."""
        return None if record is None else record.payload

    def source_columns(self, records: list[Any]) -> dict[str, Any]:
        return stream_columns(records)

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        k = channel_uses(tuple(images.shape[1:]), state.bandwidth_ratio)
        mcs_index = self.select_mcs(state, k)
        pixels = to_uint8(images)
        symbols = torch.zeros(len(images), k, dtype=torch.complex64, device=images.device)
        encoded: list[Any] = [None] * len(images)
        sent_bits: dict[int, torch.Tensor] = {}
        for index in mcs_index.unique().tolist():
            rows = torch.nonzero(mcs_index == index).flatten()
            coder = self.coder(self.entries[index], k)
            for i in rows.tolist():
                encoded[i] = self.source(pixels[i], None if state.labels is None else state.labels[i], coder.payload_bits)
            bits = torch.stack([stream_bits(self.payload(encoded[i]), coder.payload_bits)
                                for i in rows.tolist()]).to(images.device)
            symbols[rows] = coder.encode(bits).to(symbols.dtype)
            sent_bits[index] = bits
        columns = {"mcs": [self.entries[i].name for i in mcs_index.tolist()], "decoder": [self.decoder] * len(images),
                   **self.source_columns(encoded)}
        if self.config.mcs.policy == "adaptive":
            columns["mcs_table"] = [self.table_name(state)] * len(images)
        side_info = {"mcs_index": mcs_index, "encoded": encoded, "sent_bits": sent_bits, "shape": images.shape}
        return Transmission(symbols=symbols, side_info=side_info, columns=columns)

    def receive(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState) -> torch.Tensor:
        mcs_index, encoded = tx.side_info["mcs_index"], tx.side_info["encoded"]
        decoded = torch.zeros(len(y), dtype=torch.bool, device=y.device)
        fitted = torch.tensor([self.payload(e) is not None for e in encoded], device=y.device)
        for index, sent in tx.side_info["sent_bits"].items():
            group = mcs_index == index
            # Images whose stream did not fit are lost whatever the channel did: skip decoding them.
            rows = torch.nonzero(group & fitted).flatten()
            if len(rows) == 0:
                continue
            bits, crc_ok = self.coder(self.entries[index], y.shape[1]).decode(y[rows], noise_var[rows])
            # A CRC can pass on a wrong block (rarely); such an image counts as lost too.
            sent_rows = sent[fitted[group]]
            decoded[rows] = crc_ok.to(y.device) & (bits.to(sent.device) == sent_rows).all(dim=1)
        tx.columns["decoded"] = decoded.cpu()
        return self._reconstruct(encoded, decoded, tx.side_info["shape"], state)


@SCHEMES.register
class CapacityBound(_CodecScheme):
    """The codec with ``sum_k log2(1 + 1/noise_var_k)`` error-free bits per image (a bound).

    ``transmit``: unit-power complex Gaussian symbols ``[B, K]`` (a capacity-achieving codebook's
    statistics). ``receive``: the budget from the channel's effective noise variance, then the
    codec's best fitting stream — the receiver is a genie that knows the image.
    """

    config_class = CapacityConfig
    description = "idealised bound: the same source codec with channel-capacity bits delivered error-free"

    def __init__(self, config: CapacityConfig | None = None, device: str = "cpu") -> None:
        self.config = config or CapacityConfig()
        super().__init__(self.config.source_codec, device)

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        k = channel_uses(tuple(images.shape[1:]), state.bandwidth_ratio)
        if state.keys is not None:
            symbols = state.keys.stream("symbols").randn(k, dtype=torch.complex64)
        else:
            symbols = torch.randn(len(images), k, dtype=torch.complex64)
        return Transmission(symbols=symbols.to(images.device), side_info={"pixels": to_uint8(images), "shape": images.shape})

    def receive(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState) -> torch.Tensor:
        budget = torch.log2(1 + 1 / noise_var.double().clamp_min(1e-12)).sum(dim=1).floor().long().cpu()
        encoded = [self.codec.fit(p, int(b)) for p, b in zip(tx.side_info["pixels"], budget.tolist(), strict=True)]
        decoded = torch.tensor([e is not None for e in encoded])
        tx.columns.update({
            "budget_bits": budget, **stream_columns(encoded), "decoded": decoded,
        })
        return self._reconstruct(encoded, decoded.to(y.device), tx.side_info["shape"])

