"""A small U-Net that segments street scenes into CamVid's 11 classes.

linksim uses it twice (issue 18): as a realistic transmitter (a predicted map instead of the
ground truth) and as the judge of semantic preservation (``miou`` / ``pixel_accuracy`` of the
segmentation of a reconstruction against the label map). It is fully convolutional: it runs on any
size whose sides are multiples of :attr:`SegmenterConfig.multiple`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field, model_validator
from torch import nn

from linksim.errors import LinksimError
from linksim.schema import StrictModel
from linksim.zoo import SEGMENTER_KIND, load_kind, typed_model

KIND = SEGMENTER_KIND


class SegmenterConfig(StrictModel):
    """Architecture of :class:`Segmenter` (its constructor; stored as JSON in the checkpoint)."""

    classes: tuple[str, ...]
    widths: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_level: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _check(self) -> SegmenterConfig:
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths needs at least two positive entries, got {self.widths}")
        if len(self.classes) < 2:
            raise ValueError("a segmenter needs at least two classes")
        return self

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this (one 2x pooling per level below the first)."""
        return 2 ** (len(self.widths) - 1)


def _convs(c_in: int, c_out: int, count: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(count):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Segmenter(nn.Module):
    """U-Net: ``[B, 3, H, W]`` in [0, 1] -> class logits ``[B, C, H, W]``."""

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        self.config = config
        w, n = config.widths, config.convs_per_level
        self.down = nn.ModuleList([_convs(3 if i == 0 else w[i - 1], w[i], n) for i in range(len(w))])
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(len(w) - 1)])
        self.merge = nn.ModuleList([_convs(2 * w[i], w[i], n) for i in range(len(w) - 1)])
        self.head = nn.Conv2d(w[0], len(config.classes), 1)
        # ImageNet-style input normalisation, fixed (a buffer, not learnt)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        if images.shape[-2] % m or images.shape[-1] % m:
            raise LinksimError(f"the segmenter needs image sides that are multiples of {m}, got "
                               f"{images.shape[-2]}x{images.shape[-1]}")
        h = (images - self.mean) / self.std
        skips = []
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else nn.functional.max_pool2d(h, 2))
            skips.append(h)
        for i in reversed(range(len(self.up))):
            h = self.merge[i](torch.cat([skips[i], self.up[i](h)], dim=1))
        return self.head(h)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """Class maps ``[B, H, W]`` (int64) of images ``[B, 3, H, W]`` in [0, 1], in batches."""
        return torch.cat([self(chunk.clamp(0, 1)).argmax(1) for chunk in images.split(batch_size)])


@dataclass(frozen=True)
class LoadedSegmenter:
    """A segmenter checkpoint: the model (eval mode) and its metadata (scores, data, steps)."""

    model: Segmenter
    metadata: dict[str, str]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.config.classes


def load_segmenter(name_or_path: str, device: str = "cpu") -> LoadedSegmenter:
    """Load a segmenter of the zoo (or a path); one-line :class:`LinksimError` if it is not one."""
    def build(weights: dict[str, torch.Tensor], metadata: dict[str, str]) -> LoadedSegmenter:
        return LoadedSegmenter(typed_model(Segmenter, SegmenterConfig, "segmenter", weights, metadata, device), metadata)

    return load_kind(name_or_path, KIND, build, device)
