"""A SPADE generator (Park et al., "Semantic image synthesis with spatially-adaptive normalization",
2019): a street scene generated from its semantic map.

It is the base layer of the GAN-based layered semantic coding scheme (``layered-gan``, issue 18):
the receiver generates an image from the decoded map, and an enhancement layer carries the
residual. The network starts from the map itself, averaged down to ``1/multiple`` of the image
(SPADE's variant without a noise encoder), and upsamples through residual blocks whose
normalisation is modulated per pixel by the map (:class:`Spade`). It is deterministic (no noise
input) -- transmitter and receiver compute the same base layer from the same map -- and
per-sample (instance normalisation), so a batch's rows do not affect each other. It runs on any
size whose sides are multiples of :attr:`SpadeGeneratorConfig.multiple`.

The discriminator (:class:`PatchDiscriminator`) exists for training only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from linksim.camvid import MapClasses
from linksim.zoo import SPADE_KIND, load_kind, typed_model

KIND = SPADE_KIND


class SpadeGeneratorConfig(MapClasses):
    """Architecture of :class:`SpadeGenerator` (its constructor; JSON in the checkpoint metadata)."""

    widths: tuple[int, ...] = (128, 128, 64, 32)  # coarse to fine, one 2x upsampling between levels
    hidden: int = Field(32, ge=1)  # channels of the map's embedding inside each SPADE layer

    @model_validator(mode="after")
    def _check(self) -> SpadeGeneratorConfig:
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths needs at least two positive entries, got {self.widths}")
        return self

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (the coarsest level is ``1/multiple``)."""
        return 2 ** (len(self.widths) - 1)


class Spade(nn.Module):
    """``norm(x) (1 + gamma(m)) + beta(m)``: instance normalisation whose scale and shift are
    convolutions of the map ``m`` resized to ``x`` (``[B, C, h, w]``, ``m`` ``[B, K, H, W]``)."""

    def __init__(self, channels: int, map_channels: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.embed = nn.Sequential(nn.Conv2d(map_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        e = self.embed(nn.functional.interpolate(m, size=x.shape[-2:], mode="area"))
        return self.norm(x) * (1 + self.gamma(e)) + self.beta(e)


class SpadeBlock(nn.Module):
    """SPADE residual block: two (SPADE, leaky ReLU, 3x3 conv) steps; a learnt SPADE + 1x1 skip
    when the width changes."""

    def __init__(self, c_in: int, c_out: int, map_channels: int, hidden: int) -> None:
        super().__init__()
        c_mid = min(c_in, c_out)
        self.spade1, self.conv1 = Spade(c_in, map_channels, hidden), nn.Conv2d(c_in, c_mid, 3, padding=1)
        self.spade2, self.conv2 = Spade(c_mid, map_channels, hidden), nn.Conv2d(c_mid, c_out, 3, padding=1)
        self.skip = None
        if c_in != c_out:
            self.spade_skip, self.skip = Spade(c_in, map_channels, hidden), nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        h = self.conv1(act(self.spade1(x, m), 0.2))
        h = self.conv2(act(self.spade2(h, m), 0.2))
        return h + (x if self.skip is None else self.skip(self.spade_skip(x, m)))


class SpadeGenerator(nn.Module):
    """Map (class posterior or one-hot) ``[B, K + 1, H, W]`` -> image ``[B, 3, H, W]`` in [0, 1]."""

    def __init__(self, config: SpadeGeneratorConfig) -> None:
        super().__init__()
        self.config = config
        w, k = config.widths, config.map_channels
        self.stem = nn.Conv2d(k, w[0], 3, padding=1)
        self.blocks = nn.ModuleList([SpadeBlock(w[max(i - 1, 0)], w[i], k, config.hidden) for i in range(len(w))])
        self.head = nn.Conv2d(w[-1], 3, 3, padding=1)

    def forward(self, posterior: torch.Tensor) -> torch.Tensor:
        self.config.check_map(tuple(posterior.shape), self.config.multiple, "SPADE generator")
        x = self.stem(nn.functional.avg_pool2d(posterior, self.config.multiple))
        for i, block in enumerate(self.blocks):
            if i:
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, posterior)
        return torch.sigmoid(self.head(nn.functional.leaky_relu(x, 0.2)))


class PatchDiscriminator(nn.Module):
    """Map-conditioned PatchGAN (spectral norm): image ``[B, 3, H, W]`` in [0, 1] and map
    ``[B, K + 1, H, W]`` -> realness logits ``[B, 1, H/8, W/8]``."""

    def __init__(self, map_channels: int, widths: tuple[int, ...] = (64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3 + map_channels
        for width in widths:
            layers += [spectral_norm(nn.Conv2d(c, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c = width
        layers.append(spectral_norm(nn.Conv2d(c, 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, posterior: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([images * 2 - 1, posterior], dim=1))


@dataclass(frozen=True)
class LoadedSpadeGenerator:
    """A SPADE checkpoint: the generator (eval mode) and its metadata (scores, data, steps)."""

    model: SpadeGenerator
    metadata: dict[str, str]


def load_spade_generator(name_or_path: str, device: str = "cpu") -> LoadedSpadeGenerator:
    """Load a SPADE generator of the zoo (or a path); one-line :class:`LinksimError` if it is not one."""
    def build(weights: dict[str, torch.Tensor], metadata: dict[str, str]) -> LoadedSpadeGenerator:
        model = typed_model(SpadeGenerator, SpadeGeneratorConfig, "generator", weights, metadata, device)
        return LoadedSpadeGenerator(model, metadata)

    return load_kind(name_or_path, KIND, build, device, what="SPADE generator", model="SPADE generator")
