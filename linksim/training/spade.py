"""Train the SPADE generator (:class:`~linksim.models.spade.SpadeGenerator`) of ``layered-gan`` on CamVid.

Each step draws ``batch_size`` labelled crops (:class:`~linksim.camvid.LabelledCrops`: random
scale, crop and flip) and takes one step of each network:

- discriminator (:class:`~linksim.models.spade.PatchDiscriminator`, conditioned on the map):
  the hinge loss on real and generated images;
- generator: ``l1_weight`` L1 + ``lpips_weight`` LPIPS (AlexNet) against the real image +
  ``adversarial_weight`` times the hinge generator loss. The reconstruction terms keep the base
  layer close to the image it stands for (it is what the enhancement layer corrects); the
  adversarial term gives it texture.

``eval.csv`` has PSNR, LPIPS and the mIoU of the generated images under the CamVid segmenter
(``segmenter``) on ``eval_images`` CamVid val images at the smallest height, from their exact maps.
Writes ``loss.csv``, ``eval.csv``, ``last.safetensors`` (the generator; architecture and scores in
the metadata), ``state.pt`` (both optimisers, the discriminator, random state) for ``--resume``
and ``config.yaml``. Deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator

from linksim.camvid import CLASSES, NUM_CLASSES, VOID, LabelledCrops, labelled_tensors
from linksim.metrics import lpips, psnr
from linksim.models.segmentation import load_segmenter
from linksim.models.spade import KIND, PatchDiscriminator, SpadeGenerator, SpadeGeneratorConfig
from linksim.semantic_maps import one_hot
from linksim.semantic_metrics import confusion, miou
from linksim.training.common import TrainerBase, run_training
from linksim.training.config import CamvidCrops, TrainConfig, read_train_config


class SpadeTrainConfig(CamvidCrops, TrainConfig):
    """``linksim train spade --config FILE``."""

    name: str = "camvid-spade"
    model: SpadeGeneratorConfig = Field(default_factory=lambda: SpadeGeneratorConfig(classes=CLASSES))
    discriminator_widths: tuple[int, ...] = (64, 128, 256)
    l1_weight: float = Field(1.0, ge=0)
    lpips_weight: float = Field(1.0, ge=0)
    adversarial_weight: float = Field(0.05, ge=0)
    segmenter: str = "camvid-segmenter-v1"  # scores the generated images in eval.csv
    steps: int = Field(6000, ge=1)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(2e-4, gt=0)
    warmup_steps: int = Field(100, ge=0)
    checkpoint_every: int = Field(500, ge=1)
    log_every: int = Field(50, ge=1)
    eval_images: int = Field(16, ge=1)
    out: str = "runs/spade"

    @model_validator(mode="after")
    def _check(self) -> SpadeTrainConfig:
        self.check_crops(self.model.multiple)
        return self


def load_spade_train_config(path: str | Path) -> SpadeTrainConfig:
    """Read a training config; one-line :class:`ScenarioError` on any problem."""
    return read_train_config(SpadeTrainConfig, path)


class SpadeTrainer(TrainerBase):
    def __init__(self, config: SpadeTrainConfig) -> None:
        super().__init__(config)
        self.crops = LabelledCrops(config.root, "train", config.heights, config.crop)
        self.eval_images, self.eval_labels = labelled_tensors(config.root, "val", min(config.heights),
                                                              config.eval_images, self.device)
        self.segmenter = load_segmenter(config.segmenter, str(self.device)).model
        self.model = SpadeGenerator(config.model).to(self.device)
        self.discriminator = PatchDiscriminator(config.model.map_channels, config.discriminator_widths).to(self.device)
        # Adam with beta1 0.5, as GAN training usually has it
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(0.5, 0.999))
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))
        self.generator = torch.Generator().manual_seed(config.seed)
        self.scores: dict[str, float] = {}
        self.parts: dict[str, float] = {}

    def train_step(self) -> float:
        c = self.config
        self.set_learning_rate()
        images, labels = self.crops.sample(c.batch_size, self.generator, self.device)
        maps = one_hot(labels, c.model.map_channels)
        fake = self.model(maps)
        # discriminator: hinge loss, the generator's output detached
        d_loss = (torch.relu(1 - self.discriminator(images, maps)).mean()
                  + torch.relu(1 + self.discriminator(fake.detach(), maps)).mean())
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        # generator: reconstruction + adversarial
        l1 = (fake - images).abs().mean()
        perceptual = lpips(fake, images).mean()
        adversarial = -self.discriminator(fake, maps).mean()
        loss = c.l1_weight * l1 + c.lpips_weight * perceptual + c.adversarial_weight * adversarial
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        for key, value in (("l1", l1), ("lpips", perceptual), ("adversarial", adversarial), ("d_loss", d_loss)):
            self.parts[key] = self.parts.get(key, 0.0) + value.item()
        return loss.item()

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        self.model.eval()
        fake = torch.cat([self.model(one_hot(m, self.config.model.map_channels))
                          for m in self.eval_labels.split(8)])
        matrix = confusion(self.segmenter.predict(fake), self.eval_labels, NUM_CLASSES, VOID).sum(0)
        self.scores = {"psnr": psnr(fake, self.eval_images).mean().item(),
                       "lpips": lpips(fake, self.eval_images).mean().item(), "miou": miou(matrix)}
        self.model.train()
        return [{"step": self.step, "images": len(fake), **self.scores}]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer, self.d_optimizer]

    # -- checkpoints: the generator in last.safetensors; the discriminator with the optimisers -----
    def metadata(self) -> dict[str, str]:
        return {"kind": KIND, "step": str(self.step), "generator": self.config.model.model_dump_json(),
                "scores": json.dumps(self.scores), "config": self.config.model_dump_json()}

    def extra_state(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "d_optimizer": self.d_optimizer.state_dict()}

    def load_weights(self, state: dict[str, Any]) -> None:
        super().load_weights(state)
        self.discriminator.load_state_dict(state["discriminator"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])

    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        steps = self.config.log_every
        parts = {key: value / steps for key, value in self.parts.items()}
        self.parts.clear()
        return {"loss": mean_loss, **parts}, f"loss {mean_loss:.3f} lpips {parts.get('lpips', 0):.3f}"


def train_spade(config: SpadeTrainConfig, resume: bool = False, progress: bool = True,
                time_budget_s: float | None = None) -> Path:
    """Run (or resume) training (see :func:`run_training`); returns the output folder."""
    return run_training(SpadeTrainer(config), resume, progress, time_budget_s)
