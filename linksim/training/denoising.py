"""What the trainers of diffusion denoisers share: the DDPM objective and EMA-weight checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from diffusers.training_utils import EMAModel

from linksim.errors import LinksimError
from linksim.results import atomic_write
from linksim.training.common import TrainerBase, restore_rng, rng_state
from linksim.zoo import save_checkpoint


def denoising_loss(model: torch.nn.Module, scheduler: Any, images: torch.Tensor, cond: Any,
                   generator: torch.Generator, timestep_range: tuple[int, int] = (0, 1000)) -> torch.Tensor:
    """The DDPM objective: v-prediction MSE of ``model(x_t, t, cond)`` for clean ``images``
    ``[B, 3, H, W]`` in [0, 1], at timesteps uniform in ``timestep_range`` (draws: noise, then t)."""
    clean = images * 2 - 1
    noise = torch.randn(clean.shape, generator=generator).to(images.device)
    low, high = timestep_range
    t = torch.randint(low, high, (len(images),), generator=generator).to(images.device)
    noisy = scheduler.add_noise(clean, noise, t)
    target = scheduler.get_velocity(clean, noise, t)
    return (model(noisy, t, cond) - target).pow(2).mean()


class EmaTrainer(TrainerBase):
    """A trainer whose model has an EMA of its weights (diffusers' ``EMAModel``): the EMA is what
    gets evaluated and saved; ``state.pt`` keeps raw weights, EMA, optimiser and RNG state.
    Subclasses set ``self.model``, ``self.optimizer``, ``self.generator``, call :meth:`init_ema`
    and implement ``metadata()``."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator

    def init_ema(self, decay: float) -> None:
        self.ema = EMAModel(self.model.parameters(), decay=decay)
        self.ema.to(self.device)

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """The model holds the EMA weights (eval mode) inside the block, its own ones after."""
        self.ema.store(self.model.parameters())
        self.ema.copy_to(self.model.parameters())
        self.model.eval()
        try:
            yield
        finally:
            self.ema.restore(self.model.parameters())
            self.model.train()

    def step_optimizer(self, loss: torch.Tensor) -> float:
        """Backward, gradient clipping at norm 1, an optimiser and an EMA step; the loss value."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.ema.step(self.model.parameters())
        self.step += 1
        return loss.item()

    def metadata(self) -> dict[str, str]:
        raise NotImplementedError

    def save(self) -> None:
        with self.ema_weights():
            weights = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_checkpoint(self.out / "last.safetensors", weights, self.metadata())
        state = {
            "step": self.step, "wall_time": self.wall_time, "model": self.model.state_dict(),
            "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
            **rng_state(self.generator, self.device),
        }
        atomic_write(self.out / "state.pt", lambda tmp: torch.save(state, tmp))

    def resume(self) -> None:
        if not (self.out / "state.pt").is_file():
            raise LinksimError(f"{self.out}: nothing to resume (no state.pt); start without --resume")
        state = torch.load(self.out / "state.pt", map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        restore_rng(state, self.generator, self.device)
        self.step, self.wall_time = state["step"], state["wall_time"]

    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        return {"loss": mean_loss}, f"loss {mean_loss:.4f}"
