"""SPIC (Pezone et al., "Semantic-preserving image coding based on conditional diffusion models",
2024): the semantic map and a low-resolution image are sent digitally, and the receiver generates
the full image with a diffusion model conditioned on both.

The chain, the map coding and the cliff are those of :mod:`linksim.schemes.map_digital`; the image
layer is the ``1/low_res_factor`` image (the denoiser's own factor; bicubic, antialiased), or
nothing when not even the codec's lowest quality fits (the receiver then generates from the map
alone). Receiver: the decoded map (one-hot) and low-resolution image condition the map denoiser
(``checkpoint``, which must take a low-resolution image), sampled with ``sampler`` and ``steps``;
each row's noise from its own stream.
"""

from __future__ import annotations

import numpy as np
import torch

from linksim.codecs import EncodedImage
from linksim.errors import LinksimError
from linksim.models.diffusion import Conditioning
from linksim.models.map_diffusion import low_resolution
from linksim.randomness import row_generators
from linksim.schemes.base import SCHEMES, LinkState
from linksim.schemes.digital import from_uint8, to_uint8
from linksim.schemes.config import SpicConfig
from linksim.schemes.map_digital import MapDigitalScheme
from linksim.schemes.map_receiver import map_receiver


@SCHEMES.register
class SpicScheme(MapDigitalScheme):
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
        self.multiple, self.model_name = self.denoiser.config.multiple, config.checkpoint

    @property
    def label(self) -> str:
        return self.config.label

    def image_layer(self, pixels: np.ndarray, maps: torch.Tensor, budget_bits: int) -> EncodedImage | None:
        small = low_resolution(from_uint8(pixels[None], "cpu"), self.low_res_factor)
        return self.codec.fit(to_uint8(small)[0], budget_bits)

    def generate(self, maps: torch.Tensor, layers: list[EncodedImage | None], state: LinkState | None,
                 rows: list[int]) -> torch.Tensor:
        features = []
        for j, image in enumerate(layers):  # with or without the low-resolution image, per row
            low = None if image is None else from_uint8(image.decoded[None], maps.device)
            features.append(self.denoiser.condition(maps[j : j + 1], low).features)
        cond = Conditioning(torch.cat(features), None)  # type: ignore[arg-type]
        keys = None if state is None or state.keys is None else state.keys.select(rows)
        return self.pipeline(cond, self.config.steps, generator=row_generators(keys, "sampler"))
