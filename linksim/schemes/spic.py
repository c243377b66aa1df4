"""SPIC (Pezone et al., "Semantic-preserving image coding based on conditional diffusion models",
2024): the semantic map and a low-resolution image are sent digitally, and the receiver generates
the full image with a diffusion model conditioned on both.

Transmitter: the same chain as the digital baseline (:class:`~linksim.schemes.digital.DigitalScheme`:
5G LDPC + QAM, MCS ``fixed``/``adaptive`` from the fed-back SNR), with a payload of

- the label map at ``1/map_factor`` resolution, coded losslessly (PNG, one byte per class index,
  Pillow's ``optimize``), preceded by its length (2 bytes);
- the ``1/low_res_factor`` image (the denoiser's own factor; bicubic, antialiased) coded with the
  source codec (HEVC intra) at the highest quality that fits the rest of the budget, or nothing
  when not even its lowest quality fits (the receiver then generates from the map alone).

If the map does not fit, or any codeword fails its CRC, the image is lost (mid-grey), as in the
digital baseline: SPIC has the same cliff. Receiver: the decoded map (one-hot, upsampled by
nearest neighbour) and low-resolution image condition the map denoiser (``checkpoint``, which
must take a low-resolution image), sampled with ``sampler`` and ``steps``; each row's noise from
its own stream. Rows report ``map_bits``, ``source_bits`` (the low-resolution stream), ``quality``
(-1: no image sent) and ``decoded``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator

from linksim.codecs import EncodedImage
from linksim.errors import LinksimError
from linksim.models.diffusion import Conditioning
from linksim.randomness import row_generators
from linksim.schemes.base import SCHEMES, LinkState, check_image_size
from linksim.schemes.digital import LOST_VALUE, DigitalConfig, DigitalScheme, McsConfig, from_uint8
from linksim.schemes.map_receiver import MapReceiverOptions, map_receiver
from linksim.semantic_maps import one_hot

_LENGTH_BYTES = 2


class SpicConfig(MapReceiverOptions, DigitalConfig):
    """``{type: spic, checkpoint: camvid-map-diffusion-v1, mcs: {policy: adaptive}, map_factor: 1}``."""

    type: Literal["spic"] = "spic"  # type: ignore[assignment]
    map_factor: int = Field(1, ge=1)

    @field_validator("mcs")
    @classmethod
    def _no_oracle(cls, value: McsConfig) -> McsConfig:
        if value.policy == "oracle":
            raise ValueError("spic sends with a fixed or adaptive MCS (policy oracle is not supported)")
        return value

    @property
    def label(self) -> str:
        return self.name or f"SPIC ({self.mcs.policy} MCS)"


@dataclass(frozen=True)
class SpicPayload:
    """What SPIC sends of one image: the coded map (and the map it codes), the low-resolution image."""

    map_png: bytes
    labels: np.ndarray  # uint8 [h, w], the map as sent
    image: EncodedImage | None

    @property
    def bytes(self) -> bytes:
        header = len(self.map_png).to_bytes(_LENGTH_BYTES, "big")
        return header + self.map_png + (self.image.payload if self.image is not None else b"")


def png_bytes(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


@SCHEMES.register
class SpicScheme(DigitalScheme):
    """Map + low-resolution image over 5G LDPC + QAM, map-and-image-conditioned diffusion receiver."""

    config_class = SpicConfig
    description = "SPIC: lossless semantic map + HEVC low-resolution image over LDPC/QAM, conditional diffusion"

    def __init__(self, config: SpicConfig | None = None, device: str = "cpu") -> None:
        config = config or SpicConfig()
        super().__init__(config, device)
        self.denoiser, self.pipeline = map_receiver(config, device)
        if self.denoiser.config.low_res_factor is None:
            raise LinksimError(f"spic: checkpoint '{config.checkpoint}' takes no low-resolution image")
        self.planes, self.low_res_factor = self.denoiser.config.map_channels, self.denoiser.config.low_res_factor

    @property
    def label(self) -> str:
        return self.config.label

    def source(self, pixels: np.ndarray, labels: torch.Tensor | None, budget_bits: int) -> SpicPayload | None:
        if labels is None:
            raise LinksimError("spic sends label maps: use a dataset that has them (camvid)")
        f = self.config.map_factor
        kept = labels[f // 2 :: f, f // 2 :: f].clamp(max=self.planes - 1).to(torch.uint8).cpu().numpy()
        map_png = png_bytes(kept)
        left = budget_bits - 8 * (_LENGTH_BYTES + len(map_png))
        if left < 0:
            return None
        small = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float() / 255
        small = torch.nn.functional.interpolate(small, scale_factor=1 / self.low_res_factor, mode="bicubic",
                                                antialias=True, align_corners=False).clamp(0, 1)
        small_pixels = (small[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        return SpicPayload(map_png, kept, self.codec.fit(small_pixels, left))

    def payload(self, record: Any) -> bytes | None:
        return None if record is None else record.bytes

    def source_columns(self, records: list[Any]) -> dict[str, Any]:
        return {"map_bits": torch.tensor([8 * len(r.map_png) if r else 0 for r in records]),
                "source_bits": torch.tensor([8 * len(r.image.payload) if r and r.image else 0 for r in records]),
                "quality": torch.tensor([r.image.quality if r and r.image else -1 for r in records])}

    def transmit(self, images: torch.Tensor, state: LinkState):  # type: ignore[no-untyped-def]
        check_image_size(images, self.denoiser.config.multiple, self.config.checkpoint)
        return super().transmit(images, state)

    def _reconstruct(self, records: list[Any], decoded: torch.Tensor, shape: torch.Size,
                     state: LinkState | None = None) -> torch.Tensor:
        out = torch.full(tuple(shape), LOST_VALUE, device=decoded.device)
        rows = torch.nonzero(decoded).flatten().tolist()
        if not rows:
            return out
        size, f = tuple(shape[-2:]), self.config.map_factor
        maps = torch.stack([torch.from_numpy(records[i].labels) for i in rows]).to(out.device)
        posterior = one_hot(maps, self.planes).repeat_interleave(f, -2).repeat_interleave(f, -1)[..., : size[0], : size[1]]
        features = []
        for j, i in enumerate(rows):  # with or without the low-resolution image, per row
            image = records[i].image
            low = None if image is None else from_uint8(image.decoded[None], out.device)
            features.append(self.denoiser.condition(posterior[j : j + 1], low).features)
        cond = Conditioning(torch.cat(features), None)  # type: ignore[arg-type]
        keys = None if state is None or state.keys is None else state.keys.select(rows)
        out[rows] = self.pipeline(cond, self.config.steps, generator=row_generators(keys, "sampler"))
        return out
