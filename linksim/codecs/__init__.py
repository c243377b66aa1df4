"""Source codecs of the digital baselines: an image at a quality -> payload bytes + decode.

See :mod:`.base` for the interface. ``hevc`` is the BPG codec (HEVC intra) through pillow-heif,
counted as a BPG file; ``bpg`` runs the reference tools when installed; ``jpeg`` and ``webp``
go through Pillow.
"""

from __future__ import annotations

from linksim.codecs.base import EncodedImage, SourceCodec
from linksim.codecs.bpg import BpgCodec
from linksim.codecs.hevc import HevcCodec
from linksim.codecs.pillow_codecs import JpegCodec, WebpCodec
from linksim.errors import LinksimError

# each codec's name is its class's ``name``, written once
CODECS: dict[str, type[SourceCodec]] = {codec.name: codec for codec in (HevcCodec, BpgCodec, JpegCodec, WebpCodec)}


def build_codec(name: str, **options: int) -> SourceCodec:
    """Instantiate the codec called ``name`` (a key of :data:`CODECS`); ``options`` such as
    ``cache_bytes`` go to its constructor."""
    if name not in CODECS:
        raise LinksimError(f"unknown codec {name!r}; accepted: {', '.join(CODECS)}")
    return CODECS[name](**options)


__all__ = ["CODECS", "BpgCodec", "EncodedImage", "HevcCodec", "JpegCodec", "SourceCodec", "WebpCodec", "build_codec"]
