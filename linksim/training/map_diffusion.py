"""Train the map-conditioned denoiser (:class:`~linksim.models.map_diffusion.MapDenoiser`) on CamVid.

Each step draws ``batch_size`` labelled crops (:class:`~linksim.camvid.LabelledCrops`: random
scale, crop and flip) and builds the map the receiver would have, per image:

- with probability ``clean_map_share``: the exact one-hot map;
- otherwise the class posterior of the map sent as analog one-hot symbols
  (:mod:`linksim.semantic_maps`) at a random ``1/f`` resolution (``map_factors``) over AWGN at an
  SNR uniform in ``snr_db``, upsampled back -- so that one model serves GESCO at every SNR and
  map resolution;

and, for a model with ``low_res_factor``, the low-resolution image (bicubic, antialiased) with
probability ``low_res_share`` (SPIC), none otherwise (GESCO). It learns the DDPM objective
(v-prediction, cosine schedule) and keeps an EMA of its weights, which is what is saved and
evaluated: ``eval.csv`` has the PSNR and LPIPS of DDIM samples (``eval_steps``) on ``eval_images``
CamVid val images at 20 dB and 0 dB map SNR, with and without the low-resolution image.
Writes ``loss.csv``, ``eval.csv``, ``last.safetensors`` (EMA weights; architecture and schedule
in the metadata), ``state.pt`` for ``--resume`` and ``config.yaml``. Deterministic for a seed.
``init_checkpoint`` starts from a saved model instead (its weights and EMA; a fresh optimiser):
how training continues from a zoo checkpoint on a machine without the run's ``state.pt``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from pydantic import Field

from linksim.camvid import CLASSES, VOID, LabelledCrops, labelled_tensors
from linksim.errors import ScenarioError
from linksim.metrics import lpips, psnr
from linksim.models.map_diffusion import KIND, MapDenoiser, MapDenoiserConfig, load_map_denoiser, low_resolution
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler, training_scheduler
from linksim.semantic_maps import map_symbols, one_hot, posterior_from_symbols
from linksim.training.common import run_training
from linksim.training.config import CamvidCrops, TrainConfig, read_train_config
from linksim.training.denoising import EmaTrainer, denoising_loss


class MapDiffusionTrainConfig(CamvidCrops, TrainConfig):
    """``linksim train map-diffusion --config FILE``."""

    name: str = "camvid-map-diffusion"
    model: MapDenoiserConfig = Field(default_factory=lambda: MapDenoiserConfig(
        classes=CLASSES, block_out_channels=(32, 64, 128), norm_num_groups=8, low_res_factor=8))
    clean_map_share: float = Field(0.3, ge=0, le=1)
    map_factors: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    snr_db: tuple[float, float] = (-5.0, 20.0)
    low_res_share: float = Field(0.5, ge=0, le=1)
    # Start from these weights (a zoo name or path; the architecture is the checkpoint's, leave
    # model: out): how a run continues on a machine without the previous run's state.pt.
    init_checkpoint: str | None = None
    steps: int = Field(20000, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(3e-4, gt=0)
    warmup_steps: int = Field(200, ge=0)
    ema_decay: float = Field(0.999, gt=0, lt=1)
    checkpoint_every: int = Field(500, ge=1)
    log_every: int = Field(50, ge=1)
    eval_images: int = Field(8, ge=1)
    eval_steps: int = Field(20, ge=1)
    out: str = "runs/map-diffusion"


def load_map_diffusion_train_config(path: str | Path) -> MapDiffusionTrainConfig:
    """Read a training config; one-line :class:`ScenarioError` on any problem."""
    config = read_train_config(MapDiffusionTrainConfig, path)
    if config.init_checkpoint and "model" in config.model_fields_set:
        raise ScenarioError(f"{path}: model: starting from '{config.init_checkpoint}' keeps its architecture; "
                            "leave model out")
    return config


def received_map(labels: torch.Tensor, factor: int, snr_db: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The class posterior ``[B, K + 1, H, W]`` of ``labels`` ``[B, H, W]`` sent at ``1/factor``
    resolution over AWGN at ``snr_db`` ``[B]`` (noise drawn from ``generator``)."""
    planes = VOID + 1
    symbols = map_symbols(labels, planes, factor)
    noise_var = (10 ** (-snr_db / 10))[:, None].expand(symbols.shape).to(symbols.device)
    noise = torch.complex(torch.randn(symbols.shape, generator=generator), torch.randn(symbols.shape, generator=generator))
    y = symbols + noise.to(symbols.device) * (noise_var / 2).sqrt()
    grid = (labels.shape[-2] // factor, labels.shape[-1] // factor)
    return posterior_from_symbols(y, noise_var, planes, grid, tuple(labels.shape[-2:]))


class MapDiffusionTrainer(EmaTrainer):
    def __init__(self, config: MapDiffusionTrainConfig) -> None:
        super().__init__(config)
        self.crops = LabelledCrops(config.root, "train", config.heights, config.crop)
        self.eval_images, self.eval_labels = labelled_tensors(config.root, "val", min(config.heights),
                                                              config.eval_images, self.device)
        if config.init_checkpoint:
            init = load_map_denoiser(config.init_checkpoint, self.device)
            self.config = config = config.model_copy(update={"model": init.model.config})
            self.model = init.model.train()
        else:
            self.model = MapDenoiser(config.model).to(self.device)
        self.scheduler = training_scheduler()
        self.init_ema(config.ema_decay)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(config.seed)

    def _condition(self, images: torch.Tensor, labels: torch.Tensor) -> object:
        """Per image: clean or received map; low-resolution image or none (see the module doc)."""
        c, g, b = self.config, self.generator, len(images)
        posterior = one_hot(labels, VOID + 1)
        factor = c.map_factors[int(torch.randint(len(c.map_factors), (1,), generator=g))]
        snr = c.snr_db[0] + (c.snr_db[1] - c.snr_db[0]) * torch.rand(b, generator=g)
        noisy = received_map(labels, factor, snr.to(self.device), g)
        clean = (torch.rand(b, generator=g) < c.clean_map_share).to(self.device)
        posterior = torch.where(clean[:, None, None, None], posterior, noisy)
        cond = self.model.condition(posterior)
        if c.model.low_res_factor:
            with_image = self.model.condition(posterior, low_resolution(images, c.model.low_res_factor))
            keep = (torch.rand(b, generator=g) < c.low_res_share).to(self.device)
            cond = type(cond)(torch.where(keep[:, None, None, None], with_image.features, cond.features), None)
        return cond

    def train_step(self) -> float:
        self.set_learning_rate()
        images, labels = self.crops.sample(self.config.batch_size, self.generator, self.device)
        cond = self._condition(images, labels)
        return self.step_optimizer(denoising_loss(self.model, self.scheduler, images, cond, self.generator))

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        rows = []
        with self.ema_weights():
            pipeline = DiffusionReceiverPipeline(self.model, sampling_scheduler("ddim", self.scheduler.config))
            factor = self.config.model.low_res_factor
            for snr_db in (20.0, 0.0):
                for with_image in ([False, True] if factor else [False]):
                    g = torch.Generator().manual_seed(1)
                    snr = torch.full((len(self.eval_images),), snr_db, device=self.device)
                    posterior = received_map(self.eval_labels, 4, snr, g)
                    low = low_resolution(self.eval_images, factor) if with_image else None
                    x = pipeline(self.model.condition(posterior, low), self.config.eval_steps, generator=g)
                    rows.append({"step": self.step, "map_snr_db": snr_db, "low_res": with_image,
                                 "psnr": psnr(x, self.eval_images).mean().item(),
                                 "lpips": lpips(x, self.eval_images).mean().item()})
        return rows

    def metadata(self) -> dict[str, str]:
        return {"kind": KIND, "step": str(self.step), "denoiser": self.config.model.model_dump_json(),
                "scheduler": json.dumps(dict(self.scheduler.config)), "config": self.config.model_dump_json()}


def train_map_diffusion(config: MapDiffusionTrainConfig, resume: bool = False, progress: bool = True,
                        time_budget_s: float | None = None) -> Path:
    """Run (or resume) training (see :func:`run_training`); returns the output folder."""
    return run_training(MapDiffusionTrainer(config), resume, progress, time_budget_s)
