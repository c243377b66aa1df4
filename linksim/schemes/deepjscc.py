"""DeepJSCC as a scheme: the adaptive-rate encoder sends ``K(r)`` symbols, the decoder inverts.

One checkpoint serves every SNR and every bandwidth ratio it was trained with, at any image size
whose sides are multiples of its downsampling ``f`` (the model is convolutional; the size it was
trained on is a property of training, not of use). The latent grid and the channel uses scale
with ``H x W``: ``K = r 3 H W`` exactly, with no padding. The transmitter
adapts to ``state.snr_db`` (the SNR it is told), the receiver additionally uses the channel's
per-symbol effective noise variance.

**ROI weighting** (as in LRISC, Tong et al. 2025): with ROI weight ``alpha > 0`` the latent is
multiplied by ``1 + alpha * m`` before power normalisation, where ``m`` is the ROI mask at latent
resolution (H/f x W/f, f the model's downsampling), binarised (average-pooled mask >= 0.5). The ROI thus takes a larger share
of the fixed power budget. To undo the weighting the receiver needs ``m`` and the
renormalisation gain ``g``: both are sent as side information — one bit per latent position
(64 bits for a 32x32 image) plus ``g`` as a 16-bit float — counted in the ``side_info_bits``
column of the results (assumed delivered error-free, e.g. on a control channel; not included in
``channel_uses``). With ``alpha = 0`` nothing is sent.
"""

from __future__ import annotations

import torch

from linksim.errors import LinksimError
from linksim.models.deepjscc import load_deepjscc
from linksim.schema import ratio_label
from linksim.schemes.base import SCHEMES, LinkState, Scheme, Transmission, channel_uses, check_image_size
from linksim.schemes.config import DeepJSCCConfig

_GAIN_BITS = 16  # the ROI renormalisation gain, sent as a float16


@SCHEMES.register
class DeepJSCCScheme(Scheme):
    """Adaptive-rate, SNR-adaptive DeepJSCC (see :mod:`linksim.models.deepjscc`).

    ``transmit``: images ``[B, 3, H, W]`` -> ``K = round(r 3 H W)`` symbols, unit power per image.
    ``receive``: ``y``, ``noise_var`` ``[B, K]`` -> images ``[B, 3, H, W]`` in [0, 1].
    """

    config_class = DeepJSCCConfig
    description = "adaptive-rate SNR-adaptive DeepJSCC (Bourtsoulatze 2019 + ADJSCC attention), one checkpoint for all points"

    def __init__(self, config: DeepJSCCConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config or DeepJSCCConfig()
        loaded = load_deepjscc(self.config.checkpoint, device)
        self.model, self.ratios = loaded.model, loaded.ratios

    @property
    def supported_ratios(self) -> list[float]:
        return self.ratios

    def _check(self, images: torch.Tensor, ratio: float) -> None:
        check_image_size(images, self.model.factor, self.config.checkpoint)
        if not any(abs(ratio - r) < 1e-9 for r in self.ratios):
            supported = ", ".join(ratio_label(r) for r in self.ratios)
            raise LinksimError(f"checkpoint '{self.config.checkpoint}' does not support bandwidth ratio "
                               f"{ratio_label(ratio)} (supported: {supported})")

    def ratio(self, state: LinkState) -> torch.Tensor:
        return torch.full_like(state.snr_db, state.bandwidth_ratio, dtype=torch.float32)

    def roi_weight_map(self, state: LinkState) -> torch.Tensor | None:
        """``1 + alpha * m`` at latent resolution ``[B, 1, H/f, W/f]``, or ``None`` without ROI weighting."""
        if state.roi_weight <= 0 or state.roi_mask is None:
            return None
        coarse = (torch.nn.functional.avg_pool2d(state.roi_mask, self.model.factor) >= 0.5).float()
        return 1 + state.roi_weight * coarse

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        self._check(images, state.bandwidth_ratio)
        k = channel_uses(tuple(images.shape[1:]), state.bandwidth_ratio)
        ratio = self.ratio(state)
        weights, amplitude, bits = self.roi_weight_map(state), None, 0
        symbols = self.model.encode(images, state.snr_db, ratio, weights)
        if weights is not None:
            symbols, amplitude = self.model.weight_symbols(symbols, ratio, weights)
            bits = weights[0].numel() + _GAIN_BITS
        side_info = {"image_size": tuple(images.shape[-2:]), "amplitude": amplitude}
        return Transmission(symbols=symbols[:, :k], side_info=side_info, side_info_bits=bits)

    def padded(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission) -> tuple[torch.Tensor, torch.Tensor]:
        """Received ``y``, ``noise_var`` ``[B, K]`` padded to the model's ``K_max`` symbols."""
        h, w = self.model.latent_grid(tx.side_info["image_size"])
        k_max = self.model.latent_channels * h * w // 2
        pad = k_max - y.shape[1]
        return torch.nn.functional.pad(y, (0, pad)), torch.nn.functional.pad(noise_var, (0, pad), value=1.0)

    def receive(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState) -> torch.Tensor:
        y, noise_var = self.padded(y, noise_var, tx)
        return self.model.decode(y, noise_var, state.snr_db, self.ratio(state), tx.side_info["image_size"],
                                 tx.side_info["amplitude"])
