"""The receiver's conditional denoiser: a diffusers ``UNet2DModel`` in pixel space, conditioned on
what the DeepJSCC receiver got from the channel.

**Conditioning.** The received latent, its per-value reliability (effective noise variance in dB)
and the mask of sent latent channels, each ``[B, C_max, H/f, W/f]``, go through a small
convolutional :class:`ReceiverConditioning` on the latent grid and are upsampled to the UNet's
resolution; optionally the DeepJSCC decoder's estimate is added as further input planes. The
SNR and the bandwidth ratio enter through an embedding added to the timestep embedding
(``class_embed_type="identity"``). The conditioning features are computed once per image and
reused at every sampling step (:meth:`ConditionalDenoiser.condition`).

**Patches.** The UNet works on 2x2 pixel patches (``pixel_unshuffle``: ``[B, 3, 32, 32]`` ->
``[B, 12, 16, 16]``), which cuts its cost about fourfold on a CPU, the way "simple diffusion" and
DiT patchify; nothing is lost, the rearrangement is exact.

**Residual.** With ``residual: true`` the UNet predicts the *change* to the DeepJSCC estimate:
its output plus the estimate is the model's prediction of the clean image, so it must be paired
with a scheduler whose ``prediction_type`` is ``sample``. The output layer starts at zero, so
before training the receiver returns the estimate exactly; what training adds is the change.

**Any size.** Every part is convolutional (no attention unless ``attention: true``), so a denoiser
trained on crops runs on whole images whose sides are multiples of :attr:`DenoiserConfig.multiple`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch
from diffusers import UNet2DModel
from pydantic import Field, model_validator
from torch import nn

from linksim.errors import LinksimError
from linksim.models.deepjscc import side_input
from linksim.schema import StrictModel
from linksim.zoo import DIFFUSION_KIND, checkpoint_sha256, load_kind, typed_model


class DenoiserConfig(StrictModel):
    """Architecture of :class:`ConditionalDenoiser` (stored in the checkpoint's metadata)."""

    image_size: int = Field(32, ge=4)  # the size it trains on; it runs on any size (see :meth:`multiple`)
    latent_channels: int = Field(32, ge=1)
    latent_factor: int = Field(4, ge=1)  # the DeepJSCC model's downsampling (pixels per latent position)
    patch: int = Field(2, ge=1)
    cond_channels: int = Field(32, ge=1)
    cond_hidden: int = Field(64, ge=1)
    use_estimate: bool = True
    block_out_channels: tuple[int, ...] = (64, 128, 128)
    layers_per_block: int = Field(1, ge=1)
    attention: bool = False  # self-attention at the lowest resolution
    residual: bool = False  # predict x0 as the DeepJSCC estimate plus the UNet's output (see above)
    norm_num_groups: int = Field(16, ge=1)

    @model_validator(mode="after")
    def _check(self) -> DenoiserConfig:
        if self.patch not in (1, 2, 4):
            raise ValueError(f"patch must be 1, 2 or 4, got {self.patch}")
        if self.latent_factor % self.patch:
            raise ValueError(f"latent_factor {self.latent_factor} must be a multiple of patch {self.patch}")
        if self.image_size % self.multiple:
            raise ValueError(f"image_size must be a multiple of {self.multiple}, got {self.image_size}")
        if self.residual and not self.use_estimate:
            raise ValueError("residual: true predicts a change to the DeepJSCC estimate; it needs use_estimate: true")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(f"block_out_channels {self.block_out_channels} must be multiples of norm_num_groups={self.norm_num_groups}")
        return self

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this: the latent grid's and the UNet's downsampling."""
        unet = self.patch * 2 ** (len(self.block_out_channels) - 1)
        return unet * self.latent_factor // math.gcd(unet, self.latent_factor)


@dataclass(frozen=True)
class Conditioning:
    """Per-image conditioning, computed once and reused at every denoising step.

    Attributes:
        features: planes concatenated to the UNet input, ``[B, C_cond, H/p, W/p]``.
        embedding: added to the timestep embedding, ``[B, E]``.
        estimate: the DeepJSCC estimate in [-1, 1], ``[B, 3, H, W]``, that a residual denoiser
            adds to its output; ``None`` for others.
    """

    features: torch.Tensor
    embedding: torch.Tensor
    estimate: torch.Tensor | None = None


class ReceiverConditioning(nn.Module):
    """Latent grid ``[B, 3 C_max, H/f, W/f]`` (latent, reliability, sent mask) -> ``[B, C_cond, H/p, W/p]``."""

    def __init__(self, latent_channels: int, hidden: int, out_channels: int, scale: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3 * latent_channels, hidden, 3, padding=1), nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=scale, mode="nearest") if scale > 1 else nn.Identity(),
            nn.Conv2d(hidden, out_channels, 3, padding=1),
        )

    def forward(self, latent: torch.Tensor, reliability: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([latent, reliability, mask], dim=1))


class ConditionalDenoiser(nn.Module):
    """Predicts the diffusion target (v, epsilon or x0, as the scheduler says) for noisy images
    ``x_t`` ``[B, 3, H, W]`` in [-1, 1] at timesteps ``t`` ``[B]`` given a :class:`Conditioning`."""

    def __init__(self, config: DenoiserConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DenoiserConfig()
        p, size = config.patch, config.image_size // config.patch
        pixels = 3 * p * p
        self.conditioning = ReceiverConditioning(config.latent_channels, config.cond_hidden, config.cond_channels,
                                                 config.latent_factor // p)
        embed_dim = 4 * config.block_out_channels[0]
        self.side_embedding = nn.Sequential(nn.Linear(2, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        levels = len(config.block_out_channels)
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if config.attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet = UNet2DModel(
            sample_size=size,
            in_channels=pixels + config.cond_channels + (pixels if config.use_estimate else 0),
            out_channels=pixels,
            block_out_channels=tuple(config.block_out_channels),
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            layers_per_block=config.layers_per_block,
            norm_num_groups=config.norm_num_groups,
            class_embed_type="identity",
        )
        if config.residual:  # start as the identity on the estimate (see the module docstring)
            nn.init.zeros_(self.unet.conv_out.weight)
            nn.init.zeros_(self.unet.conv_out.bias)

    def condition(
        self,
        latent: torch.Tensor,
        reliability: torch.Tensor,
        mask: torch.Tensor,
        snr_db: torch.Tensor,
        ratio: torch.Tensor,
        estimate: torch.Tensor | None = None,
    ) -> Conditioning:
        """Conditioning from the DeepJSCC receiver's latent-grid inputs (each ``[B, C_max, H/f, W/f]``,
        see :meth:`linksim.models.deepjscc.DeepJSCC.receiver_input`), SNR and ratio ``[B]`` and,
        if the model uses it, the DeepJSCC estimate ``[B, 3, H, W]`` in [0, 1]."""
        features = self.conditioning(latent, reliability, mask)
        if self.config.use_estimate:
            if estimate is None:
                raise ValueError("this denoiser needs the DeepJSCC estimate")
            features = torch.cat([features, self.to_patches(estimate * 2 - 1)], dim=1)
        residual_base = estimate * 2 - 1 if self.config.residual else None
        return Conditioning(features, self.side_embedding(side_input(snr_db, ratio)), residual_base)

    @property
    def prediction_type(self) -> str | None:
        """The scheduler ``prediction_type`` this model's output needs, or ``None`` if any
        (a residual model predicts the clean image: ``sample``)."""
        return "sample" if self.config.residual else None

    def as_residual(self) -> ConditionalDenoiser:
        """A residual copy of this (non-residual) model: the same weights, the output layer zeroed,
        so it starts as the identity on the estimate (for fine-tuning through the sampler)."""
        if self.config.residual:
            return self
        model = ConditionalDenoiser(self.config.model_copy(update={"residual": True}))
        weights = {k: v for k, v in self.state_dict().items() if not k.startswith("unet.conv_out.")}
        model.load_state_dict(weights, strict=False)
        return model.to(next(self.parameters()).device)

    def image_shape(self, cond: Conditioning) -> tuple[int, int]:
        """``(H, W)`` of the images a conditioning describes (the model runs on any size)."""
        return cond.features.shape[-2] * self.config.patch, cond.features.shape[-1] * self.config.patch

    def to_patches(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_unshuffle(x, self.config.patch) if self.config.patch > 1 else x

    def from_patches(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_shuffle(x, self.config.patch) if self.config.patch > 1 else x

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        h = torch.cat([self.to_patches(x_t), cond.features], dim=1)
        out = self.from_patches(self.unet(h, t, class_labels=cond.embedding).sample)
        return out + cond.estimate if self.config.residual else out


@dataclass(frozen=True)
class LoadedDenoiser:
    """A diffusion receiver checkpoint: the denoiser (eval mode), its training noise schedule and
    the DeepJSCC checkpoint it was trained on (zoo name and SHA-256)."""

    model: ConditionalDenoiser
    scheduler_config: dict
    deepjscc_checkpoint: str
    deepjscc_sha256: str
    metadata: dict[str, str]

    def check_pairing(self, name: str, deepjscc: str) -> None:
        """Refuse a DeepJSCC checkpoint other than the one the denoiser was trained on."""
        if checkpoint_sha256(deepjscc) != self.deepjscc_sha256:
            raise LinksimError(f"checkpoint '{name}' was trained on DeepJSCC '{self.deepjscc_checkpoint}' "
                               f"(sha256 {self.deepjscc_sha256[:12]}...), not on '{deepjscc}': "
                               f"set deepjscc_checkpoint: {self.deepjscc_checkpoint}")


def load_denoiser(name_or_path: str, device: str = "cpu") -> LoadedDenoiser:
    """Load a diffusion receiver checkpoint of the zoo (or a path); one-line :class:`LinksimError`
    if it is not one or its weights do not fit the architecture its metadata names."""
    def build(weights: dict[str, torch.Tensor], metadata: dict[str, str]) -> LoadedDenoiser:
        model = typed_model(ConditionalDenoiser, DenoiserConfig, "denoiser", weights, metadata, device)
        scheduler = json.loads(metadata["scheduler"])
        if model.prediction_type not in (None, scheduler.get("prediction_type")):
            raise LinksimError(f"checkpoint '{name_or_path}': its denoiser predicts '{model.prediction_type}' but its "
                               f"schedule says '{scheduler.get('prediction_type')}'")
        return LoadedDenoiser(model, scheduler,
                              metadata["deepjscc_checkpoint"], metadata["deepjscc_sha256"], metadata)

    return load_kind(name_or_path, DIFFUSION_KIND, build, device, what="diffusion receiver", model="denoiser")
