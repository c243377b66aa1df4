"""Train the CamVid segmenter (:class:`~linksim.models.segmentation.Segmenter`).

Each step draws ``batch_size`` training images at a random scale (one of ``heights``), a random
``crop`` of each (the whole image at the smallest height when the crop equals it) and a random
left-right flip, and minimises the class-weighted cross-entropy (void pixels ignored). Class
weights: ``sqrt-median`` = the square root of median-frequency balancing (SegNet's weights,
softened so that the rare bicyclist class does not dominate), or ``none``.
Every ``checkpoint_every`` steps ``eval.csv`` gets the set-level mIoU and pixel accuracy on the
``val`` and ``test`` splits at the smallest height (whole images). Writes ``loss.csv``,
``eval.csv``, ``last.safetensors`` (with the architecture and the latest scores in its metadata),
``state.pt`` for ``--resume`` and ``config.yaml``. Deterministic for a seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from linksim.camvid import CLASSES, NUM_CLASSES, VOID, LabelledCrops, read_camvid
from linksim.models.segmentation import KIND, Segmenter, SegmenterConfig
from linksim.semantic_metrics import confusion, miou, pixel_accuracy
from linksim.training.common import TrainerBase, run_training
from linksim.training.config import CamvidCrops, TrainConfig, read_train_config


class SegmenterTrainConfig(CamvidCrops, TrainConfig):
    """``linksim train segmenter --config FILE``."""

    name: str = "camvid-segmenter"
    widths: tuple[int, ...] = (24, 48, 96, 192)
    class_weighting: Literal["sqrt-median", "none"] = "sqrt-median"
    steps: int = Field(12000, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2e-3, gt=0)
    lr_min: float = Field(2e-5, ge=0)
    warmup_steps: int = Field(200, ge=0)
    weight_decay: float = Field(1e-4, ge=0)
    log_every: int = Field(50, ge=1)
    eval_images: int | None = Field(None, ge=1)  # per split; None = all (101 val, 233 test)
    out: str = "runs/segmenter"

    @model_validator(mode="after")
    def _check(self) -> SegmenterTrainConfig:
        self.check_crops(SegmenterConfig(classes=CLASSES, widths=self.widths).multiple)
        return self


def load_segmenter_train_config(path: str | Path) -> SegmenterTrainConfig:
    """Read a training config; one-line :class:`ScenarioError` on any problem."""
    return read_train_config(SegmenterTrainConfig, path)


def class_weights(labels: np.ndarray, how: str) -> torch.Tensor:
    """``[C]`` cross-entropy weights from the training label maps ``[N, H, W]``."""
    if how == "none":
        return torch.ones(NUM_CLASSES)
    counts = np.bincount(labels.ravel(), minlength=VOID + 1)[:NUM_CLASSES].astype(np.float64)
    frequency = counts / counts.sum()
    return torch.tensor(np.sqrt(np.median(frequency) / np.maximum(frequency, 1e-12)), dtype=torch.float32)


class SegmenterTrainer(TrainerBase):
    def __init__(self, config: SegmenterTrainConfig) -> None:
        super().__init__(config)
        self.crops = LabelledCrops(config.root, "train", config.heights, config.crop)
        small = min(config.heights)
        self.eval_sets = {split: read_camvid(config.root, split, small, config.eval_images)[:2] for split in ("val", "test")}
        self.architecture = SegmenterConfig(classes=CLASSES, widths=config.widths)
        self.model = Segmenter(self.architecture).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.weights = class_weights(self.crops.scales[0][1], config.class_weighting).to(self.device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.scores: dict[str, float] = {}

    def train_step(self) -> float:
        self.set_learning_rate()
        images, labels = self.crops.sample(self.config.batch_size, self.generator, self.device)
        loss = torch.nn.functional.cross_entropy(self.model(images), labels, weight=self.weights, ignore_index=VOID)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def evaluate(self) -> list[dict[str, float]]:
        self.model.eval()
        rows = []
        for split, (pixels, maps) in self.eval_sets.items():
            images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255).to(self.device)
            pred = self.model.predict(images)
            matrix = confusion(pred, torch.from_numpy(maps).to(self.device), NUM_CLASSES, VOID).sum(0)
            rows.append({"step": self.step, "split": split, "images": len(pixels),
                         "miou": miou(matrix), "pixel_accuracy": pixel_accuracy(matrix)})
            self.scores[split] = rows[-1]["miou"]
        self.model.train()
        return rows

    def metadata(self) -> dict[str, str]:
        return {"kind": KIND, "step": str(self.step), "segmenter": self.architecture.model_dump_json(),
                "scores": json.dumps(self.scores), "config": self.config.model_dump_json()}

    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        return {"loss": mean_loss}, f"loss {mean_loss:.3f}"


def train_segmenter(config: SegmenterTrainConfig, resume: bool = False, progress: bool = True,
                    time_budget_s: float | None = None) -> Path:
    """Run (or resume) training (see :func:`run_training`); returns the output folder."""
    return run_training(SegmenterTrainer(config), resume, progress, time_budget_s)
