"""The BPG file format (writing side) and the real ``bpgenc``/``bpgdec`` codec.

BPG (Fabrice Bellard, https://bellard.org/bpg/, "BPG Specification" v0.9.x, section 3) is an
HEVC intra picture behind a compact header instead of a container:

- ``file_magic`` 0x425047fb; one byte ``pixel_format`` u(3) | ``alpha1_flag`` u(1) |
  ``bit_depth_minus_8`` u(4); one byte ``color_space`` u(4) | ``extension_present_flag`` u(1) |
  ``alpha2_flag`` u(1) | ``limited_range_flag`` u(1) | ``animation_flag`` u(1) (v0.9.1 names the
  last three bits ``reserved_zeros``; they are 0 for the full-range still pictures written here);
- ``picture_width``, ``picture_height``, ``picture_data_length`` as ue7 (7 bits per byte,
  high bit = "more bytes follow");
- ``hevc_header_and_data()``: ``hevc_header_length`` ue7, then the few SPS fields a decoder
  cannot assume (:class:`HevcHeader`, exp-Golomb/bit coded, zero-padded to a byte), then
  ``hevc_data``: the HEVC Annex B byte stream without its VPS and SPS NAL units and without
  the first start code.

:func:`bpg_file` writes that layout; :mod:`linksim.codecs.hevc` feeds it the HEVC stream that
pillow-heif's x265 produced. ``picture_data_length`` is written as the length of
``hevc_header_and_data()`` (v0.9.1 semantics); bpgenc >= 0.9.5 writes 0 ("to the end of the
file"), which would be 1-2 bytes shorter.

:class:`BpgCodec` runs the reference tools instead, when they are installed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from linksim.codecs.base import EncodedImage, SourceCodec
from linksim.errors import LinksimError

BPG_MAGIC = 0x425047FB
COLOR_SPACE_YCBCR, COLOR_SPACE_RGB, COLOR_SPACE_YCGCO = 0, 1, 2
START_CODE = b"\x00\x00\x01"
"""Annex B start code between NAL units in ``hevc_data``. The 3-byte form is the one x265 (the
encoder behind bpgenc) writes before a slice that follows parameter sets in the same access
unit; the optional leading zero_byte is only required before parameter sets and the first NAL
unit of an access unit, whose start code BPG drops anyway."""


def ue7(value: int) -> bytes:
    """BPG ``ue7(32)``: big-endian 7-bit groups, all but the last byte with the high bit set."""
    if not 0 <= value < 2**32:
        raise ValueError(f"ue7 value out of range: {value}")
    groups = [value & 0x7F]
    while value > 0x7F:
        value >>= 7
        groups.append(value & 0x7F)
    groups.reverse()
    return bytes([group | 0x80 for group in groups[:-1]] + [groups[-1]])


class BitWriter:
    """MSB-first bit writer with HEVC ``u(n)`` and ``ue(v)`` codes."""

    def __init__(self) -> None:
        self._value = 0
        self._length = 0

    def u(self, bits: int, value: int) -> None:
        """Append ``value`` on ``bits`` bits."""
        if not 0 <= value < 1 << bits:
            raise ValueError(f"{value} does not fit in {bits} bits")
        self._value = (self._value << bits) | value
        self._length += bits

    def ue(self, value: int) -> None:
        """Append ``value`` as 0-th order exp-Golomb: ``n`` zeros, then ``value + 1`` on n+1 bits."""
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def to_bytes(self) -> bytes:
        """The bits so far, zero-padded to a whole byte (BPG ``trailing_bits``)."""
        padding = -self._length % 8
        return (self._value << padding).to_bytes((self._length + padding) // 8, "big")


@dataclass(frozen=True)
class PcmFields:
    """The SPS PCM fields, present in the header only when ``pcm_enabled_flag`` is 1."""

    sample_bit_depth_luma_minus1: int
    sample_bit_depth_chroma_minus1: int
    log2_min_pcm_luma_coding_block_size_minus3: int
    log2_diff_max_min_pcm_luma_coding_block_size: int
    loop_filter_disabled_flag: int


@dataclass(frozen=True)
class HevcHeader:
    """The SPS fields that BPG's ``hevc_header`` carries, in spec order (v0.9.x, section 3.1).

    A BPG decoder rebuilds the VPS and SPS from these plus fixed assumptions (ids 0, one
    sub-layer, ``chroma_format_idc = pixel_format``, bit depth from the file header, picture
    size rounded up to the minimum coding block, no scaling lists).
    """

    log2_min_luma_coding_block_size_minus3: int
    log2_diff_max_min_luma_coding_block_size: int
    log2_min_transform_block_size_minus2: int
    log2_diff_max_min_transform_block_size: int
    max_transform_hierarchy_depth_intra: int
    sample_adaptive_offset_enabled_flag: int
    pcm: PcmFields | None
    strong_intra_smoothing_enabled_flag: int
    sps_extension_present_flag: int
    sps_range_extension_flag: int
    range_extension_flags: int
    """The nine range-extension flags, ``transform_skip_rotation_enabled_flag`` first (MSB)."""

    @property
    def min_coding_block_size(self) -> int:
        """``cb_size`` of the spec: the luma size the picture dimensions are rounded up to."""
        return 1 << (self.log2_min_luma_coding_block_size_minus3 + 3)

    def to_bytes(self) -> bytes:
        """``hevc_header_length`` (ue7) followed by the fields and the trailing bits."""
        bits = BitWriter()
        bits.ue(self.log2_min_luma_coding_block_size_minus3)
        bits.ue(self.log2_diff_max_min_luma_coding_block_size)
        bits.ue(self.log2_min_transform_block_size_minus2)
        bits.ue(self.log2_diff_max_min_transform_block_size)
        bits.ue(self.max_transform_hierarchy_depth_intra)
        bits.u(1, self.sample_adaptive_offset_enabled_flag)
        bits.u(1, int(self.pcm is not None))
        if self.pcm is not None:
            bits.u(4, self.pcm.sample_bit_depth_luma_minus1)
            bits.u(4, self.pcm.sample_bit_depth_chroma_minus1)
            bits.ue(self.pcm.log2_min_pcm_luma_coding_block_size_minus3)
            bits.ue(self.pcm.log2_diff_max_min_pcm_luma_coding_block_size)
            bits.u(1, self.pcm.loop_filter_disabled_flag)
        bits.u(1, self.strong_intra_smoothing_enabled_flag)
        bits.u(1, self.sps_extension_present_flag)
        if self.sps_extension_present_flag:
            bits.u(1, self.sps_range_extension_flag)
            bits.u(7, 0)  # sps_extension_7bits: BPG has no other SPS extensions
        if self.sps_range_extension_flag:
            bits.u(9, self.range_extension_flags)
        fields = bits.to_bytes()
        return ue7(len(fields)) + fields


def bpg_file(*, width: int, height: int, pixel_format: int, bit_depth: int, color_space: int,
             limited_range: bool, hevc_header: HevcHeader, hevc_data: bytes) -> bytes:
    """Serialise a BPG still picture without alpha or extensions.

    Args:
        width, height: ``picture_width``/``picture_height`` in pixels.
        pixel_format: 0 grey, 1 4:2:0, 2 4:2:2, 3 4:4:4.
        bit_depth: bits per component (8..14).
        color_space: 0 YCbCr (BT.601 full range), 1 RGB (as G/B/R planes), 2 YCgCo.
        limited_range: the samples use the limited ("video") range.
        hevc_header: the SPS fields BPG keeps.
        hevc_data: Annex B NAL units without VPS/SPS and without the first start code.
    """
    picture = hevc_header.to_bytes() + hevc_data  # hevc_header_and_data()
    flags1 = (pixel_format << 5) | (bit_depth - 8)  # alpha1_flag = 0
    flags2 = (color_space << 4) | (int(limited_range) << 1)  # no extension, alpha2 or animation
    return (BPG_MAGIC.to_bytes(4, "big") + bytes([flags1, flags2])
            + ue7(width) + ue7(height) + ue7(len(picture)) + picture)


class BpgCodec(SourceCodec):
    """Fabrice Bellard's ``bpgenc``/``bpgdec`` (HEVC intra, 4:4:4, 8-bit), run as subprocesses.

    ``quality = 51 - QP`` so that a higher quality means more bytes; the payload is the whole
    ``.bpg`` file (its header is a handful of bytes). Needs both tools on ``PATH``.
    """

    name: ClassVar[str] = "bpg"
    description: ClassVar[str] = "BPG via the reference bpgenc/bpgdec tools (4:4:4), quality = 51 - QP"
    qualities: ClassVar[range] = range(0, 52)

    def __init__(self, cache_bytes: int = 256 * 2**20) -> None:
        encoder, decoder = shutil.which("bpgenc"), shutil.which("bpgdec")
        if encoder is None or decoder is None:
            raise LinksimError("codec 'bpg' needs bpgenc and bpgdec on PATH (https://bellard.org/bpg/); "
                               "use 'hevc' for the same codec through pillow-heif")
        self._encoder, self._decoder = encoder, decoder
        super().__init__(cache_bytes)

    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        with tempfile.TemporaryDirectory(prefix="linksim-bpg-") as folder:
            source, coded, decoded = (Path(folder) / name for name in ("in.png", "out.bpg", "out.ppm"))
            Image.fromarray(image, "RGB").save(source)
            _run([self._encoder, "-f", "444", "-q", str(51 - quality), "-o", str(coded), str(source)])
            _run([self._decoder, "-o", str(decoded), str(coded)])
            payload = coded.read_bytes()
            pixels = np.asarray(Image.open(io.BytesIO(decoded.read_bytes())).convert("RGB"))
        return EncodedImage(payload=payload, quality=quality, decoded=pixels)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
