"""HEVC intra (the codec inside BPG) through pillow-heif, counted as the equivalent BPG file.

Encoding: pillow-heif's libheif runs x265 (quality 0..100, mapped by libheif to
``crf = (100 - quality) / 2``) with 4:4:4 chroma, 8 bits, BT.601 full-range YCbCr (the nclx
profile is pinned so that it is exactly BPG's ``color_space`` 0). Decoding: pillow-heif's
libde265 decode of that HEIF file, so an error-free payload decodes to ``decoded`` exactly.

Counted payload: not the HEIF file but the BPG file (:mod:`linksim.codecs.bpg`) that holds the
same HEVC picture, built for real from the HEIF file:

1. the ISO-BMFF boxes are parsed (``meta``: ``pitm``, ``iinf``, ``iloc``, ``iprp``/``ipco``/
   ``ipma``) to find the primary ``hvc1`` item, its ``hvcC`` and ``colr`` properties and its
   data (length-prefixed NAL units, usually in ``mdat``);
2. the SPS from ``hvcC`` is parsed (emulation-prevention bytes removed, exp-Golomb fields,
   profile_tier_level and VUI skipped) for the fields of BPG's ``hevc_header``, the picture
   size and the chroma format (``chroma_format_idc`` 3 = 4:4:4);
3. ``hevc_data`` = the PPS from ``hvcC`` followed by the item's slice-segment NAL units, each
   with its 2-byte NAL header, joined by 3-byte start codes (BPG keeps the Annex B stream but
   drops its first start code, per spec section 3.2). The VPS and SPS are dropped: BPG's
   ``hevc_header`` replaces them. The PPS is kept, because the spec removes only the VPS and SPS
   ("The VPS and SPS NALs shall not be included") and a BPG decoder does not rebuild the PPS.
   Length prefixes and container boxes are not counted; SEI NAL units are dropped (x265's
   version SEI is already removed by libheif; bpgenc disables it too).

Approximations, all small:

- libheif pads every picture side below 64 pixels to 64 (x265 cannot code smaller pictures), so
  a 32x32 image is coded as a 64x64 HEVC picture whose extra 3/4 are edge replicas, and the HEIF
  ``clap`` box crops it back. BPG has no cropping beyond the minimum-coding-block rounding, so
  the header carries the coded size (64x64, the same ue7 byte count as 32x32) and the receiver
  crops to the image size it knows. The padding is cheap to code (a flat 32x32 picture, i.e.
  four near-empty CTUs, takes 9-13 slice bytes) but bpgenc would code 32x32 directly.
- x265 runs with libheif's settings (CRF rate control with ``crf = (100 - quality) / 2``,
  preset "slow", tune "ssim", CTU 32 for pictures under 64 pixels), not bpgenc's (constant QP,
  preset "placebo" at its default level), so the rate-distortion trade-off differs slightly from
  ``bpgenc``; the format overhead is exactly what a BPG file of this HEVC stream has. libbpg's
  decoder also wants fields that only matter for inter pictures (``amp_enabled_flag``,
  ``sps_temporal_mvp_enabled_flag``, ``log2_max_pic_order_cnt_lsb = 8``) to have fixed values;
  they are not checked since the picture is a single IDR slice.
- ``picture_data_length`` holds the real length (v0.9.1), see :mod:`linksim.codecs.bpg`.

Measured on the 32x32 astronaut picture of ``tests/test_codecs.py`` (pillow-heif 1.8.1, libheif
1.23.6, x265 4.3), HEIF file vs BPG-equivalent payload: quality 10: 500 vs 102 bytes, quality
50: 948 vs 551, quality 90: 1974 vs 1577 (397 bytes of boxes, VPS, SPS and length prefixes
saved). Of the payload, 25 bytes are fixed: 10 of BPG file header, 4 of ``hevc_header``, 8 of
PPS and 3 of start code. Over qualities 0..100 it ranges from 84 to 1732 bytes (83 at quality 2:
the size is not strictly monotone in quality).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pillow_heif

from linksim.codecs.base import EncodedImage, SourceCodec
from linksim.codecs.bpg import (
    COLOR_SPACE_RGB,
    COLOR_SPACE_YCBCR,
    COLOR_SPACE_YCGCO,
    START_CODE,
    HevcHeader,
    PcmFields,
    bpg_file,
)

NAL_SPS, NAL_PPS = 33, 34
NAL_IDR = (19, 20)
"""IDR_W_RADL and IDR_N_LP: intra pictures whose slice headers depend on no SPS field BPG drops."""
SRGB_NCLX = {"color_primaries": 1, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1}
"""nclx profile of the encodes: sRGB primaries/transfer, BT.601 matrix, full range = BPG YCbCr."""
BPG_COLOR_SPACES = {5: COLOR_SPACE_YCBCR, 6: COLOR_SPACE_YCBCR, 0: COLOR_SPACE_RGB, 8: COLOR_SPACE_YCGCO}
"""nclx/H.273 ``matrix_coefficients`` -> BPG ``color_space`` (BT.601 is BPG's YCbCr)."""


# --- HEIF (ISO-BMFF) container -----------------------------------------------------------------


@dataclass(frozen=True)
class HevcConfig:
    """The parts of an ``hvcC`` box used here.

    Attributes:
        chroma_format_idc: as declared by the box (the SPS is authoritative).
        length_size: bytes of the big-endian length before each NAL unit of the item data.
        parameter_sets: NAL unit type -> NAL units (with their 2-byte header).
    """

    chroma_format_idc: int
    length_size: int
    parameter_sets: dict[int, list[bytes]]


@dataclass(frozen=True)
class HeifPicture:
    """The primary HEVC image of a HEIF file.

    Attributes:
        config: its ``hvcC``.
        nal_units: its coded data split into NAL units (length prefixes removed).
        matrix_coefficients: from its ``colr``/``nclx`` box (None without one).
        full_range: from the same box.
    """

    config: HevcConfig
    nal_units: list[bytes]
    matrix_coefficients: int | None
    full_range: bool


class _Reader:
    """Big-endian byte cursor over ``data[start:end]``."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data, self.pos, self.end = data, start, len(data) if end is None else end

    def uint(self, size: int) -> int:
        if self.pos + size > self.end:
            raise ValueError("HEIF: truncated box")
        value = int.from_bytes(self.data[self.pos:self.pos + size], "big")
        self.pos += size
        return value

    def fourcc(self) -> bytes:
        self.pos += 4
        return self.data[self.pos - 4:self.pos]

    def full_box(self) -> tuple[int, int]:
        """Read a FullBox header: (version, flags)."""
        return self.uint(1), self.uint(3)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, box_end)`` for the boxes laid end to end in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind, header = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8], 8
        if size == 1:  # 64-bit largesize follows the type
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:  # extends to the end of the enclosing box
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"HEIF: malformed box {kind!r} at byte {pos}")
        yield kind, pos + header, pos + size
        pos += size


def _children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """Child boxes by type (first occurrence): type -> (payload_start, box_end)."""
    found: dict[bytes, tuple[int, int]] = {}
    for kind, payload, box_end in _boxes(data, start, end):
        found.setdefault(kind, (payload, box_end))
    return found


def parse_heif(data: bytes) -> HeifPicture:
    """Find the primary ``hvc1`` item of a HEIF file and return its configuration and NAL units."""
    top = _children(data, 0, len(data))
    if b"meta" not in top:
        raise ValueError("HEIF: no meta box")
    meta = _children(data, top[b"meta"][0] + 4, top[b"meta"][1])  # meta is a FullBox
    for needed in (b"pitm", b"iinf", b"iloc", b"iprp"):
        if needed not in meta:
            raise ValueError(f"HEIF: no {needed.decode()} box")
    primary = _primary_item(data, *meta[b"pitm"])
    item_type = _item_types(data, *meta[b"iinf"]).get(primary)
    if item_type != b"hvc1":
        raise ValueError(f"HEIF: primary item {primary} is {item_type!r}, expected an hvc1 image")
    properties = _item_properties(data, *meta[b"iprp"], item=primary)
    if b"hvcC" not in properties:
        raise ValueError("HEIF: primary item has no hvcC property")
    config = _parse_hvcc(data, *properties[b"hvcC"])
    matrix, full_range = _parse_nclx(data, *properties[b"colr"]) if b"colr" in properties else (None, True)
    item_data = _item_data(data, *meta[b"iloc"], item=primary)
    return HeifPicture(config, _split_length_prefixed(item_data, config.length_size), matrix, full_range)


def _primary_item(data: bytes, start: int, end: int) -> int:
    reader = _Reader(data, start, end)
    version, _ = reader.full_box()
    return reader.uint(2 if version == 0 else 4)


def _item_types(data: bytes, start: int, end: int) -> dict[int, bytes]:
    reader = _Reader(data, start, end)
    version, _ = reader.full_box()
    reader.uint(2 if version == 0 else 4)  # entry_count
    types = {}
    for kind, payload, box_end in _boxes(data, reader.pos, end):
        entry = _Reader(data, payload, box_end)
        entry_version, _ = entry.full_box()
        if kind != b"infe" or entry_version < 2:
            continue
        item = entry.uint(2 if entry_version == 2 else 4)
        entry.uint(2)  # item_protection_index
        types[item] = entry.fourcc()
    return types


def _item_properties(data: bytes, start: int, end: int, item: int) -> dict[bytes, tuple[int, int]]:
    """The property boxes ``ipma`` associates with ``item``: type -> (payload_start, box_end)."""
    children = _children(data, start, end)
    if b"ipco" not in children or b"ipma" not in children:
        raise ValueError("HEIF: iprp without ipco or ipma")
    container = list(_boxes(data, *children[b"ipco"]))
    reader = _Reader(data, *children[b"ipma"])
    version, flags = reader.full_box()
    found: dict[bytes, tuple[int, int]] = {}
    for _ in range(reader.uint(4)):
        entry_item = reader.uint(2 if version < 1 else 4)
        for _ in range(reader.uint(1)):
            index = reader.uint(2) & 0x7FFF if flags & 1 else reader.uint(1) & 0x7F  # drop 'essential'
            if entry_item == item and 1 <= index <= len(container):  # indices are 1-based, 0 = none
                kind, payload, box_end = container[index - 1]
                found.setdefault(kind, (payload, box_end))
    return found


def _item_data(data: bytes, start: int, end: int, item: int) -> bytes:
    """Concatenated extents of ``item`` from ``iloc`` (file-offset construction only)."""
    reader = _Reader(data, start, end)
    version, _ = reader.full_box()
    sizes = reader.uint(1)
    offset_size, length_size = sizes >> 4, sizes & 0xF
    sizes = reader.uint(1)
    base_offset_size, index_size = sizes >> 4, (sizes & 0xF if version in (1, 2) else 0)
    for _ in range(reader.uint(2 if version < 2 else 4)):
        entry_item = reader.uint(2 if version < 2 else 4)
        construction = reader.uint(2) & 0xF if version in (1, 2) else 0
        reader.uint(2)  # data_reference_index
        base = reader.uint(base_offset_size)
        extents = []
        for _ in range(reader.uint(2)):
            reader.uint(index_size)
            extents.append((base + reader.uint(offset_size), reader.uint(length_size)))
        if entry_item != item:
            continue
        if construction != 0:
            raise ValueError(f"HEIF: item {item} uses iloc construction method {construction}")
        return b"".join(data[offset:offset + length] if length else data[offset:] for offset, length in extents)
    raise ValueError(f"HEIF: item {item} has no iloc entry")


def _parse_hvcc(data: bytes, start: int, end: int) -> HevcConfig:
    reader = _Reader(data, start, end)
    reader.pos += 16  # version, profile/tier/level, min_spatial_segmentation, parallelism
    chroma_format_idc = reader.uint(1) & 0x3
    reader.pos += 4  # bit depths, avgFrameRate
    length_size = (reader.uint(1) & 0x3) + 1
    parameter_sets: dict[int, list[bytes]] = {}
    for _ in range(reader.uint(1)):
        nal_type = reader.uint(1) & 0x3F
        for _ in range(reader.uint(2)):
            size = reader.uint(2)
            parameter_sets.setdefault(nal_type, []).append(data[reader.pos:reader.pos + size])
            reader.pos += size
    if reader.pos > end:
        raise ValueError("HEIF: truncated hvcC box")
    return HevcConfig(chroma_format_idc, length_size, parameter_sets)


def _parse_nclx(data: bytes, start: int, end: int) -> tuple[int | None, bool]:
    reader = _Reader(data, start, end)
    if reader.fourcc() != b"nclx":
        return None, True  # an ICC profile says nothing about the YCbCr matrix
    reader.uint(2)  # colour_primaries
    reader.uint(2)  # transfer_characteristics
    return reader.uint(2), bool(reader.uint(1) >> 7)


def _split_length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    units, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise ValueError("HEIF: malformed length-prefixed NAL units")
        units.append(data[pos:pos + size])
        pos += size
    return units


# --- HEVC NAL units and sequence parameter set ---------------------------------------------------


def nal_unit_type(nal: bytes) -> int:
    """``nal_unit_type`` from the first byte of a NAL unit header."""
    return (nal[0] >> 1) & 0x3F


def rbsp(nal: bytes) -> bytes:
    """The payload of a NAL unit without its 2-byte header and emulation-prevention bytes."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", nal[2:])


class _BitReader:
    """MSB-first reader with HEVC ``u(n)`` and ``ue(v)``."""

    def __init__(self, data: bytes) -> None:
        self._value, self._length, self.pos = int.from_bytes(data, "big"), 8 * len(data), 0

    def u(self, bits: int) -> int:
        if self.pos + bits > self._length:
            raise ValueError("HEVC: SPS ends early")
        self.pos += bits
        return (self._value >> (self._length - self.pos)) & ((1 << bits) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("HEVC: invalid exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)


@dataclass(frozen=True)
class SequenceParameterSet:
    """The SPS fields this module needs.

    Attributes:
        chroma_format_idc: 0 grey, 1 4:2:0, 2 4:2:2, 3 4:4:4.
        coded_width, coded_height: ``pic_{width,height}_in_luma_samples``.
        width, height: the size after the conformance window.
        conformance_offsets: (left, right, top, bottom), in luma samples.
        bit_depth_luma, bit_depth_chroma: bits per sample.
        hevc_header: the fields BPG keeps.
    """

    chroma_format_idc: int
    coded_width: int
    coded_height: int
    width: int
    height: int
    conformance_offsets: tuple[int, int, int, int]
    bit_depth_luma: int
    bit_depth_chroma: int
    hevc_header: HevcHeader


def parse_sps(nal: bytes) -> SequenceParameterSet:
    """Parse an SPS NAL unit (H.265 section 7.3.2.2) up to its extension flags.

    Raises ``ValueError`` for features BPG cannot represent (scaling lists, SPS-level reference
    picture sets, long-term references, separate colour planes, multilayer/3D/SCC extensions) or
    that this parser does not follow (HRD parameters in the VUI).
    """
    if nal_unit_type(nal) != NAL_SPS:
        raise ValueError(f"HEVC: NAL unit type {nal_unit_type(nal)} is not an SPS")
    r = _BitReader(rbsp(nal))
    r.u(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    r.u(1)  # sps_temporal_id_nesting_flag
    _skip_profile_tier_level(r, max_sub_layers_minus1)
    r.ue()  # sps_seq_parameter_set_id
    chroma_format_idc = r.ue()
    if chroma_format_idc == 3 and r.u(1):
        raise ValueError("HEVC: separate_colour_plane_flag is set; BPG requires 0")
    coded_width, coded_height = r.ue(), r.ue()
    offsets = (r.ue(), r.ue(), r.ue(), r.ue()) if r.u(1) else (0, 0, 0, 0)
    sub_width = 2 if chroma_format_idc in (1, 2) else 1
    sub_height = 2 if chroma_format_idc == 1 else 1
    luma_offsets = (offsets[0] * sub_width, offsets[1] * sub_width, offsets[2] * sub_height, offsets[3] * sub_height)
    bit_depth_luma, bit_depth_chroma = r.ue() + 8, r.ue() + 8
    r.ue()  # log2_max_pic_order_cnt_lsb_minus4
    ordering_info_for_all = r.u(1)
    for _ in range(max_sub_layers_minus1 + 1 if ordering_info_for_all else 1):
        r.ue(), r.ue(), r.ue()  # max_dec_pic_buffering_minus1, max_num_reorder_pics, max_latency_increase_plus1
    block_sizes = (r.ue(), r.ue(), r.ue(), r.ue())  # log2 min CB - 3, diff max/min CB, min TB - 2, diff TB
    r.ue()  # max_transform_hierarchy_depth_inter
    depth_intra = r.ue()
    if r.u(1):
        raise ValueError("HEVC: scaling_list_enabled_flag is set; BPG requires 0")
    r.u(1)  # amp_enabled_flag
    sao = r.u(1)
    pcm = PcmFields(r.u(4), r.u(4), r.ue(), r.ue(), r.u(1)) if r.u(1) else None
    if r.ue():
        raise ValueError("HEVC: the SPS defines short-term reference picture sets; BPG cannot carry them")
    if r.u(1):
        raise ValueError("HEVC: long_term_ref_pics_present_flag is set; BPG cannot carry it")
    r.u(1)  # sps_temporal_mvp_enabled_flag
    strong_intra_smoothing = r.u(1)
    if r.u(1):
        _skip_vui(r)
    extension_present = r.u(1)
    range_extension, other_extensions, range_flags = 0, 0, 0
    if extension_present:
        range_extension, other_extensions = r.u(1), r.u(7)  # range, multilayer, 3D, SCC, 4 bits
        if range_extension:
            range_flags = r.u(9)
    if other_extensions:
        raise ValueError("HEVC: SPS extensions other than the range extension; BPG cannot carry them")
    header = HevcHeader(*block_sizes, depth_intra, sao, pcm, strong_intra_smoothing,
                        extension_present, range_extension, range_flags)
    return SequenceParameterSet(
        chroma_format_idc=chroma_format_idc,
        coded_width=coded_width,
        coded_height=coded_height,
        width=coded_width - luma_offsets[0] - luma_offsets[1],
        height=coded_height - luma_offsets[2] - luma_offsets[3],
        conformance_offsets=luma_offsets,
        bit_depth_luma=bit_depth_luma,
        bit_depth_chroma=bit_depth_chroma,
        hevc_header=header,
    )


def _skip_profile_tier_level(r: _BitReader, max_sub_layers_minus1: int) -> None:
    r.u(32), r.u(32), r.u(32)  # general profile/tier/flags (88 bits) and general_level_idc (8)
    present = [(r.u(1), r.u(1)) for _ in range(max_sub_layers_minus1)]  # (profile, level) present
    if max_sub_layers_minus1 > 0:
        r.u(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        r.u(88 * profile_present + 8 * level_present)


def _skip_vui(r: _BitReader) -> None:
    """Skip ``vui_parameters()`` (H.265 E.2.1); HRD parameters are not supported."""
    if r.u(1) and r.u(8) == 255:  # aspect_ratio_info_present_flag, aspect_ratio_idc = EXTENDED_SAR
        r.u(32)  # sar_width, sar_height
    if r.u(1):  # overscan_info_present_flag
        r.u(1)
    if r.u(1):  # video_signal_type_present_flag
        r.u(4)  # video_format, video_full_range_flag
        if r.u(1):  # colour_description_present_flag
            r.u(24)
    if r.u(1):  # chroma_loc_info_present_flag
        r.ue(), r.ue()
    r.u(3)  # neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
    if r.u(1):  # default_display_window_flag
        r.ue(), r.ue(), r.ue(), r.ue()
    if r.u(1):  # vui_timing_info_present_flag
        r.u(32), r.u(32)
        if r.u(1):  # vui_poc_proportional_to_timing_flag
            r.ue()
        if r.u(1):
            raise ValueError("HEVC: HRD parameters in the SPS VUI are not supported")
    if r.u(1):  # bitstream_restriction_flag
        r.u(3)
        r.ue(), r.ue(), r.ue(), r.ue(), r.ue()


# --- the BPG-equivalent payload ------------------------------------------------------------------


@dataclass(frozen=True)
class BpgPicture:
    """A HEIF picture re-packed as a BPG file.

    Attributes:
        sps: the parsed SPS.
        hevc_data: PPS and slice NAL units joined by start codes (BPG's ``hevc_data``).
        payload: the whole BPG file: header, ``hevc_header`` and ``hevc_data``.
    """

    sps: SequenceParameterSet
    hevc_data: bytes
    payload: bytes


def bpg_from_heif(heif: bytes) -> BpgPicture:
    """Re-pack the primary image of a HEIF file as the BPG file holding the same HEVC stream."""
    picture = parse_heif(heif)
    parameter_sets = picture.config.parameter_sets
    if len(parameter_sets.get(NAL_SPS, [])) != 1 or len(parameter_sets.get(NAL_PPS, [])) != 1:
        raise ValueError("HEIF: expected exactly one SPS and one PPS in hvcC")
    sps = parse_sps(parameter_sets[NAL_SPS][0])
    header = sps.hevc_header
    cb_size = header.min_coding_block_size
    left, _, top, _ = sps.conformance_offsets
    # A BPG decoder infers the coded size as the picture size rounded up to cb_size, and crops
    # only at the right and bottom.
    if left or top or -(-sps.width // cb_size) * cb_size != sps.coded_width \
            or -(-sps.height // cb_size) * cb_size != sps.coded_height:
        raise ValueError(f"HEVC: coded size {sps.coded_width}x{sps.coded_height} with conformance window "
                         f"{sps.conformance_offsets} is not representable in BPG")
    if sps.bit_depth_chroma != sps.bit_depth_luma:
        raise ValueError("HEVC: BPG requires equal luma and chroma bit depths")
    if picture.matrix_coefficients not in BPG_COLOR_SPACES:
        raise ValueError(f"HEIF: nclx matrix_coefficients {picture.matrix_coefficients} has no BPG color space")
    slices = [nal for nal in picture.nal_units if nal_unit_type(nal) < 32]  # VCL NAL unit types are 0..31
    if not slices:
        raise ValueError("HEIF: the image item holds no slice NAL units")
    if any(nal_unit_type(nal) not in NAL_IDR for nal in slices):
        # Other slices code a picture order count whose width the BPG decoder's SPS fixes to 8 bits.
        raise ValueError("HEVC: BPG-equivalent accounting supports IDR pictures only")
    hevc_data = START_CODE.join([parameter_sets[NAL_PPS][0], *slices])
    payload = bpg_file(width=sps.width, height=sps.height, pixel_format=sps.chroma_format_idc,
                       bit_depth=sps.bit_depth_luma, color_space=BPG_COLOR_SPACES[picture.matrix_coefficients],
                       limited_range=not picture.full_range, hevc_header=header, hevc_data=hevc_data)
    return BpgPicture(sps=sps, hevc_data=hevc_data, payload=payload)


def encode_heif(image: np.ndarray, quality: int) -> bytes:
    """HEIF file of a uint8 ``[H, W, 3]`` RGB image: x265, 4:4:4, BT.601 full range, no metadata."""
    height, width, _ = image.shape
    buffer = io.BytesIO()
    pillow_heif.encode("RGB", (width, height), image.tobytes(), buffer, quality=quality, chroma=444,
                       exif=None, xmp=None, **SRGB_NCLX)
    return buffer.getvalue()


def decode_heif(heif: bytes) -> np.ndarray:
    """pillow-heif's (libde265) decode of a HEIF file: uint8 ``[H, W, 3]`` RGB."""
    return np.asarray(pillow_heif.open_heif(io.BytesIO(heif), convert_hdr_to_8bit=True))


class HevcCodec(SourceCodec):
    """HEVC intra 4:4:4 via pillow-heif, counted as the equivalent BPG file (see module docs)."""

    name: ClassVar[str] = "hevc"
    description: ClassVar[str] = ("HEVC intra 4:4:4 (x265 via pillow-heif), counted as a BPG file "
                                  "(BPG header + PPS + slices); quality 0..100")
    qualities: ClassVar[range] = range(0, 101)

    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        heif = encode_heif(image, quality)
        return EncodedImage(payload=bpg_from_heif(heif).payload, quality=quality, decoded=decode_heif(heif))
