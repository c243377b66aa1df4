"""What the semantic-map schemes (``gesco``, ``spic``) share: the options of their map-conditioned
diffusion receiver and its construction."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from linksim.inputs import InputFile
from linksim.models.map_diffusion import KIND, MapDenoiser, load_map_denoiser
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler
from linksim.schema import StrictModel
from linksim.zoo import check_checkpoint_reference, checkpoint_files


class MapReceiverOptions(StrictModel):
    """``checkpoint`` (a map-conditioned denoiser: zoo name or path), ``sampler``, ``steps``.
    A scheme with these options sends label maps (``needs_labels``)."""

    needs_labels: ClassVar[bool] = True
    checkpoint: Annotated[str, InputFile(checkpoint_files)] = "camvid-map-diffusion-v1"
    sampler: Literal["ddim", "dpm-solver"] = "ddim"
    steps: int = Field(20, ge=1)

    @field_validator("checkpoint")
    @classmethod
    def _exists(cls, value: str) -> str:
        check_checkpoint_reference(value, KIND)
        return value


def map_receiver(options: MapReceiverOptions, device: str) -> tuple[MapDenoiser, DiffusionReceiverPipeline]:
    """The denoiser of ``options.checkpoint`` (eval mode) and its sampling pipeline."""
    loaded = load_map_denoiser(options.checkpoint, device)
    scheduler = sampling_scheduler(options.sampler, loaded.scheduler_config)
    return loaded.model, DiffusionReceiverPipeline(loaded.model, scheduler)
