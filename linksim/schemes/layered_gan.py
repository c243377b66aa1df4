"""GAN-based layered semantic coding (after "Semantic image coding with GANs" / layered semantic
compression, 2021): a base layer generated from the semantic map by a SPADE generator and an
enhancement layer that carries the residual.

The chain, the map coding and the cliff are those of :mod:`linksim.schemes.map_digital`. Both ends
generate the same base layer ``G(map)`` from the map as sent (:mod:`linksim.models.spade`, the
``checkpoint``; deterministic). The enhancement layer is the residual ``x - G(map)``, mapped to
``(r + 1) / 2`` so that its whole range [-1, 1] is an image, coded by the source codec (HEVC
intra) in at most ``enhancement_share`` of the bits left after the map. The receiver shows
``G(map) + r`` (clipped), or ``G(map)`` alone when no residual fits.

``enhancement_share`` is the split between the layers at equal channel uses: 1 spends every bit the
map leaves on the residual (the least distortion); 0 sends the map alone and shows the generated
image (the most "perceptual", the least faithful); values between trace the
perception-distortion trade-off. Bits not given to a layer are sent as padding and counted: every
variant spends the same channel uses.
"""

from __future__ import annotations

import numpy as np
import torch

from linksim.camvid import check_classes
from linksim.codecs import EncodedImage
from linksim.models.spade import load_spade_generator
from linksim.schemes.base import SCHEMES, LinkState
from linksim.schemes.config import LayeredGanConfig
from linksim.schemes.digital import from_uint8, to_uint8
from linksim.schemes.map_digital import MapDigitalScheme


@SCHEMES.register
class LayeredGanScheme(MapDigitalScheme):
    """Map + HEVC residual over 5G LDPC + QAM; SPADE base layer + residual at the receiver."""

    config_class = LayeredGanConfig
    description = "GAN-based layered coding: lossless map (SPADE base layer) + HEVC residual over LDPC/QAM"

    def __init__(self, config: LayeredGanConfig | None = None, device: str = "cpu") -> None:
        config = config or LayeredGanConfig()
        super().__init__(config, device)
        self.generator = load_spade_generator(config.checkpoint, device).model
        check_classes(self.generator.config.classes, config.checkpoint)
        self.planes, self.multiple = self.generator.config.map_channels, self.generator.config.multiple
        self.model_name = config.checkpoint

    @property
    def label(self) -> str:
        return self.config.label

    @torch.no_grad()
    def image_layer(self, pixels: np.ndarray, maps: torch.Tensor, budget_bits: int) -> EncodedImage | None:
        share = int(budget_bits * self.config.enhancement_share)
        if share == 0:
            return None
        base = self.generator(maps)
        residual = from_uint8(pixels[None], base.device) - base
        return self.codec.fit(to_uint8((residual + 1) / 2)[0], share)

    @torch.no_grad()
    def generate(self, maps: torch.Tensor, layers: list[EncodedImage | None], state: LinkState | None,
                 rows: list[int]) -> torch.Tensor:
        out = self.generator(maps)
        for j, layer in enumerate(layers):
            if layer is not None:
                out[j] = (out[j] + 2 * from_uint8(layer.decoded[None], out.device)[0] - 1).clamp(0, 1)
        return out
