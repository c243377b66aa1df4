"""A diffusion denoiser conditioned on a semantic map (and, optionally, a low-resolution image).

It serves the semantic-map schemes (issue 18) through one set of weights with optional inputs:
GESCO conditions on the receiver's per-pixel class posterior of a noisy one-hot map; SPIC on the
map and a low-resolution image. The conditioning planes are concatenated to the UNet's input (as
SR3 and SPIC do with their low-resolution image) after a pixel-unshuffle of ``patch``:

- the class posterior ``[B, K + 1, H, W]`` (K classes and void), scaled to [-1, 1];
- with ``low_res_factor``: the low-resolution image upsampled (bicubic) to ``H x W`` in [-1, 1],
  and one plane saying whether it is there (all zeros and flag 0 without it, so the same model
  serves GESCO).

It has the interface :class:`~linksim.pipelines.diffusion.DiffusionReceiverPipeline` samples from
(``image_shape``, ``forward(x_t, t, cond)``) and runs on any size whose sides are multiples of
:attr:`MapDenoiserConfig.multiple`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from diffusers import UNet2DModel
from pydantic import Field, model_validator
from torch import nn

from linksim.camvid import MapClasses
from linksim.errors import LinksimError
from linksim.models.diffusion import Conditioning
from linksim.zoo import MAP_DIFFUSION_KIND, load_kind, typed_model

KIND = MAP_DIFFUSION_KIND


class MapDenoiserConfig(MapClasses):
    """Architecture of :class:`MapDenoiser` (its constructor; JSON in the checkpoint metadata)."""

    patch: int = Field(2, ge=1)
    block_out_channels: tuple[int, ...] = (64, 128, 128)
    layers_per_block: int = Field(1, ge=1)
    norm_num_groups: int = Field(16, ge=1)
    attention: bool = False  # self-attention at the lowest resolution
    low_res_factor: int | None = Field(None, ge=2)  # SPIC's low-resolution image, H/f x W/f

    @model_validator(mode="after")
    def _check(self) -> MapDenoiserConfig:
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"block_out_channels {self.block_out_channels} must be multiples of "
                             f"norm_num_groups={self.norm_num_groups}")
        return self

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (patching and the UNet's downsampling)."""
        unet = self.patch * 2 ** (len(self.block_out_channels) - 1)
        return unet if self.low_res_factor is None else unet * self.low_res_factor // _gcd(unet, self.low_res_factor)


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


class MapDenoiser(nn.Module):
    """Predicts the diffusion target (v-prediction in training) for ``x_t`` ``[B, 3, H, W]`` in
    [-1, 1] at timesteps ``t`` ``[B]`` given :meth:`condition`'s output."""

    def __init__(self, config: MapDenoiserConfig) -> None:
        super().__init__()
        self.config = config
        p = config.patch
        cond = p * p * config.map_channels + (p * p * 3 + 1 if config.low_res_factor else 0)
        levels = len(config.block_out_channels)
        down, up = ["DownBlock2D"] * levels, ["UpBlock2D"] * levels
        if config.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet = UNet2DModel(
            in_channels=3 * p * p + cond, out_channels=3 * p * p, block_out_channels=config.block_out_channels,
            down_block_types=tuple(down), up_block_types=tuple(up), layers_per_block=config.layers_per_block,
            norm_num_groups=config.norm_num_groups,
        )

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_unshuffle(x, self.config.patch) if self.config.patch > 1 else x

    def condition(self, posterior: torch.Tensor, low_res: torch.Tensor | None = None) -> Conditioning:
        """Conditioning from the class posterior ``[B, K + 1, H, W]`` (rows sum to 1) and, for a
        model with ``low_res_factor``, the low-resolution image ``[B, 3, H/f, W/f]`` in [0, 1]
        (``None``: not sent)."""
        b, _, h, w = posterior.shape
        self.config.check_map(tuple(posterior.shape), self.config.multiple, "map denoiser")
        planes = [self._patches(posterior * 2 - 1)]
        if self.config.low_res_factor:
            if low_res is None:
                image, flag = posterior.new_zeros(b, 3, h, w), 0.0
            else:
                image = nn.functional.interpolate(low_res * 2 - 1, size=(h, w), mode="bicubic", align_corners=False)
                flag = 1.0
            planes += [self._patches(image), posterior.new_full((b, 1, h // self.config.patch, w // self.config.patch), flag)]
        elif low_res is not None:
            raise LinksimError("this map denoiser was trained without a low-resolution image")
        return Conditioning(torch.cat(planes, dim=1), None)  # type: ignore[arg-type]

    def image_shape(self, cond: Conditioning) -> tuple[int, int]:
        """``(H, W)`` of the images a conditioning describes."""
        return cond.features.shape[-2] * self.config.patch, cond.features.shape[-1] * self.config.patch

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        h = torch.cat([self._patches(x_t), cond.features], dim=1)
        out = self.unet(h, t).sample
        return nn.functional.pixel_shuffle(out, self.config.patch) if self.config.patch > 1 else out


def low_resolution(images: torch.Tensor, factor: int) -> torch.Tensor:
    """``[B, 3, H/f, W/f]``: the low-resolution image a model with ``low_res_factor`` is given
    (antialiased bicubic downsampling of images ``[B, 3, H, W]`` in [0, 1]); SPIC sends it."""
    return nn.functional.interpolate(images, scale_factor=1 / factor, mode="bicubic", antialias=True,
                                     align_corners=False).clamp(0, 1)


@dataclass(frozen=True)
class LoadedMapDenoiser:
    """A map-diffusion checkpoint: the model (eval mode), its training schedule and metadata."""

    model: MapDenoiser
    scheduler_config: dict
    metadata: dict[str, str]


def load_map_denoiser(name_or_path: str, device: str = "cpu") -> LoadedMapDenoiser:
    """Load a map-conditioned denoiser of the zoo (or a path); one-line :class:`LinksimError`."""
    def build(weights: dict[str, torch.Tensor], metadata: dict[str, str]) -> LoadedMapDenoiser:
        model = typed_model(MapDenoiser, MapDenoiserConfig, "denoiser", weights, metadata, device)
        return LoadedMapDenoiser(model, json.loads(metadata["scheduler"]), metadata)

    return load_kind(name_or_path, KIND, build, device, what="map-conditioned diffusion", model="map denoiser")
