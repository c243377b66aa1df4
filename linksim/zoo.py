"""The checkpoint zoo: named, versioned model weights shipped with the package.

A zoo entry names a safetensors file under ``linksim/checkpoints/`` with its SHA-256 and a
model card (``<name>.md`` beside it: architecture, data, steps, wall time, hardware, measured
quality). Schemes accept a zoo name (``cifar10-deepjscc-v1``) or a path to a safetensors file;
the file's metadata says what the weights need (image size, latent channels, width, ratios).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from safetensors import SafetensorError, safe_open

from linksim.errors import LinksimError
from linksim.inputs import file_digest

if TYPE_CHECKING:
    import torch

# torch (and safetensors.torch) are imported by the functions that read or write weights: the
# catalogue and the checks of scenario fields (``linksim validate``) need neither.

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
# A checkpoint's metadata ``kind`` (one name per model): written by its trainer, checked by its loader
# and by the scenario fields that name it.
DEEPJSCC_KIND = "deepjscc"
DIFFUSION_KIND = "diffusion-receiver"
SEGMENTER_KIND = "segmenter"
MAP_DIFFUSION_KIND = "map-diffusion"
SPADE_KIND = "spade-generator"
T = TypeVar("T")
M = TypeVar("M")


@dataclass(frozen=True)
class CheckpointInfo:
    """A zoo entry: ``name`` such as ``cifar10-deepjscc-v1``, its file, hash and a one-line summary."""

    name: str
    filename: str
    sha256: str
    summary: str

    @property
    def path(self) -> Path:
        return CHECKPOINT_DIR / self.filename

    @property
    def card(self) -> Path:
        return CHECKPOINT_DIR / f"{self.name}.md"


CHECKPOINTS: dict[str, CheckpointInfo] = {
    info.name: info
    for info in [
        CheckpointInfo(
            "cifar10-deepjscc-v1",
            "cifar10-deepjscc-v1.safetensors",
            "49ac62546d8ddd8fa5c56c26d136fee312dbd5fd28492da4750c5a32cdf9f710",
            "adaptive-rate SNR-adaptive DeepJSCC, 32x32, ratios 1/24..1/3, SNR -5..20 dB, AWGN; 32k steps on CPU",
        ),
        CheckpointInfo(
            "cifar10-deepjscc-v2",
            "cifar10-deepjscc-v2.safetensors",
            "09f8e2b5cadaa04aea7f69488c9e0ee39a526eadae09c57744cf918384d1697f",
            "v1 + 8k steps of ROI-aware fine-tuning (ROI map input to the encoder, ROI-weighted loss); for roi_weight > 0",
        ),
        CheckpointInfo(
            "cifar10-deepjscc-lpips-v1",
            "cifar10-deepjscc-lpips-v1.safetensors",
            "a2791a6417bba527dd85f4129ce926d47bcaab4fc4e832cd062230f2c7a04dcc",
            "v1's encoder, decoder fine-tuned 5k steps on MSE + 0.2 LPIPS: the control for cifar10-diffusion-v2's perceptual loss",
        ),
        CheckpointInfo(
            "photo-deepjscc-v1",
            "photo-deepjscc-v1.safetensors",
            "5f0dd150eb0a7e4477a6630a3cba9c74362b3321263c805d525ebc5cd0fd7cc1",
            "DeepJSCC for photographs at any size (sides multiples of 4), ratios 1/48..1/3, SNR -5..20 dB, AWGN; "
            "cifar10-deepjscc-v1 + 8k steps on 128x128 crops of natural photos on CPU",
        ),
        CheckpointInfo(
            "photo-deepjscc-roi-v1",
            "photo-deepjscc-roi-v1.safetensors",
            "46d887ec01617b1fa519725c34a6e4385c0d589639c21339bfe20cbe5d2aebe2",
            "photo-deepjscc-v1 + 2.5k steps of ROI-aware fine-tuning (ROI map input, ROI-weighted loss); for roi_weight > 0",
        ),
        CheckpointInfo(
            "photo-deepjscc-lpips-v1",
            "photo-deepjscc-lpips-v1.safetensors",
            "c692c197e8a4ba415910981832b638349a9cdd0170cb24c0de843f1b4e0945c5",
            "photo-deepjscc-v1's encoder, decoder fine-tuned 500 steps on MSE + 1.0 LPIPS (ratios 1/16, 1/6): "
            "the control for photo-diffusion-v2's perceptual loss",
        ),
        CheckpointInfo(
            "photo-diffusion-v1",
            "photo-diffusion-v1.safetensors",
            "34a827398a6927e0d86562f0c7be61e6dd94d0c337d09ae10a3b7b21bb274014",
            "diffusion receiver on photo-deepjscc-v1's received latents, any size (sides multiples of 8), "
            "ratios 1/16 and 1/6; 5k steps on 128x128 crops of natural photos on CPU (the start of photo-diffusion-v2)",
        ),
        CheckpointInfo(
            "photo-diffusion-v2",
            "photo-diffusion-v2.safetensors",
            "34ab5b2d8fc66525d9dc28750c5d42a3dfaa751f4aa539f317f7906528b3f4f8",
            "photo-diffusion-v1 + 1k steps fine-tuned through its 3-step SDEdit sampler on LPIPS + MSE (DRaFT); "
            "ratios 1/16 and 1/6; on Kodak not better than its perceptual-decoder control (see the card)",
        ),
        CheckpointInfo(
            "photo-diffusion-v3",
            "photo-diffusion-v3.safetensors",
            "587e9bae7ad9b82b69c90ed61eaea5539538508936294c01a573732938cee803",
            "photo-diffusion-v2's denoiser as a residual on the DeepJSCC estimate (x0-prediction), fine-tuned "
            "1,067 steps through the same sampler on LPIPS + MSE (DRaFT); ratios 1/16 and 1/6 (see the card)",
        ),
        CheckpointInfo(
            "camvid-segmenter-v1",
            "camvid-segmenter-v1.safetensors",
            "ef37fa5f5934bc7d8cbef9b259be1adcb6316712dd132c0fa71dcd7decf0343d",
            "CamVid 11-class U-Net (1.1M parameters), the judge behind miou/pixel_accuracy; 3k steps on CamVid "
            "train at 120x160 on a CPU; mIoU 0.539 on CamVid test (0.658 val)",
        ),
        CheckpointInfo(
            "camvid-map-diffusion-v1",
            "camvid-map-diffusion-v1.safetensors",
            "795360b729313eb1142d4afa94236289afef8a3578bf839bcd17e071193f2022",
            "map-conditioned denoiser of gesco and spic (2.6M parameters; map, optional 1/8 image); 10k steps on "
            "CamVid train at 120x160 on a CPU (97 min): an early checkpoint, training continues",
        ),
        CheckpointInfo(
            "camvid-map-diffusion-v2",
            "camvid-map-diffusion-v2.safetensors",
            "84a8d9656d3b4e51f20275371fba36bcb07345e6b1ac04b37f0debfc73c8f0d1",
            "camvid-map-diffusion-v1 trained on to 14k of its 20k steps (136 min on a CPU in all); from exact CamVid "
            "test maps mIoU 0.301 (v1 0.257), LPIPS 0.461 (0.489); not yet the default",
        ),
        CheckpointInfo(
            "camvid-spade-v1",
            "camvid-spade-v1.safetensors",
            "c5b4fe9b5b48ba7e20ed432302485b4310df1af43607c27002b39d945a635807",
            "SPADE generator of layered-gan's base layer (0.9M parameters; street scene from the CamVid map); "
            "GAN + L1 + LPIPS, 2.25k steps on CamVid train at 120x160 on a CPU (66 min); mIoU 0.445 on CamVid test maps",
        ),
        CheckpointInfo(
            "cifar10-diffusion-v1",
            "cifar10-diffusion-v1.safetensors",
            "e34940a30a64011f55ae22d4bc090912fb9b3a00f35227fb2dcc743e5af0a1b1",
            "diffusion receiver (4.5M-param diffusers UNet) on cifar10-deepjscc-v1's received latents; 12k steps on CPU",
        ),
        CheckpointInfo(
            "cifar10-diffusion-v2",
            "cifar10-diffusion-v2.safetensors",
            "62ef5f5f8e0d9b4c82a1f9967f11f5eb632586700a08050e3eca851478ee32e2",
            "v1 + 5k steps fine-tuned through its 3-step SDEdit sampler on LPIPS + MSE (DRaFT); the diffusion scheme's default",
        ),
    ]
}


def available_checkpoints() -> list[str]:
    return sorted(CHECKPOINTS)


def _sha256(path: Path) -> str:
    return file_digest(path)


def weights_sha256(weights: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: names, dtypes, shapes and bytes, in name order. Stored in a
    checkpoint's own metadata (``weights_sha256``) so that a file given by path proves itself."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, weights: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a checkpoint atomically with ``weights_sha256`` added to its metadata."""
    from safetensors.torch import save_file

    from linksim.results import atomic_write

    metadata = {**metadata, "weights_sha256": weights_sha256(weights)}
    atomic_write(path, lambda tmp: save_file(weights, str(tmp), metadata=metadata))


def _checkpoint_file(name_or_path: str) -> Path:
    """The file a zoo name or a path names, if it exists (not hash-checked); one-line errors."""
    if name_or_path in CHECKPOINTS:
        path = CHECKPOINTS[name_or_path].path
        if not path.is_file():
            raise LinksimError(f"checkpoint '{name_or_path}': file {path} is missing from the installation")
        return path
    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        known = ", ".join(available_checkpoints()) or "none"
        raise LinksimError(f"unknown checkpoint '{name_or_path}' (zoo: {known}; or a path to a .safetensors file)")
    if not path.exists():
        raise LinksimError(f"checkpoint file {path} does not exist")
    if not path.is_file():
        raise LinksimError(f"checkpoint {path} is not a file")
    return path


def checkpoint_files(name_or_path: str) -> list[Path]:
    """The file a checkpoint field names (the :class:`~linksim.inputs.InputFile` resolver)."""
    return [_checkpoint_file(name_or_path)]


def resolve_checkpoint(name_or_path: str) -> Path:
    """The file of a zoo name (hash-checked) or of an existing path; one-line errors otherwise."""
    path = _checkpoint_file(name_or_path)
    info = CHECKPOINTS.get(name_or_path)
    if info is not None and _sha256(path) != info.sha256:
        raise LinksimError(f"checkpoint '{info.name}': {path} is corrupt (SHA-256 mismatch); reinstall linksim")
    return path


def check_checkpoint_reference(name_or_path: str, kind: str) -> None:
    """Cheap validation of a scenario's checkpoint field (no weights are read): a zoo name, or a
    readable ``.safetensors`` file whose metadata is of ``kind`` (``"deepjscc"`` or
    ``"diffusion-receiver"``). ``ValueError`` with one line otherwise."""
    try:
        path = _checkpoint_file(name_or_path)
    except LinksimError as exc:  # a pydantic validator reports ValueErrors
        raise ValueError(str(exc)) from None
    try:
        with safe_open(str(path), framework="numpy") as handle:  # the metadata only: no torch
            metadata = dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"checkpoint {path}: unreadable safetensors file ({str(exc).splitlines()[0]})") from None
    found = metadata.get("kind", DEEPJSCC_KIND if "ratios" in metadata and "denoiser" not in metadata else "unknown")
    if found != kind:
        raise ValueError(f"checkpoint {name_or_path} is a {found} checkpoint, not a {kind} one")


def checkpoint_sha256(name_or_path: str) -> str:
    """SHA-256 of a checkpoint's file (how a paired model recognises it)."""
    return _sha256(resolve_checkpoint(name_or_path))


def load_checkpoint(name_or_path: str, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Weights and metadata of a checkpoint."""
    from safetensors.torch import load_file

    path = resolve_checkpoint(name_or_path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        weights = load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise LinksimError(f"checkpoint {path}: unreadable safetensors file ({exc})") from None
    recorded = metadata.get("weights_sha256")
    if recorded is not None and weights_sha256(weights) != recorded:
        raise LinksimError(f"checkpoint {path}: its weights do not match the SHA-256 in its own metadata "
                           "(the file is damaged); restore or retrain it")
    return weights, metadata


def typed_model(model_class: Callable[[Any], M], config_class: Any, key: str, weights: dict[str, torch.Tensor],
                metadata: dict[str, str], device: str) -> M:
    """``model_class(config)`` with ``config`` the pydantic ``config_class`` stored as JSON under
    ``metadata[key]`` (a model's config is its constructor), ``weights`` loaded, in eval mode on
    ``device``: what every typed loader's ``build`` does first, inside :func:`load_kind` (which
    turns a bad file into one line)."""
    model = model_class(config_class.model_validate_json(metadata[key]))
    model.load_state_dict(weights)  # type: ignore[attr-defined]
    return model.to(device).eval()  # type: ignore[attr-defined]


def load_kind(name_or_path: str, kind: str, build: Callable[[dict[str, torch.Tensor], dict[str, str]], T],
              device: str = "cpu", what: str = "", model: str = "") -> T:
    """``build(weights, metadata)`` of a checkpoint whose metadata ``kind`` is ``kind``; one-line
    :class:`LinksimError` if it is another kind ("is not a <what> checkpoint") or if ``build``
    finds its metadata or weights unusable (``KeyError``, ``ValueError``, ``RuntimeError``:
    "unusable <model>")."""
    weights, metadata = load_checkpoint(name_or_path, device)
    if metadata.get("kind") != kind:
        raise LinksimError(f"checkpoint '{name_or_path}' is not a {what or kind} checkpoint")
    try:
        return build(weights, metadata)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise LinksimError(f"checkpoint '{name_or_path}': unusable {model or kind} ({exc})".splitlines()[0]) from None


def export_checkpoint(run_dir: str | Path, name: str, out_dir: Path = CHECKPOINT_DIR) -> tuple[Path, str]:
    """Copy a training run's ``last.safetensors`` into the zoo with its full training config as
    metadata; returns the file and its SHA-256 (to enter in :data:`CHECKPOINTS`)."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    weights = load_file(str(run_dir / "last.safetensors"))
    with safe_open(str(run_dir / "last.safetensors"), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    # the trainer wrote the rest (config, ratios...); config.yaml holds the effective settings
    metadata.update({"name": name, "config": json.dumps(config)})
    target = out_dir / f"{name}.safetensors"
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, weights, metadata)
    return target, _sha256(target)
