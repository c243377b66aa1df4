"""Pieces every training run shares: the loop, the learning-rate schedule, datasets, logs, RNG state."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import yaml
from safetensors.torch import load_file
from sionna.phy import config as sionna_config
from tqdm import tqdm

from linksim.data import read_image_folder
from linksim.errors import LinksimError
from linksim.randomness import resolve_device, seed_everything
from linksim.results import atomic_write, write_text
from linksim.scenario import DatasetConfig
from linksim.training.config import TrainConfig
from linksim.zoo import save_checkpoint


def lr_at(step: int, lr: float, lr_min: float, warmup_steps: int, steps: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``steps``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * min(1.0, progress)))


def load_images(config: DatasetConfig) -> torch.Tensor:
    """The images ``[N, 3, H, W]`` in [0, 1] of a dataset entry."""
    images = config.load()
    if not images.uniform:
        raise LinksimError(f"{config.name}: training images must share one size (set image_size, or crop)")
    return images.images


class TrainingImages:
    """What a trainer draws its batches from: the images of ``data`` at its ``image_size``, or,
    with ``crop``, uniformly placed random ``crop x crop`` crops of its images at native size
    (kept as uint8: 2,167 photos with a 256-pixel shorter side take ~0.6 GB)."""

    def __init__(self, data: DatasetConfig, crop: int | None = None) -> None:
        self.crop = crop
        if crop is None:
            self.images = load_images(data)
            return
        pixels, ids = read_image_folder(data.root, data.split, data.num_images, data.subset_seed, None)
        small = [i for i, p in zip(ids, pixels, strict=True) if min(p.shape[:2]) < crop]
        if small:
            raise LinksimError(f"{data.root}: {len(small)} training images are smaller than the {crop}-pixel crop ({small[0]}, ...)")
        self.pixels = [torch.from_numpy(np.ascontiguousarray(p.transpose(2, 0, 1))) for p in pixels]

    @property
    def size(self) -> int:
        """The side of the square images a batch holds."""
        return self.crop or self.images.shape[-1]

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``[B, 3, S, S]`` in [0, 1], random images (crops), each flipped left-right with
        probability 1/2 (draws: image indices, crop offsets, flips, in that order)."""
        if self.crop is None:
            images = self.images[torch.randint(len(self.images), (batch_size,), generator=generator)]
        else:
            c = self.crop
            index = torch.randint(len(self.pixels), (batch_size,), generator=generator)
            offsets = torch.rand(batch_size, 2, generator=generator)
            crops = []
            for i, (u, v) in zip(index.tolist(), offsets.tolist(), strict=True):
                image = self.pixels[i]
                top, left = int(u * (image.shape[1] - c + 1)), int(v * (image.shape[2] - c + 1))
                crops.append(image[:, top : top + c, left : left + c])
            images = torch.stack(crops).float().div_(255)
        flip = torch.rand(batch_size, generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(-1), images)


def truncate_log(path: Path, step: int) -> None:
    """Drop the rows of a CSV log whose ``step`` is after ``step`` (atomically; no file, nothing)."""
    if not path.is_file():
        return
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = [row for row in rows if int(float(row["step"])) <= step]
    if len(kept) == len(rows):
        return
    fields = list(rows[0])

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)

    atomic_write(path, write)


def append_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Append rows to a CSV log (header on creation), flushed so a crash keeps them."""
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
        handle.flush()


class Trainer(Protocol):
    """What :func:`run_training` needs of a model's trainer."""

    config: TrainConfig
    out: Path
    step: int
    wall_time: float

    def train_step(self) -> float: ...
    def evaluate(self) -> list[dict[str, float]]: ...
    def save(self) -> None: ...
    def resume(self) -> None: ...
    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        """``loss.csv`` columns for a mean training loss, and the progress bar's text."""
        ...


class TrainerBase:
    """Common set-up of a trainer: config, device, thread count, output folder, seed, counters;
    and the checkpoints every trainer writes: the model's weights in ``last.safetensors`` (with
    :meth:`metadata`), the optimiser, counters and random state in ``state.pt``.

    Subclasses set ``self.model``, ``self.optimizer``, ``self.generator`` and implement
    :meth:`metadata`; one that keeps other weights (an EMA) overrides the three hooks
    :meth:`exported_weights`, :meth:`extra_state` and :meth:`load_weights`."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.out = Path(config.out)
        seed_everything(config.seed)
        self.step = 0
        self.wall_time = 0.0

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Every optimiser the schedule drives: the model's (a GAN trainer adds its discriminator's)."""
        return [self.optimizer]

    def set_learning_rate(self) -> None:
        """The schedule's rate at the current step (:func:`lr_at`) for every parameter group of
        every optimiser."""
        c = self.config
        rate = lr_at(self.step, c.lr, c.lr_min, c.warmup_steps, c.steps)
        for optimizer in self.optimizers():
            for group in optimizer.param_groups:
                group["lr"] = rate

    # -- checkpoints -----------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """What ``last.safetensors`` says about the weights (architecture, step, config...)."""
        raise NotImplementedError

    def exported_weights(self) -> dict[str, torch.Tensor]:
        """The weights ``last.safetensors`` holds: the model's own."""
        return {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}

    def extra_state(self) -> dict[str, Any]:
        """What ``state.pt`` holds besides optimiser, counters and random state."""
        return {}

    def load_weights(self, state: dict[str, Any]) -> None:
        """Restore the weights on ``--resume`` (here from ``last.safetensors``)."""
        self.model.load_state_dict(load_file(str(self.out / "last.safetensors"), device=str(self.device)))

    def save(self) -> None:
        save_checkpoint(self.out / "last.safetensors", self.exported_weights(), self.metadata())
        state = {"step": self.step, "wall_time": self.wall_time, **self.extra_state(),
                 "optimizer": self.optimizer.state_dict(), **rng_state(self.generator, self.device)}
        atomic_write(self.out / "state.pt", lambda tmp: torch.save(state, tmp))

    def resume(self) -> None:
        if not (self.out / "state.pt").is_file():
            raise LinksimError(f"{self.out}: nothing to resume (no state.pt); start without --resume")
        state = torch.load(self.out / "state.pt", map_location="cpu", weights_only=False)
        self.load_weights(state)
        self.optimizer.load_state_dict(state["optimizer"])
        restore_rng(state, self.generator, self.device)
        self.step, self.wall_time = state["step"], state["wall_time"]


# Steps timed before a time budget fixes the step count (after a few that warm caches and kernels),
# and the share of the budget kept for evaluations and checkpoints.
_BUDGET_WARMUP, _BUDGET_PROBE, _BUDGET_RESERVE = 5, 20, 0.1
_BUDGET_PROBE_SHARE = 0.25  # the probe ends early once this share of the budget is spent


def _fit_budget(trainer: Trainer, seconds_per_step: float, remaining_s: float) -> None:
    """Lower ``trainer.config.steps`` so the rest of the run fits ``remaining_s`` (never raise it);
    the learning-rate schedule follows, so the run still ends annealed."""
    fitted = trainer.step + int(remaining_s * (1 - _BUDGET_RESERVE) / seconds_per_step)
    if fitted < trainer.config.steps:
        trainer.config = trainer.config.model_copy(update={"steps": max(trainer.step + 1, fitted)})


def run_training(trainer: Trainer, resume: bool = False, progress: bool = True,
                 time_budget_s: float | None = None) -> Path:
    """The training loop every model shares: progress bar, ``loss.csv`` every ``log_every``
    steps, ``eval.csv`` rows and a checkpoint every ``checkpoint_every`` steps and at the end,
    ``--resume`` from the last checkpoint. Returns the output folder.

    ``time_budget_s`` (for a lent machine): after timing a few steps, ``steps`` is lowered so that
    this invocation ends within the budget, and the effective value is written to the out
    folder's ``config.yaml`` (resume from that file). If the clock still runs out, the run stops
    after the current step with an evaluation and a checkpoint."""
    config = trainer.config
    trainer.out.mkdir(parents=True, exist_ok=True)
    if resume:
        trainer.resume()
        for name in ("loss.csv", "eval.csv"):  # rows logged after the checkpoint are about to be redone
            truncate_log(trainer.out / name, trainer.step)
    else:
        for name in ("loss.csv", "eval.csv"):
            (trainer.out / name).unlink(missing_ok=True)
    write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), trainer.out / "config.yaml")
    losses: list[float] = []
    started = time.time() - trainer.wall_time
    invoked, first_step, probe_start, fitted = time.time(), trainer.step, 0.0, False
    with tqdm(total=config.steps, initial=trainer.step, desc=config.name, unit="step", disable=not progress) as bar:
        while trainer.step < config.steps:
            losses.append(trainer.train_step())
            bar.update(1)
            if time_budget_s is not None and not fitted:
                done = trainer.step - first_step
                if done == _BUDGET_WARMUP:
                    probe_start = time.time()
                # after the probe, or earlier on a machine so slow that a quarter of the budget is gone
                elif done == _BUDGET_WARMUP + _BUDGET_PROBE or (
                        done > _BUDGET_WARMUP and time.time() - invoked > _BUDGET_PROBE_SHARE * time_budget_s):
                    fitted = True
                    seconds_per_step = (time.time() - probe_start) / (done - _BUDGET_WARMUP)
                    _fit_budget(trainer, seconds_per_step, time_budget_s - (time.time() - invoked))
                    config, bar.total = trainer.config, trainer.config.steps
                    write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), trainer.out / "config.yaml")
            out_of_time = time_budget_s is not None and time.time() - invoked > time_budget_s
            if trainer.step % config.log_every == 0:
                columns, text = trainer.loss_columns(sum(losses) / len(losses))
                lr = lr_at(trainer.step, config.lr, config.lr_min, config.warmup_steps, config.steps)
                append_csv(trainer.out / "loss.csv", [{"step": trainer.step, **columns, "lr": lr,
                                                        "wall_time_s": round(time.time() - started, 1)}])
                bar.set_postfix_str(text)
                losses.clear()
            if trainer.step % config.checkpoint_every == 0 or trainer.step == config.steps or out_of_time:
                trainer.wall_time = time.time() - started
                # Evaluate first: evaluation draws channel noise, and the checkpoint's RNG state must
                # be the one training continues from, so that a resumed run equals an uninterrupted one.
                append_csv(trainer.out / "eval.csv", trainer.evaluate())
                trainer.save()
            if out_of_time:
                break
    return trainer.out


def rng_state(generator: torch.Generator, device: str) -> dict[str, Any]:
    """The random state a resumed run needs: the data generator, torch's and Sionna's."""
    return {"generator": generator.get_state(), "torch": torch.get_rng_state(),
            "sionna": sionna_config.torch_rng(device).get_state()}


def restore_rng(state: dict[str, Any], generator: torch.Generator, device: str) -> None:
    """Undo :func:`rng_state`."""
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    sionna_config.torch_rng(device).set_state(state["sionna"])
