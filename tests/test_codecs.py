"""Source codecs: the BPG accounting of ``hevc``, ``fit`` and its cache, the Pillow and bpg codecs.

The BPG size checks re-derive every part of the payload here, with helpers written for the test
(byte searches in the HEIF file, a small BPG header reader), rather than trusting the module.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image
from skimage import data

from linksim.codecs import CODECS, build_codec
from linksim.codecs.base import EncodedImage, SourceCodec
from linksim.codecs.bpg import BpgCodec, ue7
from linksim.codecs.hevc import HevcCodec, parse_sps
from linksim.errors import LinksimError

QUALITY = 50


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """The astronaut photograph downscaled to 32x32, uint8 [32, 32, 3]."""
    return np.asarray(Image.fromarray(data.astronaut()).resize((32, 32), Image.LANCZOS))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def heif_file(image: np.ndarray, quality: int, chroma: int = 444) -> bytes:
    """pillow-heif's own HEIF encode with its default colour profile."""
    buffer = io.BytesIO()
    pillow_heif.encode("RGB", image.shape[1::-1], image.tobytes(), buffer, quality=quality, chroma=chroma)
    return buffer.getvalue()


def heif_nal_units(heif: bytes) -> tuple[dict[int, list[bytes]], list[bytes]]:
    """(parameter sets from hvcC by NAL type, NAL units of mdat), found by byte search."""
    box = heif.index(b"hvcC") - 4
    end = box + int.from_bytes(heif[box:box + 4], "big")
    assert heif[box + 8 + 21] & 3 == 3, "test assumes 4-byte NAL length prefixes"
    params: dict[int, list[bytes]] = {}
    pos = box + 8 + 23
    for _ in range(heif[box + 8 + 22]):
        kind, count, pos = heif[pos] & 0x3F, int.from_bytes(heif[pos + 1:pos + 3], "big"), pos + 3
        for _ in range(count):
            size = int.from_bytes(heif[pos:pos + 2], "big")
            params.setdefault(kind, []).append(heif[pos + 2:pos + 2 + size])
            pos += 2 + size
    assert pos == end
    mdat = heif.index(b"mdat") - 4
    pos, end, units = mdat + 8, mdat + int.from_bytes(heif[mdat:mdat + 4], "big"), []
    while pos < end:
        size = int.from_bytes(heif[pos:pos + 4], "big")
        units.append(heif[pos + 4:pos + 4 + size])
        pos += 4 + size
    return params, units


def read_ue7(payload: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        value, pos = (value << 7) | (payload[pos] & 0x7F), pos + 1
        if not payload[pos - 1] & 0x80:
            return value, pos


def read_bpg(payload: bytes) -> dict[str, int]:
    """The BPG file header fields and where the hevc_header fields and hevc_data start."""
    fields = {"magic": int.from_bytes(payload[:4], "big"), "pixel_format": payload[4] >> 5,
              "bit_depth_minus_8": payload[4] & 0xF, "color_space": payload[5] >> 4, "flags": payload[5] & 0xF}
    pos = 6
    for name in ("width", "height", "picture_data_length", "hevc_header_length"):
        fields[name], pos = read_ue7(payload, pos)
        if name == "picture_data_length":
            fields["picture_start"] = pos
    fields["hevc_header_start"], fields["hevc_data_start"] = pos, pos + fields["hevc_header_length"]
    return fields


def read_hevc_header(payload: bytes, start: int) -> tuple[list[int], int]:
    """Decode BPG's hevc_header fields (no PCM, no extension); return them and the bits used."""
    bits = "".join(f"{byte:08b}" for byte in payload[start:start + 8])
    pos, values = 0, []
    for _ in range(5):  # ue(v): n zeros, then n + 1 bits
        zeros = bits.index("1", pos) - pos
        values.append(int(bits[pos + zeros:pos + 2 * zeros + 1], 2) - 1)
        pos += 2 * zeros + 1
    values += [int(bit) for bit in bits[pos:pos + 4]]  # sao, pcm, strong intra smoothing, extension
    return values, pos + 4


def test_ue7_matches_the_spec_examples():
    assert ue7(8) == b"\x08"
    assert ue7(542) == b"\x84\x1e"
    assert ue7(728855) == b"\xac\xbe\x17"


def test_hevc_payload_is_bpg_header_plus_pps_and_slices(image):
    heif = heif_file(image, QUALITY)
    params, units = heif_nal_units(heif)
    (pps,) = params[34]
    slices = [unit for unit in units if (unit[0] >> 1) & 0x3F < 32]
    assert slices and len(slices) == len(units)  # libheif stores only slices in mdat

    payload = HevcCodec().encode(image, QUALITY).payload
    bpg = read_bpg(payload)
    assert bpg["magic"] == 0x425047FB
    assert (bpg["pixel_format"], bpg["bit_depth_minus_8"], bpg["color_space"], bpg["flags"]) == (3, 0, 0, 0)
    assert 32 <= bpg["width"] <= 64 and 32 <= bpg["height"] <= 64  # libheif codes >= 64x64
    assert bpg["picture_data_length"] == len(payload) - bpg["picture_start"]

    values, used_bits = read_hevc_header(payload, bpg["hevc_header_start"])
    assert values[6] == 0 and values[8] == 0  # no PCM, no SPS extension: nothing else follows
    assert bpg["hevc_header_length"] == -(-used_bits // 8)  # then 0..7 trailing bits
    sps_header = parse_sps(params[33][0]).hevc_header
    assert values == [sps_header.log2_min_luma_coding_block_size_minus3,
                      sps_header.log2_diff_max_min_luma_coding_block_size,
                      sps_header.log2_min_transform_block_size_minus2,
                      sps_header.log2_diff_max_min_transform_block_size,
                      sps_header.max_transform_hierarchy_depth_intra,
                      sps_header.sample_adaptive_offset_enabled_flag, 0,
                      sps_header.strong_intra_smoothing_enabled_flag, 0]

    hevc_data = b"\x00\x00\x01".join([pps, *slices])  # Annex B without the first start code
    assert payload[bpg["hevc_data_start"]:] == hevc_data
    hevc_header_and_data = len(ue7(bpg["hevc_header_length"])) + bpg["hevc_header_length"] + len(hevc_data)
    file_header = 4 + 2 + len(ue7(bpg["width"])) + len(ue7(bpg["height"])) + len(ue7(hevc_header_and_data))
    assert len(payload) == file_header + hevc_header_and_data
    assert len(heif) - len(payload) > 300  # container boxes, VPS, SPS and length prefixes


def test_hevc_codes_chroma_444(image):
    params, _ = heif_nal_units(heif_file(image, QUALITY))
    assert parse_sps(params[33][0]).chroma_format_idc == 3
    params_420, _ = heif_nal_units(heif_file(image, QUALITY, chroma=420))
    assert parse_sps(params_420[33][0]).chroma_format_idc == 1  # the parser reads the field


def test_hevc_decode_is_pillow_heif_decode_and_improves_with_quality(image):
    codec = HevcCodec()
    low, high = codec.encode(image, 10), codec.encode(image, 90)
    reference = np.asarray(pillow_heif.open_heif(io.BytesIO(heif_file(image, 90))))
    assert high.decoded.dtype == np.uint8 and high.decoded.shape == image.shape
    np.testing.assert_array_equal(high.decoded, reference)
    assert psnr(image, high.decoded) > psnr(image, low.decoded) + 3
    assert len(high.payload) > len(low.payload)


def test_fit_picks_the_highest_fitting_quality_and_caches(image, monkeypatch):
    codec = HevcCodec()
    tried: list[int] = []
    encode = codec._encode
    monkeypatch.setattr(codec, "_encode", lambda img, quality: tried.append(quality) or encode(img, quality))
    budget = 8 * 400
    result = codec.fit(image, budget)
    assert result is not None and result.bits <= budget
    sizes = {quality: codec.encode(image, quality).bits for quality in set(tried)}
    assert result.quality == max(quality for quality, bits in sizes.items() if bits <= budget)
    assert len(tried) == len(set(tried)) <= 12

    calls = len(tried)
    assert codec.fit(image, budget) is result
    assert codec.fit(image, 8) is None
    assert len(tried) == calls  # both answered from the cache (the lowest quality is cached)


def test_fit_is_exact_on_a_monotone_codec(image):
    codec = build_codec("jpeg")
    sizes = {quality: codec.encode(image, quality).bits for quality in codec.qualities}
    for budget in (min(sizes.values()), 8 * 500, 8 * 900, max(sizes.values()) + 8):
        expected = max(quality for quality, bits in sizes.items() if bits <= budget)
        assert codec.fit(image, budget).quality == expected


class SizeTable(SourceCodec):
    """A fake codec whose payload size per quality is a fixed, slightly non-monotone table."""

    name, description, qualities = "table", "fixed sizes", range(10)
    sizes = [1, 2, 3, 5, 4, 6, 8, 7, 9, 10]

    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        return EncodedImage(payload=b"x" * self.sizes[quality], quality=quality, decoded=image.copy())


def test_fit_local_check_finds_a_quality_past_a_rate_dip(image):
    # Bisection stops at quality 2 (quality 3 has 5 bytes); the window finds quality 4 (4 bytes).
    assert SizeTable().fit(image, 8 * 4).quality == 4
    assert SizeTable().fit(image, 8 * 10).quality == 9
    assert SizeTable().fit(image, 7) is None


def test_cache_is_bounded(image):
    codec = SizeTable(cache_bytes=3 * (image.nbytes + 10))
    for quality in codec.qualities:
        codec.encode(image, quality)
    assert len(codec._cache) == 3
    assert not codec.encode(image, 9).decoded.flags.writeable


@pytest.mark.parametrize(("name", "magic"), [("jpeg", b"\xff\xd8"), ("webp", b"RIFF")])
def test_pillow_codecs_roundtrip(image, name, magic):
    codec = build_codec(name)
    best = codec.encode(image, codec.qualities[-1])
    worst = codec.encode(image, codec.qualities[0])
    assert best.payload.startswith(magic)
    np.testing.assert_array_equal(best.decoded, np.asarray(Image.open(io.BytesIO(best.payload)).convert("RGB")))
    assert best.decoded.shape == image.shape and best.decoded.dtype == np.uint8
    assert psnr(image, best.decoded) > max(25.0, psnr(image, worst.decoded) + 5)  # lossy WebP is 4:2:0
    assert len(best.payload) > len(worst.payload)


def test_encode_checks_its_inputs(image):
    codec = build_codec("jpeg")
    with pytest.raises(ValueError, match="uint8"):
        codec.encode(image.astype(np.float32), 50)
    with pytest.raises(ValueError, match="quality"):
        codec.encode(image, 0)


def test_bpg_needs_the_reference_tools(monkeypatch):
    monkeypatch.setattr("linksim.codecs.bpg.shutil.which", lambda name: None)
    with pytest.raises(LinksimError, match="bpgenc and bpgdec on PATH") as error:
        build_codec("bpg")
    assert "\n" not in str(error.value) and "'hevc'" in str(error.value)


def test_bpg_runs_the_tools_it_finds(image, tmp_path, monkeypatch):
    # Stand-ins: "bpgenc" stores the PNG as the .bpg file and logs its arguments; "bpgdec"
    # converts it to the requested output file.
    log = tmp_path / "bpgenc.json"
    tools = {
        "bpgenc": f"import json, shutil, sys\nargs = sys.argv[1:]\nopen({str(log)!r}, 'w').write(json.dumps(args))\n"
                  "shutil.copy(args[-1], args[args.index('-o') + 1])\n",
        "bpgdec": "import sys\nfrom PIL import Image\nargs = sys.argv[1:]\n"
                  "Image.open(args[-1]).save(args[args.index('-o') + 1])\n",
    }
    for tool, body in tools.items():
        path = tmp_path / tool
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path(sys.executable).parent}")
    encoded = BpgCodec().encode(image, 30)
    args = json.loads(log.read_text())
    assert args[:4] == ["-f", "444", "-q", "21"]
    assert encoded.payload.startswith(b"\x89PNG")
    np.testing.assert_array_equal(encoded.decoded, image)


def test_build_codec_names_the_accepted_codecs():
    assert isinstance(build_codec("hevc"), HevcCodec)
    with pytest.raises(LinksimError) as error:
        build_codec("jpeg2000")
    assert "jpeg2000" in str(error.value) and all(name in str(error.value) for name in CODECS)
