"""Pieces every training run shares: the learning-rate schedule, datasets, the CSV logs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from linksim.data import load_dataset
from linksim.scenario import DatasetConfig


def lr_at(step: int, lr: float, lr_min: float, warmup_steps: int, steps: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(1.0, progress)))


def load_images(config: DatasetConfig) -> torch.Tensor:
    """The images ``[N, 3, H, W]`` in [0, 1] of a dataset entry."""
    return load_dataset(config.name, image_size=config.image_size, num_images=config.num_images,
                        split=config.split, root=config.root, subset_seed=config.subset_seed).images


def append_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Append rows to a CSV log (header on creation), flushed so a crash keeps them."""
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()
