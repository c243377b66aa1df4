"""The source codecs by name, without importing them (pillow-heif, OpenCV): what a scenario's
``source_codec:`` accepts is known to validation, and a codec loads when it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from linksim.lazy import LazyClasses

if TYPE_CHECKING:
    from linksim.codecs.base import SourceCodec

#: Every codec by its ``name`` (listing order); a value is imported when first looked up.
CODECS: Mapping[str, type[SourceCodec]] = LazyClasses({
    "hevc": "linksim.codecs.hevc:HevcCodec",
    "bpg": "linksim.codecs.bpg:BpgCodec",
    "jpeg": "linksim.codecs.pillow_codecs:JpegCodec",
    "webp": "linksim.codecs.pillow_codecs:WebpCodec",
})
