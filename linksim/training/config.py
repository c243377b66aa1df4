"""What every ``linksim train`` config shares, and reading one from YAML (torch-free).

Each trainer's config subclasses :class:`TrainConfig`, adding its data, model and loss options
and redeclaring the shared fields whose defaults it changes; :func:`run_training` reads only the
shared ones (schedule, logging, checkpoints, where and on what to run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field

from linksim.inputs import InputFile
from linksim.scenario import read_yaml, validate_yaml_data
from linksim.schema import StrictModel

C = TypeVar("C", bound="TrainConfig")


class TrainConfig(StrictModel):
    """``name`` (of the run), ``seed``; the schedule: ``steps`` of ``batch_size``, warm-up over
    ``warmup_steps`` to ``lr`` then cosine decay to ``lr_min``; ``log_every`` (``loss.csv``),
    ``checkpoint_every`` (``eval.csv`` and a checkpoint); ``out`` (the run's folder), ``device``
    (``auto``: CUDA when present) and ``threads`` (CPU threads; unset: torch's default)."""

    name: str
    seed: int = 0
    steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    lr_min: float = Field(1e-5, ge=0)
    warmup_steps: int = Field(500, ge=0)
    checkpoint_every: int = Field(1000, ge=1)
    log_every: int = Field(100, ge=1)
    out: str
    device: str = "auto"
    threads: int | None = Field(None, ge=1)


class CamvidCrops(StrictModel):
    """The CamVid training data of the semantic-map models: the train split of ``root`` at the
    ``heights`` (4:3; a random one per sample) and random ``crop = (h, w)`` crops."""

    root: Annotated[str, InputFile()] = "../shared/data/camvid"
    heights: list[int] = Field(default_factory=lambda: [120, 150, 180])
    crop: tuple[int, int] = (120, 160)

    def check_crops(self, multiple: int) -> None:
        """``ValueError`` unless the crop fits the smallest size and the crop and that size (the
        whole images evaluated) are multiples of a model's ``multiple``."""
        small = min(self.heights)
        if small < self.crop[0] or small * 4 // 3 < self.crop[1]:
            raise ValueError(f"crop {self.crop} is larger than the smallest training size (height {small})")
        if any(side % multiple for side in (*self.crop, small, small * 4 // 3)):
            raise ValueError(f"crop {self.crop} and the smallest height {small} (and its width) "
                             f"must be multiples of {multiple}")


def read_train_config(config_class: type[C], path: str | Path) -> C:
    """A training config of ``config_class`` from a YAML file; one-line :class:`ScenarioError`
    (file, line, field) on any problem."""
    data, node = read_yaml(path, "training config")
    return validate_yaml_data(config_class, data, str(path), node, "training config")
