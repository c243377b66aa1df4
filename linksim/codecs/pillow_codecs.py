"""JPEG and WebP through Pillow, the classic baselines next to BPG.

The payload is the whole file as Pillow writes it, headers included (JPEG: SOI, JFIF APP0,
quantisation and optimised Huffman tables, SOF/SOS; WebP: RIFF/VP8 headers), because a receiver
needs them to decode. On tiny images (32x32) these fixed headers are a large part of the file:
a JPEG has about 320 bytes of them, WebP about 30, which handicaps JPEG against ``hevc`` whose
BPG-style header is about 10 bytes. Lossy WebP (VP8) is always 4:2:0, so even quality 100
loses colour detail (about 30 dB PSNR on a 32x32 photo).
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from linksim.codecs.base import EncodedImage, SourceCodec


class PillowCodec(SourceCodec):
    """A codec that Pillow saves and opens; subclasses name the format and its save options."""

    format: ClassVar[str]

    def save_options(self, quality: int) -> dict[str, Any]:
        """Keyword arguments of ``PIL.Image.save`` for ``quality``."""
        return {"quality": quality}

    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format=self.format, **self.save_options(quality))
        payload = buffer.getvalue()
        with Image.open(io.BytesIO(payload)) as opened:
            decoded = np.asarray(opened.convert("RGB"))
        return EncodedImage(payload=payload, quality=quality, decoded=decoded)


class JpegCodec(PillowCodec):
    """Baseline JPEG (libjpeg via Pillow), 4:4:4 chroma, optimised Huffman tables; quality 1..95."""

    name: ClassVar[str] = "jpeg"
    description: ClassVar[str] = "JPEG via Pillow, 4:4:4, optimised Huffman tables; quality 1..95 (whole file counted)"
    qualities: ClassVar[range] = range(1, 96)
    format: ClassVar[str] = "JPEG"

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality, "subsampling": 0, "optimize": True}


class WebpCodec(PillowCodec):
    """Lossy WebP (libwebp via Pillow, slowest/best method 6); quality 0..100."""

    name: ClassVar[str] = "webp"
    description: ClassVar[str] = "lossy WebP via Pillow (method 6); quality 0..100 (whole file counted)"
    qualities: ClassVar[range] = range(0, 101)
    format: ClassVar[str] = "WEBP"

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality, "lossless": False, "method": 6}
