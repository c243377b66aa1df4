"""Train the receiver's conditional denoiser on the outputs of a frozen DeepJSCC checkpoint.

Each step draws a batch of training images (random horizontal flips), a random SNR per image
(uniform in ``snr_db``) and a random bandwidth ratio (from ``ratios``), sends the frozen
encoder's symbols through the configured channel and builds what the receiver knows (received
latent, reliability, sent mask, DeepJSCC estimate). The denoiser learns the DDPM objective of
diffusers' ``DDPMScheduler`` (v-prediction, cosine schedule, uniform timesteps) on the clean image
given that conditioning. An EMA of the weights (diffusers' ``EMAModel``) is what gets saved and
evaluated.

Writes to ``out``: ``loss.csv``, ``eval.csv`` (PSNR and LPIPS of DDIM samples and of the DeepJSCC
estimate on held-out test images at fixed SNRs and ratios), ``last.safetensors`` (EMA weights
with the denoiser config, the schedule and the DeepJSCC checkpoint's name and SHA-256 as
metadata), ``state.pt`` (raw weights, EMA, optimiser, RNG state for ``--resume``) and
``config.yaml``. Deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from pydantic import Field
from sionna.phy import config as sionna_config

from linksim.channels import CHANNELS, build_channel
from linksim.errors import ScenarioError
from linksim.metrics import lpips, psnr
from linksim.models.deepjscc import load_deepjscc
from linksim.models.diffusion import ConditionalDenoiser, Conditioning, DenoiserConfig, load_denoiser
from linksim.pipelines.diffusion import SAMPLERS, DiffusionReceiverPipeline, sampling_scheduler, training_scheduler
from linksim.scenario import ChannelEntry, DatasetConfig
from linksim.schema import Ratios, StrictModel
from linksim.training.common import TrainingImages, load_images, run_training
from linksim.training.config import TrainConfig, read_train_config
from linksim.training.denoising import EmaTrainer, denoising_loss
from linksim.zoo import DIFFUSION_KIND, checkpoint_sha256, save_checkpoint


class SamplerFinetune(StrictModel):
    """Fine-tune a trained denoiser *through its sampler* on a differentiable image-quality loss
    (DRaFT: Clark et al., "Directly fine-tuning diffusion models on differentiable rewards", ICLR
    2024). Each step samples exactly as the receiver does (``sampler``, ``steps``, ``strength``,
    from fresh noise) with gradients through every denoiser evaluation, and minimises
    ``lpips_weight * LPIPS + mse_weight * MSE`` against the transmitted image."""

    init_checkpoint: str  # zoo name or path of the diffusion receiver checkpoint to start from
    sampler: str = "ddim"
    steps: int = Field(3, ge=1)
    strength: float = Field(0.3, gt=0, le=1)
    lpips_weight: float = Field(1.0, ge=0)
    mse_weight: float = Field(5.0, ge=0)  # on the MSE of [0, 1] images
    # Re-parametrise the checkpoint's denoiser as a residual on the DeepJSCC estimate (its output
    # layer zeroed, x0-prediction), so that fine-tuning starts from the DeepJSCC receiver exactly.
    residual: bool = False


class DiffusionTrainConfig(TrainConfig):
    """``linksim train diffusion --config FILE``: data, frozen DeepJSCC, denoiser, schedule."""

    name: str = "cifar10-diffusion"
    train_data: DatasetConfig
    train_crop: int | None = Field(None, ge=8)  # random crops of the training images at native size
    eval_data: DatasetConfig
    deepjscc_checkpoint: str = "cifar10-deepjscc-v1"
    channel: ChannelEntry = Field(default_factory=lambda: CHANNELS["awgn"].config_class())
    model: DenoiserConfig = Field(default_factory=DenoiserConfig)
    steps: int = Field(20000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-4, gt=0)
    ema_decay: float = Field(0.999, gt=0, lt=1)
    # Training timesteps are drawn uniformly from [low, high): a model meant for SDEdit-style
    # sampling (strength <= high / 1000) can spend all its capacity on that part of the schedule.
    timestep_range: tuple[int, int] = (0, 1000)
    snr_db: tuple[float, float] = (-5.0, 20.0)
    ratios: Ratios | None = None  # default: every ratio the DeepJSCC checkpoint supports
    eval_snr_db: list[float] = Field(default_factory=lambda: [0.0, 5.0])
    eval_ratios: Ratios = Field(default_factory=lambda: [1 / 6])
    eval_sampler: str = "ddim"
    eval_steps: int = Field(10, ge=1)
    eval_strength: float = Field(1.0, gt=0, le=1)
    out: str = "runs/diffusion"
    # Set: fine-tune ``finetune.init_checkpoint`` through its sampler instead of training the
    # denoising objective (the architecture is the checkpoint's; ``model:`` must be left out).
    finetune: SamplerFinetune | None = None


def _check_config(config: DiffusionTrainConfig, path: str | Path) -> None:
    low, high = config.timestep_range
    if not 0 <= low < high <= 1000:
        raise ScenarioError(f"{path}: timestep_range: needs 0 <= low < high <= 1000, got [{low}, {high}]")
    samplers = {"eval_sampler": config.eval_sampler, **({"finetune.sampler": config.finetune.sampler} if config.finetune else {})}
    for field, sampler in samplers.items():
        if sampler not in SAMPLERS:
            raise ScenarioError(f"{path}: {field}: unknown sampler '{sampler}' (accepted: {', '.join(SAMPLERS)})")
    if config.finetune and "model" in config.model_fields_set:
        raise ScenarioError(f"{path}: model: fine-tuning keeps the architecture of "
                            f"'{config.finetune.init_checkpoint}'; leave model out")


def load_diffusion_train_config(path: str | Path) -> DiffusionTrainConfig:
    """Read a training config; one-line :class:`ScenarioError` on any problem."""
    config = read_train_config(DiffusionTrainConfig, path)
    _check_config(config, path)
    return config


class DiffusionTrainer(EmaTrainer):
    """Owns the frozen DeepJSCC, the denoiser, its EMA, the optimiser, data and channel."""

    def __init__(self, config: DiffusionTrainConfig) -> None:
        super().__init__(config)
        loaded = load_deepjscc(config.deepjscc_checkpoint, self.device)
        self.deepjscc, supported = loaded.model.requires_grad_(False), loaded.ratios
        ratios = config.ratios or supported
        unsupported = [r for r in ratios + config.eval_ratios if not any(abs(r - s) < 1e-9 for s in supported)]
        if unsupported:
            raise ScenarioError(f"ratios {unsupported} are not supported by '{config.deepjscc_checkpoint}' ({supported})")
        if not config.finetune and (config.model.latent_factor, config.model.latent_channels) != (
                self.deepjscc.factor, self.deepjscc.latent_channels):
            raise ScenarioError(f"model: latent_factor/latent_channels {config.model.latent_factor}/{config.model.latent_channels} "
                                f"must match '{config.deepjscc_checkpoint}' ({self.deepjscc.factor}/{self.deepjscc.latent_channels})")
        self.train_images = TrainingImages(config.train_data, config.train_crop)
        self.eval_images = load_images(config.eval_data).to(self.device)
        if config.finetune:
            init = load_denoiser(config.finetune.init_checkpoint, self.device)
            init.check_pairing(config.finetune.init_checkpoint, config.deepjscc_checkpoint)
            model = init.model.as_residual() if config.finetune.residual else init.model
            self.model, self.scheduler = model.train(), training_scheduler(init.scheduler_config, model.prediction_type)
            self.config = config = config.model_copy(update={"model": self.model.config})  # logged as trained
            self.init_sha256 = checkpoint_sha256(config.finetune.init_checkpoint)
            self.finetune_pipeline = DiffusionReceiverPipeline(
                self.model, sampling_scheduler(config.finetune.sampler, self.scheduler.config))
        else:
            self.model = ConditionalDenoiser(config.model).to(self.device)
            self.scheduler = training_scheduler(prediction_type=self.model.prediction_type)
        self.init_ema(config.ema_decay)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.0)
        self.channel = build_channel(config.channel, self.device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.ratios = torch.tensor(ratios, device=self.device)

    # -- data --------------------------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, g = self.config.batch_size, self.generator
        images = self.train_images.sample(b, g).to(self.device)
        low, high = self.config.snr_db
        snr = (low + (high - low) * torch.rand(b, generator=g)).to(self.device)
        ratio = self.ratios[torch.randint(len(self.ratios), (b,), generator=g).to(self.device)]
        return images, snr, ratio

    def _condition(self, images: torch.Tensor, snr: torch.Tensor, ratio: torch.Tensor) -> tuple[Conditioning, torch.Tensor]:
        """Frozen DeepJSCC over the channel -> the denoiser's conditioning and the DeepJSCC estimate."""
        with torch.no_grad():
            received = self.channel(self.deepjscc.encode(images, snr, ratio), snr)
            estimate, latent, reliability, mask = self.deepjscc.decode_with_inputs(
                received.y, received.noise_var, snr, ratio, tuple(images.shape[-2:]))
        return self.model.condition(latent, reliability, mask, snr, ratio, estimate), estimate

    # -- one step ----------------------------------------------------------------------------
    def train_step(self) -> float:
        config = self.config
        self.set_learning_rate()
        images, snr, ratio = self._batch()
        cond, estimate = self._condition(images, snr, ratio)
        if config.finetune:
            loss = self._sampler_loss(images, cond, estimate)
        else:
            loss = denoising_loss(self.model, self.scheduler, images, cond, self.generator, config.timestep_range)
        return self.step_optimizer(loss)

    def _sampler_loss(self, images: torch.Tensor, cond: Conditioning, estimate: torch.Tensor) -> torch.Tensor:
        """LPIPS and MSE of a receiver sample, backpropagated through every sampling step."""
        ft = self.config.finetune
        x = self.finetune_pipeline.sample(cond, ft.steps, ft.strength, estimate, generator=self.generator)
        return ft.lpips_weight * lpips(x, images).mean() + ft.mse_weight * (x - images).pow(2).mean()

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        """PSNR and LPIPS of EMA samples (``eval_sampler``, ``eval_steps``, ``eval_strength``) and
        of the DeepJSCC estimate at each evaluation (SNR, ratio), on the same noise draws."""
        with self.ema_weights():
            return self._evaluate()

    def _evaluate(self) -> list[dict[str, float]]:
        pipeline = DiffusionReceiverPipeline(self.model, sampling_scheduler(self.config.eval_sampler, self.scheduler.config))
        rows = []
        for ratio in self.config.eval_ratios:
            for snr_db in self.config.eval_snr_db:
                sample_gen = torch.Generator().manual_seed(1)
                sionna_state = sionna_config.torch_rng(self.device).get_state()
                sionna_config.torch_rng(self.device).manual_seed(1)
                values: dict[str, list[torch.Tensor]] = {k: [] for k in ("psnr", "lpips", "deepjscc_psnr", "deepjscc_lpips")}
                for batch in self.eval_images.split(128):
                    snr = torch.full((len(batch),), snr_db, device=self.device)
                    r = torch.full((len(batch),), ratio, device=self.device)
                    cond, estimate = self._condition(batch, snr, r)
                    x = pipeline(cond, self.config.eval_steps, self.config.eval_strength, estimate, generator=sample_gen)
                    values["psnr"].append(psnr(x, batch))
                    values["lpips"].append(lpips(x, batch))
                    values["deepjscc_psnr"].append(psnr(estimate.clamp(0, 1), batch))
                    values["deepjscc_lpips"].append(lpips(estimate.clamp(0, 1), batch))
                sionna_config.torch_rng(self.device).set_state(sionna_state)
                rows.append({"step": self.step, "ratio": ratio, "snr_db": snr_db,
                             **{k: torch.cat(v).mean().item() for k, v in values.items()}})
        return rows

    # -- persistence -------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        return {
            "kind": DIFFUSION_KIND, "step": str(self.step),
            "denoiser": self.model.config.model_dump_json(),
            "scheduler": json.dumps(dict(self.scheduler.config)),
            "deepjscc_checkpoint": self.config.deepjscc_checkpoint,
            "deepjscc_sha256": checkpoint_sha256(self.config.deepjscc_checkpoint),
            "image_size": str(self.model.config.image_size),
            "config": json.dumps(self.config.model_dump(mode="json")),
            **({"ratios": json.dumps(self.config.ratios)} if self.config.ratios is not None else {}),
            **({"finetune": self.config.finetune.model_dump_json(), "init_sha256": self.init_sha256}
               if self.config.finetune else {}),
        }


def train_diffusion(config: DiffusionTrainConfig, resume: bool = False, progress: bool = True,
                    time_budget_s: float | None = None) -> Path:
    """Run (or resume) training (see :func:`run_training`); returns the output folder."""
    return run_training(DiffusionTrainer(config), resume, progress, time_budget_s)
