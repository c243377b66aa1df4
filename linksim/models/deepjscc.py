"""Adaptive-rate, SNR-adaptive DeepJSCC encoder and decoder.

Architecture: the convolutional DeepJSCC of Bourtsoulatze, Kurka & Gündüz (IEEE TCCN 2019) —
5x5 convolutions with GDN and PReLU, two stride-2 stages, a latent of ``C_max`` channels at 1/4
resolution — with an attention-feature (AF) module after every stage as in ADJSCC (Xu et al.,
IEEE TCSVT 2021). The AF modules see the channel SNR and the bandwidth ratio, so one network
serves every point of a sweep.

**Adaptive rate.** Trained with a random bandwidth ratio per image, the encoder learns to put
the most important information in its first latent channels: for ratio r only the first
``c(r) = 2 r (3 H W) / (H W / f^2)`` channels are sent (two real values per complex channel use,
``f = 2 ** downsample`` the encoder's downsampling: 4 for the CIFAR models, 8 for the photo models);
the decoder gets zeros for the rest and knows r through its AF modules.

**ROI-aware encoder** (``roi_input=True``): the encoder also sees the ROI weight map
``alpha * m`` as a fourth input plane, so it can concentrate the ROI's information in the latent
positions that the ROI weighting will give more power. Without it the encoder spreads every
pixel's information over many latent positions and weighting the ROI's positions cannot
favour the ROI (measured: see the model cards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from pydantic import Field
from torch import nn

from linksim.errors import LinksimError
from linksim.models.gdn import GDN
from linksim.schema import StrictModel
from linksim.zoo import DEEPJSCC_KIND

KIND = DEEPJSCC_KIND

SIDE_FEATURES = 2  # the AF modules' side input: (SNR in dB / 20, bandwidth ratio * 3)


def side_input(snr_db: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """Side information ``[B, 2]`` for the AF modules from SNR ``[B]`` (dB) and ratio ``[B]``."""
    return torch.stack([snr_db / 20.0, ratio * 3.0], dim=1).float()


class AttentionFeature(nn.Module):
    """ADJSCC's AF module: channel-wise scaling from pooled features and side information.

    Input ``x`` ``[B, C, H, W]`` and ``side`` ``[B, S]``; output ``x`` scaled per channel.
    """

    def __init__(self, channels: int, side_features: int = SIDE_FEATURES) -> None:
        super().__init__()
        hidden = max(8, channels // 2)
        self.mlp = nn.Sequential(
            nn.Linear(channels + side_features, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        scale = self.mlp(torch.cat([x.mean(dim=(2, 3)), side], dim=1))
        return x * scale[:, :, None, None]


class _Stage(nn.Module):
    """Convolution (or transposed convolution), (I)GDN, PReLU, then an AF module."""

    def __init__(self, conv: nn.Module, channels: int, inverse_gdn: bool) -> None:
        super().__init__()
        self.conv, self.gdn, self.act = conv, GDN(channels, inverse=inverse_gdn), nn.PReLU(channels)
        self.af = AttentionFeature(channels)

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return self.af(self.act(self.gdn(self.conv(x))), side)


class DeepJSCCEncoder(nn.Module):
    """Image ``[B, 3, H, W]`` in [0, 1] (+ ROI map ``[B, 1, H, W]``) -> latent ``[B, C_max, H/f, W/f]``
    with ``f = 2 ** downsample`` (``downsample`` stride-2 stages, then two at full latent resolution).

    The latent is not yet power-normalised.
    """

    def __init__(self, latent_channels: int = 32, width: int = 32, roi_input: bool = False, downsample: int = 2) -> None:
        super().__init__()
        half = width // 2
        self.roi_input = roi_input
        strided = [(3 + roi_input, half), (half, width)] + [(width, width)] * (downsample - 2)
        self.stages = nn.ModuleList(
            [_Stage(nn.Conv2d(c_in, c_out, 5, stride=2, padding=2), c_out, False) for c_in, c_out in strided]
            + [_Stage(nn.Conv2d(width, width, 5, padding=2), width, False) for _ in range(2)]
        )
        self.head = nn.Conv2d(width, latent_channels, 5, padding=2)

    def forward(self, images: torch.Tensor, side: torch.Tensor, roi_map: torch.Tensor | None = None) -> torch.Tensor:
        h = images * 2 - 1
        if self.roi_input:
            roi_map = torch.zeros_like(images[:, :1]) if roi_map is None else roi_map
            h = torch.cat([h, roi_map], dim=1)
        for stage in self.stages:
            h = stage(h, side)
        return self.head(h)


class DeepJSCCDecoder(nn.Module):
    """Received latent and its noise map ``[B, 2 C_max, H/f, W/f]`` -> image ``[B, 3, H, W]``.

    The second half of the input channels carries ``-10 log10(noise variance) / 20`` of each
    received latent value (0 where nothing was sent), so the decoder can weigh unreliable symbols
    (fading, OFDM) differently from reliable ones.
    """

    def __init__(self, latent_channels: int = 32, width: int = 32, downsample: int = 2) -> None:
        super().__init__()
        half = width // 2
        self.stages = nn.ModuleList(
            [_Stage(nn.Conv2d(2 * latent_channels, width, 5, padding=2), width, True)]
            + [_Stage(nn.Conv2d(width, width, 5, padding=2), width, True) for _ in range(2)]
            + [_Stage(nn.ConvTranspose2d(width, c_out, 5, stride=2, padding=2, output_padding=1), c_out, True)
               for c_out in [width] * (downsample - 2) + [half]]
        )
        self.head = nn.ConvTranspose2d(half, 3, 5, stride=2, padding=2, output_padding=1)

    def forward(self, received: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        h = received
        for stage in self.stages:
            h = stage(h, side)
        return torch.sigmoid(self.head(h))


def latent_channels_for(ratio: float, image_shape: tuple[int, int, int], factor: int = 4) -> int:
    """Latent channels ``c(r) = 2 r 3 f^2`` that carry ratio ``r`` for a ``(3, H, W)`` image with
    ``H``, ``W`` multiples of the downsampling ``factor`` ``f``, or raise ``ValueError``."""
    c, h, w = image_shape
    exact = 2 * ratio * c * h * w / ((h // factor) * (w // factor))
    channels = round(exact)
    if abs(exact - channels) > 1e-6 or channels < 1:
        raise ValueError(f"bandwidth ratio {ratio:.6g} needs {exact:.3f} latent channels (not a whole number)")
    return channels


class DeepJSCC(nn.Module):
    """Encoder, decoder and the mapping between latents and complex channel symbols.

    Symbols are the latent values in channel-major order, two reals per complex symbol, so the
    first ``K(r)`` symbols hold exactly the first ``c(r)`` channels. Every image is normalised to
    unit average power over the symbols it sends.
    """

    def __init__(self, latent_channels: int = 32, width: int = 64, roi_input: bool = False, downsample: int = 2) -> None:
        super().__init__()
        if downsample < 2:
            raise ValueError(f"downsample must be >= 2 stride-2 stages, got {downsample}")
        self.latent_channels = latent_channels
        self.factor = 2**downsample  # pixels per latent position along each side
        self.encoder = DeepJSCCEncoder(latent_channels, width, roi_input, downsample)
        self.decoder = DeepJSCCDecoder(latent_channels, width, downsample)

    def latent_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """The latent grid ``(H/f, W/f)`` of an image size; ``ValueError`` unless both divide."""
        h, w = image_size
        if h % self.factor or w % self.factor:
            raise ValueError(f"image size {h}x{w} is not a multiple of the model's downsampling {self.factor}")
        return h // self.factor, w // self.factor

    def _sent_mask(self, ratio: torch.Tensor, latent_shape: torch.Size) -> torch.Tensor:
        """``[B, C_max, 1, 1]`` with ones on the channels each image sends."""
        _, c_max, _, _ = latent_shape
        sent = torch.round(2 * ratio * 3 * self.factor**2)
        return (torch.arange(c_max, device=ratio.device)[None, :] < sent[:, None]).float()[..., None, None]

    def encode(
        self, images: torch.Tensor, snr_db: torch.Tensor, ratio: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Images ``[B, 3, H, W]`` -> symbols ``[B, C_max H W / (2 f^2)]`` complex; zeros beyond ``K_i``.

        Each image has unit average power over its ``K_i`` sent symbols. ``weight_map``
        ``[B, 1, H/f, W/f]`` (``1 + alpha m``, see :meth:`weight_symbols`) is shown to a ROI-aware
        encoder at pixel resolution; others ignore it.
        """
        self.latent_grid(tuple(images.shape[-2:]))
        roi_map = None
        if weight_map is not None and self.encoder.roi_input:
            roi_map = nn.functional.interpolate(weight_map - 1, size=images.shape[-2:], mode="nearest")
        latent = self.encoder(images, side_input(snr_db, ratio), roi_map)
        latent = latent * self._sent_mask(ratio, latent.shape)
        return self._unit_power(latent.flatten(1), ratio, latent.shape)

    def load_expanding(self, weights: dict[str, torch.Tensor]) -> None:
        """Load weights of a model without ROI input into a ROI-aware one (ROI-input weights start at 0)."""
        first = "encoder.stages.0.conv.weight"
        weights = dict(weights)
        own = self.state_dict()[first]
        if weights[first].shape[1] < own.shape[1]:
            pad = own.shape[1] - weights[first].shape[1]
            weights[first] = torch.cat([weights[first], weights[first].new_zeros(own.shape[0], pad, *own.shape[2:])], dim=1)
        self.load_state_dict(weights)

    def _unit_power(self, reals: torch.Tensor, ratio: torch.Tensor, latent_shape: torch.Size) -> torch.Tensor:
        """Scale reals ``[B, 2 K_max]`` to unit mean power per sent complex symbol; return complex."""
        _, _, h, w = latent_shape
        sent_symbols = self._sent_mask(ratio, latent_shape).sum(dim=(1, 2, 3)) * h * w / 2
        power = reals.pow(2).sum(dim=1) / sent_symbols
        reals = reals / power.clamp_min(1e-12).sqrt()[:, None]
        return torch.view_as_complex(reals.reshape(len(reals), -1, 2).contiguous())

    def weight_symbols(
        self, symbols: torch.Tensor, ratio: torch.Tensor, weight_map: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ROI weighting: multiply each latent value by its weight and renormalise the power.

        Args:
            symbols: unit-power symbols from :meth:`encode`, ``[B, K_max]``.
            ratio: bandwidth ratios ``[B]``.
            weight_map: ``1 + alpha * m`` at latent resolution, ``[B, 1, H/f, W/f]``.

        Returns:
            The weighted unit-power symbols ``[B, K_max]`` and the amplitude ``w * g`` applied to
            each real value ``[B, 2 K_max]`` (g, the renormalisation gain, is rounded to float16:
            it is side information). Weighting before or after the first normalisation is the
            same, since both are linear.
        """
        b, c, h, w = len(symbols), self.latent_channels, *weight_map.shape[-2:]
        weights = weight_map.expand(b, c, h, w).reshape(b, -1)
        reals = torch.view_as_real(symbols).reshape(b, -1)
        sent_symbols = self._sent_mask(ratio, torch.Size((b, c, h, w))).sum(dim=(1, 2, 3)) * h * w / 2
        gain = torch.sqrt(sent_symbols / (reals * weights).pow(2).sum(dim=1).clamp_min(1e-12))
        amplitude = weights * gain.half().float()[:, None]
        weighted = torch.view_as_complex((reals * amplitude).reshape(b, -1, 2).contiguous())
        return weighted, amplitude

    def receiver_input(
        self,
        y: torch.Tensor,
        noise_var: torch.Tensor,
        ratio: torch.Tensor,
        image_size: tuple[int, int],
        amplitude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the receiver knows, on the latent grid: the received latent, its reliability and
        the mask of sent channels, each ``[B, C_max, H/f, W/f]`` (zeros where nothing was sent).

        ``y`` and ``noise_var`` are ``[B, K_max]`` (any values beyond ``K_i``). ``amplitude``
        ``[B, 2 K_max]`` from :meth:`weight_symbols` is divided out, which leaves ROI values with
        proportionally less noise (the reliability says so) and background values with more.
        """
        h, w = self.latent_grid(image_size)
        shape = torch.Size((len(y), self.latent_channels, h, w))
        mask = self._sent_mask(ratio, shape).expand(shape)
        reals = torch.view_as_real(y).reshape(len(y), -1)
        # Each real part sees half the complex noise variance.
        real_noise_var = (noise_var.clamp_min(1e-10) / 2).repeat_interleave(2, dim=1)
        if amplitude is not None:
            reals = reals / amplitude
            real_noise_var = real_noise_var / amplitude.pow(2)
        latent = reals.reshape(shape) * mask
        reliability = -10 * torch.log10(real_noise_var.reshape(shape)) / 20 * mask  # dB, scaled to ~[-0.5, 2]
        return latent, reliability, mask

    def decode(
        self,
        y: torch.Tensor,
        noise_var: torch.Tensor,
        snr_db: torch.Tensor,
        ratio: torch.Tensor,
        image_size: tuple[int, int],
        amplitude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Symbols ``y`` and noise variances ``[B, K_max]`` -> images ``[B, 3, H, W]`` (see
        :meth:`receiver_input`)."""
        return self.decode_with_inputs(y, noise_var, snr_db, ratio, image_size, amplitude)[0]

    def decode_with_inputs(
        self,
        y: torch.Tensor,
        noise_var: torch.Tensor,
        snr_db: torch.Tensor,
        ratio: torch.Tensor,
        image_size: tuple[int, int],
        amplitude: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`decode` and the :meth:`receiver_input` it decoded from, computed once: the
        images ``[B, 3, H, W]``, then latent, reliability and sent mask (a diffusion receiver's
        conditioning)."""
        latent, reliability, mask = self.receiver_input(y, noise_var, ratio, image_size, amplitude)
        images = self.decoder(torch.cat([latent, reliability], dim=1), side_input(snr_db, ratio))
        return images, latent, reliability, mask


class DeepJSCCCard(StrictModel):
    """What a DeepJSCC checkpoint says about itself: the constructor arguments of
    :class:`DeepJSCC`, the image size it was trained at and the ratios it was trained for.
    Stored as JSON under the metadata key ``deepjscc`` (written by the trainer, read by
    :func:`load_deepjscc`)."""

    latent_channels: int = Field(ge=1)
    width: int = Field(ge=1)
    roi_input: bool = False
    downsample: int = Field(2, ge=1)
    image_size: int = Field(ge=1)
    ratios: list[float]

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> DeepJSCCCard:
        """The card of a checkpoint's metadata: the ``deepjscc`` JSON, or the flat keys of the
        files written before it existed (the zoo keeps those: re-exporting them would change the
        SHA-256 that the diffusion receivers are paired with)."""
        if "deepjscc" in metadata:
            return cls.model_validate_json(metadata["deepjscc"])
        return cls(latent_channels=int(metadata["latent_channels"]), width=int(metadata["width"]),
                   roi_input=metadata.get("roi_input", "false") == "true",
                   downsample=int(metadata.get("downsample", 2)), image_size=int(metadata["image_size"]),
                   ratios=[float(r) for r in json.loads(metadata["ratios"])])

    def build(self) -> DeepJSCC:
        return DeepJSCC(self.latent_channels, self.width, roi_input=self.roi_input, downsample=self.downsample)


@dataclass(frozen=True)
class LoadedDeepJSCC:
    """A DeepJSCC checkpoint in eval mode with what its metadata says it supports."""

    model: DeepJSCC
    card: DeepJSCCCard

    @property
    def image_size(self) -> int:
        return self.card.image_size

    @property
    def ratios(self) -> list[float]:
        return self.card.ratios


def load_deepjscc(checkpoint: str, device: str = "cpu") -> LoadedDeepJSCC:
    """A zoo name or .safetensors path -> the model; one-line :class:`LinksimError` if it is not DeepJSCC."""
    from linksim.zoo import load_checkpoint

    weights, metadata = load_checkpoint(checkpoint, device)
    try:
        card = DeepJSCCCard.from_metadata(metadata)
        model = card.build()
        model.load_state_dict(weights)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise LinksimError(f"checkpoint '{checkpoint}' is not a DeepJSCC checkpoint ({exc})".splitlines()[0]) from None
    return LoadedDeepJSCC(model.to(device).eval(), card)
