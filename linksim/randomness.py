"""Seeding: one call makes every random number generator linksim touches deterministic."""

from __future__ import annotations

import random

import numpy as np
import torch
from sionna.phy import config as sionna_config


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch and Sionna's generators (Sionna also reseeds torch's default)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    sionna_config.seed = seed


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
