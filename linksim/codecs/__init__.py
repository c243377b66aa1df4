"""Source codecs of the digital baselines: an image at a quality -> payload bytes + decode.

See :mod:`.base` for the interface and :mod:`.catalogue` for the names (:data:`CODECS`; no codec
is imported until one is built, so validating a scenario loads none). ``hevc`` is the BPG codec
(HEVC intra) through pillow-heif, counted as a BPG file; ``bpg`` runs the reference tools when
installed; ``jpeg`` and ``webp`` go through Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.codecs.catalogue import CODECS
from linksim.errors import LinksimError
from linksim.lazy import lazy_exports

if TYPE_CHECKING:
    from linksim.codecs.base import SourceCodec

__getattr__ = lazy_exports(__name__, {
    "EncodedImage": "linksim.codecs.base",
    "SourceCodec": "linksim.codecs.base",
    "BpgCodec": "linksim.codecs.bpg",
    "HevcCodec": "linksim.codecs.hevc",
    "JpegCodec": "linksim.codecs.pillow_codecs",
    "WebpCodec": "linksim.codecs.pillow_codecs",
})


def build_codec(name: str, **options: int) -> SourceCodec:
    """Instantiate the codec called ``name`` (a key of :data:`CODECS`); ``options`` such as
    ``cache_bytes`` go to its constructor."""
    if name not in CODECS:
        raise LinksimError(f"unknown codec {name!r}; accepted: {', '.join(CODECS)}")
    return CODECS[name](**options)


__all__ = ["CODECS", "BpgCodec", "EncodedImage", "HevcCodec", "JpegCodec", "SourceCodec", "WebpCodec", "build_codec"]
