"""What the digital semantic-map schemes (``spic``, ``layered-gan``) share: the label map coded
losslessly and one image layer coded by the source codec, sent through the digital baseline's
chain (:class:`~linksim.schemes.digital.DigitalScheme`: 5G LDPC + QAM, ``fixed`` or ``adaptive``
MCS from the fed-back SNR).

Payload of one image, in this order:

- the length of the coded map (2 bytes) and its resolution factor ``f`` (1 byte);
- the label map at ``1/f`` resolution (the label at the centre of each ``f x f`` block), coded
  losslessly: PNG, one byte per class index, Pillow's ``optimize``. ``f`` is ``map_factor``, or
  with ``map_factor: auto`` the smallest of :data:`~linksim.semantic_maps.MAP_FACTORS` whose map fits the budget
  (the image layer gets what is left);
- the image layer, which the scheme defines (:meth:`MapDigitalScheme.image_layer`), coded with
  the source codec at the highest quality that fits the rest of the budget, or nothing when not
  even its lowest quality fits.

If the map does not fit, or any codeword fails its CRC, the image is lost (mid-grey), as in the
digital baseline: these schemes have its cliff. Otherwise the receiver upsamples the map (nearest
neighbour) to a one-hot ``[K + 1, H, W]`` and the scheme generates the image from it and the
image layer (:meth:`MapDigitalScheme.generate`). Rows report ``map_factor`` (0: no map fits),
``map_bits``, ``source_bits`` (the image layer), ``quality`` (-1: no image layer sent) and
``decoded``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from linksim.codecs import EncodedImage
from linksim.errors import LinksimError
from linksim.schemes.base import LinkState, Transmission, check_image_size
from linksim.schemes.config import MapDigitalConfig
from linksim.schemes.digital import LOST_VALUE, DigitalScheme
from linksim.semantic_maps import MAP_FACTORS, one_hot

_HEADER_BYTES = 3  # map length (2 bytes), map factor (1 byte)


@dataclass(frozen=True)
class MapPayload:
    """What is sent of one image: the coded map (the map it codes, at ``1/factor``), the coded
    image layer."""

    map_png: bytes
    labels: np.ndarray  # uint8 [h, w], the map as sent
    factor: int
    image: EncodedImage | None

    @property
    def bytes(self) -> bytes:
        header = len(self.map_png).to_bytes(2, "big") + self.factor.to_bytes(1, "big")
        return header + self.map_png + (self.image.payload if self.image is not None else b"")


def png_bytes(labels: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 label map ``[h, w]``."""
    buffer = io.BytesIO()
    Image.fromarray(labels).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


class MapDigitalScheme(DigitalScheme):
    """Label map + one codec-coded image layer through the digital chain (see the module doc).

    A subclass sets :attr:`planes` (K + 1), :attr:`multiple` (image sides must be multiples of it)
    and :attr:`model_name` (its receiver's checkpoint, for errors), and implements
    :meth:`image_layer` and :meth:`generate`."""

    config: MapDigitalConfig
    planes: int
    multiple: int
    model_name: str

    def image_layer(self, pixels: np.ndarray, maps: torch.Tensor, budget_bits: int) -> EncodedImage | None:
        """The image layer of one image (uint8 ``[H, W, 3]``) coded in at most ``budget_bits``
        (``None``: none fits); ``maps`` ``[1, K + 1, H, W]`` is the map as the receiver will have it."""
        raise NotImplementedError

    def generate(self, maps: torch.Tensor, layers: list[EncodedImage | None], state: LinkState | None,
                 rows: list[int]) -> torch.Tensor:
        """Images ``[n, 3, H, W]`` in [0, 1] from the received maps ``[n, K + 1, H, W]`` and image
        layers of the decoded ``rows`` of the batch (``state`` gives their random streams)."""
        raise NotImplementedError

    def upsampled(self, kept: torch.Tensor, size: tuple[int, int], factor: int) -> torch.Tensor:
        """One-hot ``[n, K + 1, H, W]`` of maps ``[n, h, w]`` sent at ``1/factor``."""
        planes = one_hot(kept, self.planes).repeat_interleave(factor, -2).repeat_interleave(factor, -1)
        return planes[..., : size[0], : size[1]]

    def source(self, pixels: np.ndarray, labels: torch.Tensor | None, budget_bits: int) -> MapPayload | None:
        if labels is None:
            raise LinksimError(f"{self.config.type} sends label maps: use a dataset that has them (camvid)")
        factors = MAP_FACTORS if self.config.map_factor == "auto" else (self.config.map_factor,)
        for f in factors:
            kept = labels[f // 2 :: f, f // 2 :: f].clamp(max=self.planes - 1).to(torch.uint8).cpu().numpy()
            map_png = png_bytes(kept)
            left = budget_bits - 8 * (_HEADER_BYTES + len(map_png))
            if left >= 0:
                maps = self.upsampled(torch.from_numpy(kept)[None].to(labels.device), tuple(pixels.shape[:2]), f)
                return MapPayload(map_png, kept, f, self.image_layer(pixels, maps, left))
        return None

    def payload(self, record: Any) -> bytes | None:
        return None if record is None else record.bytes

    def source_columns(self, records: list[Any]) -> dict[str, Any]:
        return {"map_factor": torch.tensor([r.factor if r else 0 for r in records]),
                "map_bits": torch.tensor([8 * len(r.map_png) if r else 0 for r in records]),
                "source_bits": torch.tensor([8 * len(r.image.payload) if r and r.image else 0 for r in records]),
                "quality": torch.tensor([r.image.quality if r and r.image else -1 for r in records])}

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        check_image_size(images, self.multiple, self.model_name)
        return super().transmit(images, state)

    def _reconstruct(self, records: list[Any], decoded: torch.Tensor, shape: torch.Size,
                     state: LinkState | None = None) -> torch.Tensor:
        out = torch.full(tuple(shape), LOST_VALUE, device=decoded.device)
        rows = torch.nonzero(decoded).flatten().tolist()
        if rows:
            size = tuple(shape[-2:])
            maps = torch.cat([self.upsampled(torch.from_numpy(records[i].labels)[None].to(out.device), size,
                                             records[i].factor) for i in rows])
            out[rows] = self.generate(maps, [records[i].image for i in rows], state, rows)
        return out
