"""What the semantic-map schemes (``gesco``, ``spic``) share: the construction of their
map-conditioned diffusion receiver from its options (:class:`~linksim.schemes.config.MapReceiverOptions`)."""

from __future__ import annotations

from linksim.camvid import check_classes
from linksim.models.map_diffusion import MapDenoiser, load_map_denoiser
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler
from linksim.schemes.config import MapReceiverOptions


def map_receiver(options: MapReceiverOptions, device: str) -> tuple[MapDenoiser, DiffusionReceiverPipeline]:
    """The denoiser of ``options.checkpoint`` (eval mode) and its sampling pipeline."""
    loaded = load_map_denoiser(options.checkpoint, device)
    check_classes(loaded.model.config.classes, options.checkpoint)
    scheduler = sampling_scheduler(options.sampler, loaded.scheduler_config)
    return loaded.model, DiffusionReceiverPipeline(loaded.model, scheduler)
