"""Train the adaptive-rate DeepJSCC model through a linksim channel.

Each step draws a batch of training images (random horizontal flips), a random SNR per image
(uniform in ``snr_db``) and a random bandwidth ratio per image (from ``ratios``), sends the
encoder's symbols through the configured channel and minimises the MSE of the reconstruction.
With ``roi_weights`` other than ``[0]`` each image also gets a random ROI weight from that list
and a random ROI on the latent grid (``roi_area`` of it: the top positions of a random field
smoothed 0-3 times, so shapes range from scattered blocks to single blobs, like saliency and
object masks), so that the decoder learns to exploit ROI weighting; ``init_checkpoint`` starts
from existing weights (fine-tuning) and ``train_modules: decoder`` keeps the encoder frozen, so
that the fine-tuned checkpoint sends exactly the symbols of the one it started from.
``roi_input: true`` gives the encoder the ROI weight map as a fourth input plane (weights for it
start at zero when fine-tuning a model without one); ``roi_loss: true`` weights each pixel's
squared error by its ROI weight ``1 + alpha m`` (normalised to mean 1 per image), so the ROI
counts for more, as the weighting intends. ``lpips_weight > 0`` adds that multiple of LPIPS
(AlexNet) to the loss: a perceptually tuned decoder, the control for the diffusion receiver's
perceptual fine-tuning (same LPIPS/MSE balance at ``lpips_weight: 0.2``).
Writes to ``out``: ``loss.csv`` (training loss), ``eval.csv`` (PSNR on held-out test images at
fixed SNRs and ratios), ``last.safetensors`` (model weights), ``state.pt`` (optimiser, schedule
and RNG state for ``--resume``) and ``config.yaml``. Deterministic for a seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, ValidationInfo, field_validator

from linksim.channels import CHANNELS, build_channel
from linksim.errors import ScenarioError
from linksim.metrics import lpips, psnr
from linksim.models.deepjscc import KIND, DeepJSCCCard, latent_channels_for
from linksim.roi import centre_masks
from linksim.scenario import ChannelEntry, DatasetConfig
from linksim.schema import Ratios, parse_ratio, ratio_label
from linksim.training.common import TrainerBase, TrainingImages, load_images, run_training
from linksim.training.config import TrainConfig, read_train_config

DEFAULT_RATIOS = ["1/24", "1/12", "1/8", "1/6", "1/4", "1/3"]


class DeepJSCCTrainConfig(TrainConfig):
    """``linksim train deepjscc --config FILE``: what to train on, for how long, how."""

    name: str = "cifar10-deepjscc"
    train_data: DatasetConfig
    eval_data: DatasetConfig
    channel: ChannelEntry = Field(default_factory=lambda: CHANNELS["awgn"].config_class())
    steps: int = Field(40000, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    snr_db: tuple[float, float] = (-5.0, 20.0)
    ratios: Ratios = Field(default_factory=lambda: [parse_ratio(r) for r in DEFAULT_RATIOS])
    roi_weights: list[float] = Field(default_factory=lambda: [0.0])
    roi_area: tuple[float, float] = (0.1, 0.5)
    init_checkpoint: str | None = None
    train_modules: Literal["all", "decoder"] = "all"
    roi_input: bool = False
    roi_loss: bool = False
    lpips_weight: float = Field(0.0, ge=0)
    latent_channels: int = Field(32, ge=1)
    width: int = Field(64, ge=4)
    downsample: int = Field(2, ge=2, le=5)
    train_crop: int | None = Field(None, ge=8)
    eval_snr_db: list[float] = Field(default_factory=lambda: [0.0, 10.0, 20.0])
    eval_ratios: Ratios = Field(default_factory=lambda: [1 / 12, 1 / 6])
    out: str = "runs/deepjscc"

    @field_validator("roi_weights")
    @classmethod
    def _roi_weights(cls, value: list[float]) -> list[float]:
        if not value or any(w < 0 for w in value):
            raise ValueError(f"roi_weights must be a non-empty list of weights >= 0, got {value}")
        return value

    @field_validator("train_crop")
    @classmethod
    def _crop_needs_folder(cls, value: int | None, info: ValidationInfo) -> int | None:
        data = info.data.get("train_data")
        if value is not None and data is not None and data.name != "image_folder":
            raise ValueError(f"random crops need train_data.name: image_folder (got '{data.name}')")
        return value

    @property
    def trained_size(self) -> int:
        """The side of the square images the model trains on: the crop, else the dataset's size."""
        return self.train_crop or self.train_data.image_size

    def check_ratios(self) -> None:
        size, factor = self.trained_size, 2**self.downsample
        if size % factor:
            raise ValueError(f"the training size {size} is not a multiple of the downsampling 2**downsample = {factor}")
        for ratio in self.ratios + self.eval_ratios:
            c = latent_channels_for(ratio, (3, size, size), factor)
            if c > self.latent_channels:
                raise ValueError(f"ratio {ratio_label(ratio)} needs {c} latent channels > latent_channels={self.latent_channels}")


def load_train_config(path: str | Path) -> DeepJSCCTrainConfig:
    """Read a training config; one-line :class:`ScenarioError` on any problem."""
    config = read_train_config(DeepJSCCTrainConfig, path)
    try:
        config.check_ratios()
    except ValueError as exc:
        raise ScenarioError(f"{path}: ratios: {exc}") from None
    return config


class DeepJSCCTrainer(TrainerBase):
    """Owns the model, optimiser, data and channel of one training run."""

    def __init__(self, config: DeepJSCCTrainConfig) -> None:
        super().__init__(config)
        self.train_images = TrainingImages(config.train_data, config.train_crop)
        self.eval_images = load_images(config.eval_data).to(self.device)
        self.card = DeepJSCCCard(latent_channels=config.latent_channels, width=config.width, roi_input=config.roi_input,
                                 downsample=config.downsample, image_size=config.trained_size, ratios=config.ratios)
        self.model = self.card.build().to(self.device)
        if config.init_checkpoint:
            from linksim.zoo import load_checkpoint

            self.model.load_expanding(load_checkpoint(config.init_checkpoint, self.device)[0])
        if config.train_modules == "decoder":
            self.model.encoder.requires_grad_(False)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=config.lr)
        self.channel = build_channel(config.channel, self.device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.ratios = torch.tensor(config.ratios, device=self.device)

    # -- one step ----------------------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = self.config.batch_size
        images = self.train_images.sample(b, self.generator).to(self.device)
        low, high = self.config.snr_db
        snr = (low + (high - low) * torch.rand(b, generator=self.generator)).to(self.device)
        ratio = self.ratios[torch.randint(len(self.ratios), (b,), generator=self.generator).to(self.device)]
        return images, snr, ratio

    def _random_roi_weights(self, b: int, h: int, w: int) -> torch.Tensor:
        """``1 + alpha * m`` ``[B, 1, h, w]``: random alpha from ``roi_weights``, random ROI shapes."""
        g = self.generator
        alpha = torch.tensor(self.config.roi_weights)[torch.randint(len(self.config.roi_weights), (b,), generator=g)]
        low, high = self.config.roi_area
        area = low + (high - low) * torch.rand(b, generator=g)
        field = torch.randn(b, 1, h, w, generator=g)
        smoothing = torch.randint(4, (b,), generator=g)
        for passes in range(1, 4):  # more passes of a 3x3 mean -> larger, more compact regions
            smoothed = torch.nn.functional.avg_pool2d(field, 3, stride=1, padding=1, count_include_pad=False)
            field = torch.where((smoothing >= passes)[:, None, None, None], smoothed, field)
        keep = (area * h * w).round().clamp_min(1).long()
        threshold = field.flatten(1).sort(dim=1, descending=True).values.gather(1, (keep - 1)[:, None])
        mask = (field >= threshold[:, :, None, None]).float()
        return (1 + alpha[:, None, None, None] * mask).to(self.device)

    def _forward(
        self, images: torch.Tensor, snr: torch.Tensor, ratio: torch.Tensor, weight_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        symbols = self.model.encode(images, snr, ratio, weight_map)
        amplitude = None
        if weight_map is not None:
            symbols, amplitude = self.model.weight_symbols(symbols, ratio, weight_map)
        received = self.channel(symbols, snr)
        return self.model.decode(received.y, received.noise_var, snr, ratio, tuple(images.shape[-2:]), amplitude)

    def _loss(self, x_hat: torch.Tensor, images: torch.Tensor, weight_map: torch.Tensor | None) -> torch.Tensor:
        error = (x_hat - images).pow(2)
        if weight_map is None or not self.config.roi_loss:
            loss = error.mean()
        else:
            pixel_weights = torch.nn.functional.interpolate(weight_map, size=images.shape[-2:], mode="nearest")
            loss = (error * pixel_weights / pixel_weights.mean(dim=(1, 2, 3), keepdim=True)).mean()
        if self.config.lpips_weight:
            loss = loss + self.config.lpips_weight * lpips(x_hat.clamp(0, 1), images).mean()
        return loss

    def train_step(self) -> float:
        self.set_learning_rate()
        images, snr, ratio = self._batch()
        weight_map = None
        if self.config.roi_weights != [0.0]:
            weight_map = self._random_roi_weights(len(images), *self.model.latent_grid(tuple(images.shape[-2:])))
        loss = self._loss(self._forward(images, snr, ratio, weight_map), images, weight_map)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        """Mean PSNR on the evaluation images at each (SNR, ratio) of the config; when training
        with ROI weights also at the largest one, with PSNR inside / outside a centred ROI."""
        self.model.eval()
        rows = []
        weights = sorted({0.0, max(self.config.roi_weights)})
        for ratio in self.config.eval_ratios:
            for snr_db in self.config.eval_snr_db:
                for alpha in weights:
                    values: dict[str, list[torch.Tensor]] = {"psnr": [], "roi_psnr": [], "bg_psnr": []}
                    for batch in self.eval_images.split(256):
                        snr = torch.full((len(batch),), snr_db, device=self.device)
                        r = torch.full((len(batch),), ratio, device=self.device)
                        grid = self.model.latent_grid(tuple(batch.shape[-2:]))
                        mask = centre_masks(len(batch), *grid, 0.25).to(self.device)
                        x_hat = self._forward(batch, snr, r, 1 + alpha * mask if alpha > 0 else None).clamp(0, 1)
                        pixel_mask = torch.nn.functional.interpolate(mask, size=batch.shape[-2:], mode="nearest")
                        values["psnr"].append(psnr(x_hat, batch))
                        values["roi_psnr"].append(psnr(x_hat, batch, pixel_mask))
                        values["bg_psnr"].append(psnr(x_hat, batch, 1 - pixel_mask))
                    rows.append({"step": self.step, "ratio": ratio, "snr_db": snr_db, "roi_weight": alpha,
                                 **{k: torch.cat(v).mean().item() for k, v in values.items()}})
        self.model.train()
        return rows

    # -- persistence -------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        # the card is what a scheme needs to use the file directly (a run's last.safetensors works as a path)
        return {"kind": KIND, "step": str(self.step), "deepjscc": self.card.model_dump_json(),
                "config": json.dumps(self.config.model_dump(mode="json"))}

    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        if self.config.lpips_weight:  # not an MSE: no PSNR to read off
            return {"loss": mean_loss}, f"loss {mean_loss:.4f}"
        psnr_db = -10 * math.log10(mean_loss)
        return {"mse": mean_loss, "psnr": psnr_db}, f"train PSNR {psnr_db:.2f} dB"


def train_deepjscc(config: DeepJSCCTrainConfig, resume: bool = False, progress: bool = True,
                   time_budget_s: float | None = None) -> Path:
    """Run (or resume) training (see :func:`run_training`); returns the output folder."""
    return run_training(DeepJSCCTrainer(config), resume, progress, time_budget_s)
