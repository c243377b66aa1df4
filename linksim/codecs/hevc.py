"""HEVC intra coded as the reference ``bpgenc`` codes it, counted as the BPG file.

BPG (:mod:`linksim.codecs.bpg`) is an HEVC intra picture behind a small header. This codec
produces that picture the way ``bpgenc`` 0.9.8 does, with the x265 and libde265 libraries that
pillow-heif bundles (called through ``ctypes``), and counts the BPG file that holds it:

1. RGB -> YCbCr 4:4:4, BT.601 full range (BPG ``color_space`` 0), with bpgenc's fixed-point
   conversion (coefficients ``round(c * 2**23)``, rounded, clamped); the planes are padded to a
   multiple of 8 by repeating the last column and row, as bpgenc's ``image_pad`` does.
2. x265 with the parameters of libbpg's ``x265_glue.c`` (:data:`X265_PRESET`,
   :data:`X265_TUNE`, :data:`X265_PARAMS`): preset "veryslow" (bpgenc's default compression
   level 8 is x265 preset index 8), tune "ssim" (no psycho-visual RD, no chroma QP offset),
   intra only, constant QP. ``quality = 51 - QP``, where QP is bpgenc's ``-q``; like bpgenc's,
   x265 codes the I slice at ``QP - 3`` (its I/P ratio 1.4), so QP 0..3 give the same file.
3. The payload is the BPG file built from x265's NAL units: BPG header, ``hevc_header`` (the
   SPS fields BPG keeps), then the PPS and the slice NAL units joined by 3-byte start codes
   (VPS and SPS dropped, spec section 3.2), exactly the layout bpgenc writes.
4. Decoding: libde265 decodes the NAL units and the YCbCr planes go to RGB with bpgdec's
   fixed-point conversion (``round(c * 2**22)``), so ``decoded`` is, byte for byte, what the
   reference ``bpgdec`` outputs for ``payload`` (``tests/test_codecs.py`` checks this when the
   tools are present).

What still differs from the real ``bpgenc`` (libbpg 0.9.8 bundles an x265 of 2015, API build
75; pillow-heif 1.8.1 bundles x265 4.3):

- The x265 version. The options are the same (the encoder reports the same CTU 64 / CU 8, TU
  32 with intra depth 3, rd 6, rdoq 2, sign hiding, strong intra smoothing, deblocking, SAO,
  WPP; x265 4.x's recursion skip, which bpgenc's x265 lacks, changed none of 60 test pictures)
  but its decisions differ: at the same QP its files are 1.5-11% larger and 0.1-0.7 dB better,
  so the two agree at equal bits, not at equal QP. Measured with ``benchmarks/bpg_fidelity.py``
  against the real bpgenc/bpgdec: PSNR of this codec minus bpgenc's, interpolated on this
  codec's rate-distortion curve at the size of bpgenc's file, at QP 22, 27, 32, 37 and 42:

  ======================================  ========  =============  ====================
  images                                  mean      mean per QP    single points
  ======================================  ========  =============  ====================
  12 Kodak photos, centre 256x256         +0.03 dB  +0.01..+0.04   -0.08..+0.12 dB
  24 CIFAR-10 test images, 32x32          -0.00 dB  -0.06..+0.08   -0.50..+0.59 dB
  ======================================  ========  =============  ====================

  so within 0.1 dB on average, but not image by image on tiny pictures, where a few hundred
  bytes make each encoder decision count (mean absolute difference 0.15 dB on CIFAR, 0.04 dB
  on the photos). The libheif path used before (CRF, preset "slow", psycho-visual RD, pictures
  padded to 64x64) was 0.74 dB worse on the photos and 3.49 dB worse on CIFAR.
- The CTU: x265 4.x cannot code a picture smaller than one CTU, so pictures with a side under
  64 use a CTU of 32 or 16 (the largest that fits). This allows the same coding units as
  bpgenc's CTU 64, whose blocks that cross the picture edge are split anyway; only the CTU
  scan order differs when the other side is longer than the CTU, and ``hevc_header`` holds a
  different ``log2_diff_max_min_luma_coding_block_size``. A side of 8 pixels or less is padded
  to 16, x265's smallest picture, beyond BPG's rounding to a multiple of 8: the header then
  declares 16 for it and the receiver crops to the size it knows.
- ``picture_data_length`` holds the real length (v0.9.1); bpgenc 0.9.8 writes 0 ("to the end
  of the file"), one or two bytes shorter (see :mod:`linksim.codecs.bpg`). It is counted in
  the comparison above.
- x265 4.3 labels the slice ``IDR_N_LP`` where bpgenc's x265 writes ``IDR_W_RADL``: same size,
  same decoding.

The payload size is not strictly monotone in QP, but nearly: over all 52 QPs of 48 CIFAR
images, 6 of 2448 steps to a higher QP gave a larger file, each undone by the next step (none
of 204 steps on four 256x256 photos), hence ``fit_window = 1``.

The libraries are found next to pillow-heif (``pillow_heif.libs`` in Linux and Windows wheels,
``pillow_heif/.dylibs`` in macOS wheels), else wherever ``ctypes.util.find_library`` looks. The
x265 API build is read from the name of its exported ``x265_encoder_open_<build>``, and the
layout of ``x265_picture`` (which moved between x265 3.x and 4.x) is checked when the libraries
are loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pillow_heif

from linksim.codecs.base import EncodedImage, SourceCodec
from linksim.codecs.bpg import COLOR_SPACE_YCBCR, START_CODE, HevcHeader, PcmFields, bpg_file
from linksim.errors import LinksimError

NAL_SPS, NAL_PPS = 33, 34
NAL_IDR = (19, 20)
"""IDR_W_RADL and IDR_N_LP: intra pictures whose slice headers depend on no SPS field BPG drops."""

X265_PRESET, X265_TUNE = "veryslow", "ssim"
"""What bpgenc passes to ``x265_param_default_preset`` at its default compression level 8."""
X265_PARAMS = {
    "input-csp": "i444",  # bpgenc -f 444
    "keyint": "1",  # intra only: keyframeMax = 1 ...
    "total-frames": "1",  # ... and totalFrames = 1
    "repeat-headers": "1",
    "hash": "0",  # no decoded picture hash SEI (bpgenc's default)
    "info": "0",  # no version SEI
    "rect": "1",
    "amp": "1",  # a BPG decoder assumes amp_enabled_flag = 1
    "fps": "25",  # bpgenc's dummy frame rate
    "log-level": "none",
}
"""The x265 parameters bpgenc sets (libbpg 0.9.8 ``x265_glue.c``), as ``x265_param_parse``
options; ``qp`` (which selects constant-QP rate control), ``ctu`` and ``input-res`` are added
per picture."""
X265_CSP_I444 = 3
MIN_PICTURE_SIDE = 16
"""x265 codes no picture smaller than one CTU, and its smallest CTU is 16."""
PICTURE_LAYOUTS = ((32, 64, 80, 92), (24, 48, 60, 72))
"""Byte offsets of ``planes``, ``stride``, ``bitDepth`` and ``colorSpace`` in ``x265_picture`` on
64-bit platforms: x265 4.x (``vbvEndFlag`` before ``userData``, four planes), then x265 <= 3.x."""
DE265_WAITING_FOR_INPUT_DATA = 13
"""libde265's "no more input data" status, expected once the pushed data is decoded."""
K_R, K_B = 0.299, 0.114
"""BT.601 luma weights of red and blue (BPG ``color_space`` 0)."""


# --- colour conversion, as bpgenc and bpgdec do it -----------------------------------------------


def _forward_matrix() -> np.ndarray:
    k_g = 1 - K_R - K_B
    rows = [[K_R, k_g, K_B],
            [-0.5 * K_R / (1 - K_B), -0.5 * k_g / (1 - K_B), 0.5],
            [0.5, -0.5 * k_g / (1 - K_R), -0.5 * K_B / (1 - K_R)]]
    return np.rint(np.array(rows) * 2**23).astype(np.int64)  # bpgenc: lrint(c * mult), c_shift = 31 - 8


def _inverse_matrix() -> np.ndarray:
    k_g = 1 - K_R - K_B
    rows = [[1, 0, 2 * (1 - K_R)],
            [1, -2 * K_B * (1 - K_B) / k_g, -2 * K_R * (1 - K_R) / k_g],
            [1, 2 * (1 - K_B), 0]]
    return np.rint(np.array(rows) * 2**22).astype(np.int64)  # libbpg: lrint(c * mult), c_shift = 30 - 8


FORWARD, INVERSE = _forward_matrix(), _inverse_matrix()


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """bpgenc's RGB -> full-range BT.601 YCbCr of a uint8 ``[H, W, 3]`` image: uint8 ``[3, H, W]``."""
    ycc = (image.astype(np.int64) @ FORWARD.T + (1 << 22)) >> 23
    ycc[..., 1:] += 128
    return np.ascontiguousarray(np.clip(ycc, 0, 255).astype(np.uint8).transpose(2, 0, 1))


def ycbcr_to_rgb(planes: np.ndarray) -> np.ndarray:
    """bpgdec's full-range BT.601 YCbCr -> RGB of uint8 ``[3, H, W]`` planes: uint8 ``[H, W, 3]``."""
    ycc = planes.transpose(1, 2, 0).astype(np.int64) - np.array([0, 128, 128])
    rgb = (ycc @ INVERSE.T + (1 << 21)) >> 22
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --- x265 and libde265 through ctypes ------------------------------------------------------------


class _Nal(ctypes.Structure):
    """``x265_nal``: one NAL unit with its Annex B start code."""

    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("payload", ctypes.POINTER(ctypes.c_uint8))]


@dataclass(frozen=True)
class Libraries:
    """The loaded x265 and libde265.

    Attributes:
        x265, de265: the libraries, with argument and result types declared.
        x265_version: x265's version string.
        encoder_open: ``x265_encoder_open_<build>``.
        planes_offset, stride_offset: where ``x265_picture`` keeps its plane pointers and strides.
    """

    x265: ctypes.CDLL
    de265: ctypes.CDLL
    x265_version: str
    encoder_open: Any
    planes_offset: int
    stride_offset: int


def _library_path(stem: str) -> str:
    package = Path(pillow_heif.__file__).resolve().parent
    for folder in (package.parent / "pillow_heif.libs", package / ".dylibs"):
        found = sorted(folder.glob(f"lib{stem}[-.]*"))
        if found:
            return str(found[0])
    found = ctypes.util.find_library(stem)
    if found is None:
        raise LinksimError(f"codec 'hevc' needs the lib{stem} that pillow-heif bundles; none was found next to "
                           f"pillow-heif ({package}) nor on the library path")
    return found


@functools.cache
def libraries() -> Libraries:
    """Load x265 and libde265 once, declare the functions used and check ``x265_picture``."""
    x265, de265 = ctypes.CDLL(_library_path("x265")), ctypes.CDLL(_library_path("de265"))
    pointer, text, integer = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    builds = [build for build in range(400, 100, -1) if hasattr(x265, f"x265_encoder_open_{build}")]
    if not builds:
        raise LinksimError("codec 'hevc': the x265 library found exports no x265_encoder_open_<build>")
    encoder_open = getattr(x265, f"x265_encoder_open_{builds[0]}")
    for function, result, arguments in [
        (x265.x265_param_alloc, pointer, []),
        (x265.x265_param_free, None, [pointer]),
        (x265.x265_param_default_preset, integer, [pointer, text, text]),
        (x265.x265_param_parse, integer, [pointer, text, text]),
        (encoder_open, pointer, [pointer]),
        (x265.x265_encoder_encode, integer,
         [pointer, ctypes.POINTER(ctypes.POINTER(_Nal)), ctypes.POINTER(ctypes.c_uint32), pointer, pointer]),
        (x265.x265_encoder_close, None, [pointer]),
        (x265.x265_picture_alloc, pointer, []),
        (x265.x265_picture_init, None, [pointer, pointer]),
        (x265.x265_picture_free, None, [pointer]),
        (de265.de265_new_decoder, pointer, []),
        (de265.de265_free_decoder, integer, [pointer]),
        (de265.de265_push_NAL, integer, [pointer, text, integer, ctypes.c_int64, pointer]),
        (de265.de265_flush_data, integer, [pointer]),
        (de265.de265_decode, integer, [pointer, ctypes.POINTER(integer)]),
        (de265.de265_get_next_picture, pointer, [pointer]),
        (de265.de265_get_image_plane, ctypes.POINTER(ctypes.c_uint8), [pointer, integer, ctypes.POINTER(integer)]),
        (de265.de265_get_image_width, integer, [pointer, integer]),
        (de265.de265_get_image_height, integer, [pointer, integer]),
        (de265.de265_get_chroma_format, integer, [pointer]),
        (de265.de265_get_error_text, text, [integer]),
        (de265.de265_isOK, integer, [integer]),
    ]:
        function.restype, function.argtypes = result, arguments
    version = ctypes.c_char_p.in_dll(x265, "x265_version_str").value.decode()
    param, picture = x265.x265_param_alloc(), x265.x265_picture_alloc()
    try:  # x265_picture_init writes the bit depth and colour space: find them
        x265.x265_param_default_preset(param, X265_PRESET.encode(), X265_TUNE.encode())
        x265.x265_param_parse(param, b"input-csp", X265_PARAMS["input-csp"].encode())
        x265.x265_picture_init(param, picture)
        for planes, stride, bit_depth, color_space in PICTURE_LAYOUTS:
            if ctypes.sizeof(pointer) == 8 and ctypes.c_int.from_address(picture + bit_depth).value == 8 \
                    and ctypes.c_int.from_address(picture + color_space).value == X265_CSP_I444:
                return Libraries(x265, de265, version, encoder_open, planes, stride)
    finally:
        x265.x265_picture_free(picture)
        x265.x265_param_free(param)
    raise LinksimError(f"codec 'hevc': unknown x265_picture layout in x265 {version} (API build {builds[0]})")


def _strip_start_code(nal: bytes) -> bytes:
    body = nal.lstrip(b"\x00")
    if len(nal) - len(body) < 2 or not body.startswith(b"\x01"):
        raise RuntimeError("x265: NAL unit without an Annex B start code")
    return body[1:]


def encode_hevc(image: np.ndarray, qp: int) -> list[bytes]:
    """Code a uint8 ``[H, W, 3]`` RGB image as bpgenc does at ``-q qp -f 444``.

    Returns:
        x265's NAL units (VPS, SPS, PPS, slices) without start codes. The coded picture is the
        image padded (repeating its last column and row) to a multiple of 8, and to at least
        :data:`MIN_PICTURE_SIDE`, on each side.
    """
    if not 0 <= qp <= 51:
        raise ValueError(f"QP {qp} is outside 0..51")
    lib = libraries()
    height, width, _ = image.shape
    pad_height = max(-(-height // 8) * 8, MIN_PICTURE_SIDE) - height
    pad_width = max(-(-width // 8) * 8, MIN_PICTURE_SIDE) - width
    planes = np.ascontiguousarray(np.pad(rgb_to_ycbcr(image), ((0, 0), (0, pad_height), (0, pad_width)), mode="edge"))
    _, coded_height, coded_width = planes.shape
    ctu = 64
    while ctu > MIN_PICTURE_SIDE and min(coded_width, coded_height) < ctu:
        ctu //= 2
    options = {**X265_PARAMS, "qp": str(qp), "ctu": str(ctu), "input-res": f"{coded_width}x{coded_height}"}
    x265 = lib.x265
    param, encoder, picture = x265.x265_param_alloc(), None, None
    try:
        if x265.x265_param_default_preset(param, X265_PRESET.encode(), X265_TUNE.encode()) != 0:
            raise RuntimeError(f"x265 {lib.x265_version}: unknown preset {X265_PRESET} or tune {X265_TUNE}")
        for name, value in options.items():
            if x265.x265_param_parse(param, name.encode(), value.encode()) != 0:
                raise RuntimeError(f"x265 {lib.x265_version} rejects --{name} {value}")
        encoder = lib.encoder_open(param)
        if not encoder:
            raise RuntimeError(f"x265 {lib.x265_version} cannot code a {coded_width}x{coded_height} picture")
        picture = x265.x265_picture_alloc()
        x265.x265_picture_init(param, picture)
        for index, plane in enumerate(planes):
            ctypes.c_void_p.from_address(picture + lib.planes_offset + 8 * index).value = plane.ctypes.data
            ctypes.c_int.from_address(picture + lib.stride_offset + 4 * index).value = plane.strides[0]
        nal_units: list[bytes] = []
        nals, count = ctypes.POINTER(_Nal)(), ctypes.c_uint32()
        source = picture
        while True:  # the picture, then flushes until the encoder has nothing left
            frames = x265.x265_encoder_encode(encoder, ctypes.byref(nals), ctypes.byref(count), source, None)
            if frames < 0:
                raise RuntimeError(f"x265 {lib.x265_version}: encoding failed")
            nal_units += [_strip_start_code(ctypes.string_at(nals[i].payload, nals[i].size))
                          for i in range(count.value)]
            if source is None and frames == 0:
                return nal_units
            source = None
    finally:
        if picture:
            x265.x265_picture_free(picture)
        if encoder:
            x265.x265_encoder_close(encoder)
        x265.x265_param_free(param)


def decode_hevc(nal_units: list[bytes]) -> np.ndarray:
    """libde265's decode of one 8-bit 4:4:4 picture: its coded YCbCr planes, uint8 ``[3, H, W]``."""
    de265 = libraries().de265
    decoder = de265.de265_new_decoder()

    def check(error: int) -> None:
        if not de265.de265_isOK(error):
            raise RuntimeError(f"libde265: {de265.de265_get_error_text(error).decode()}")

    try:
        for nal in nal_units:
            check(de265.de265_push_NAL(decoder, nal, len(nal), 0, None))
        check(de265.de265_flush_data(decoder))
        more = ctypes.c_int(1)
        while more.value:
            error = de265.de265_decode(decoder, ctypes.byref(more))
            picture = de265.de265_get_next_picture(decoder)
            if picture:
                if de265.de265_get_chroma_format(picture) != 3:
                    raise RuntimeError("libde265: expected a 4:4:4 picture")
                planes = []
                for channel in range(3):
                    stride = ctypes.c_int()
                    data = de265.de265_get_image_plane(picture, channel, ctypes.byref(stride))
                    width = de265.de265_get_image_width(picture, channel)
                    height = de265.de265_get_image_height(picture, channel)
                    planes.append(np.ctypeslib.as_array(data, shape=(height, stride.value))[:, :width].copy())
                return np.stack(planes)
            if error != DE265_WAITING_FOR_INPUT_DATA:
                check(error)
        raise RuntimeError("libde265: no picture decoded")
    finally:
        de265.de265_free_decoder(decoder)


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


# --- the BPG file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BpgPicture:
    """An HEVC picture packed as a BPG file.

    Attributes:
        sps: the parsed SPS.
        hevc_data: PPS and slice NAL units joined by start codes (BPG's ``hevc_data``).
        payload: the whole BPG file: header, ``hevc_header`` and ``hevc_data``.
    """

    sps: SequenceParameterSet
    hevc_data: bytes
    payload: bytes


def bpg_from_nal_units(nal_units: list[bytes], width: int, height: int) -> BpgPicture:
    """Pack the NAL units of one 4:4:4 full-range BT.601 picture as the BPG file of a ``width`` x
    ``height`` image (see :func:`encode_hevc`; the coded size must be the image's rounded up to
    the minimum coding block, unless the image is smaller than :data:`MIN_PICTURE_SIDE`)."""
    parameter_sets = {kind: [nal for nal in nal_units if nal_unit_type(nal) == kind] for kind in (NAL_SPS, NAL_PPS)}
    if len(parameter_sets[NAL_SPS]) != 1 or len(parameter_sets[NAL_PPS]) != 1:
        raise ValueError("HEVC: expected exactly one SPS and one PPS")
    sps = parse_sps(parameter_sets[NAL_SPS][0])
    if sps.chroma_format_idc != 3 or sps.bit_depth_luma != 8 or sps.bit_depth_chroma != 8:
        raise ValueError("HEVC: expected an 8-bit 4:4:4 picture")
    cb_size = sps.hevc_header.min_coding_block_size
    left, _, top, _ = sps.conformance_offsets
    if width < MIN_PICTURE_SIDE and -(-width // cb_size) * cb_size != sps.coded_width:
        width = sps.coded_width  # padded beyond BPG's rounding: declare the coded size
    if height < MIN_PICTURE_SIDE and -(-height // cb_size) * cb_size != sps.coded_height:
        height = sps.coded_height
    # A BPG decoder infers the coded size as the picture size rounded up to cb_size, and crops
    # only at the right and bottom.
    if left or top or -(-width // cb_size) * cb_size != sps.coded_width \
            or -(-height // cb_size) * cb_size != sps.coded_height:
        raise ValueError(f"HEVC: coded size {sps.coded_width}x{sps.coded_height} with conformance window "
                         f"{sps.conformance_offsets} does not hold a {width}x{height} BPG picture")
    slices = [nal for nal in nal_units if nal_unit_type(nal) < 32]  # VCL NAL unit types are 0..31
    if not slices:
        raise ValueError("HEVC: no slice NAL units")
    if any(nal_unit_type(nal) not in NAL_IDR for nal in slices):
        # Other slices code a picture order count whose width the BPG decoder's SPS fixes to 8 bits.
        raise ValueError("HEVC: BPG accounting supports IDR pictures only")
    hevc_data = START_CODE.join([parameter_sets[NAL_PPS][0], *slices])
    payload = bpg_file(width=width, height=height, pixel_format=sps.chroma_format_idc, bit_depth=sps.bit_depth_luma,
                       color_space=COLOR_SPACE_YCBCR, limited_range=False, hevc_header=sps.hevc_header,
                       hevc_data=hevc_data)
    return BpgPicture(sps=sps, hevc_data=hevc_data, payload=payload)


class HevcCodec(SourceCodec):
    """HEVC intra 4:4:4 coded as bpgenc does, counted as the BPG file (see module docs).

    ``quality = 51 - QP`` (bpgenc's ``-q``), as for :class:`linksim.codecs.bpg.BpgCodec`.
    """

    name: ClassVar[str] = "hevc"
    description: ClassVar[str] = ("HEVC intra 4:4:4 coded as bpgenc does (pillow-heif's x265: veryslow, tune ssim, "
                                  "constant QP), counted as the BPG file; quality = 51 - QP")
    qualities: ClassVar[range] = range(0, 52)
    fit_window: ClassVar[int] = 1  # the measured dips in size are one QP step deep (module docs)

    def __init__(self, cache_bytes: int = 256 * 2**20) -> None:
        libraries()  # fail here, with a one-line error, when x265 or libde265 is missing
        super().__init__(cache_bytes)

    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        height, width, _ = image.shape
        nal_units = encode_hevc(image, 51 - quality)
        picture = bpg_from_nal_units(nal_units, width, height)
        decoded = ycbcr_to_rgb(decode_hevc(nal_units)[:, :height, :width])
        return EncodedImage(payload=picture.payload, quality=quality, decoded=decoded)
