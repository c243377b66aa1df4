"""What the trainers of diffusion denoisers share: the DDPM objective and EMA-weight checkpoints."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from diffusers.training_utils import EMAModel

from linksim.training.common import TrainerBase


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
    gets evaluated and saved; ``state.pt`` also keeps the raw weights and the EMA. Subclasses
    call :meth:`init_ema` after setting ``self.model``."""

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

    def exported_weights(self) -> dict[str, torch.Tensor]:
        with self.ema_weights():
            return super().exported_weights()

    def extra_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict()}

    def load_weights(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)

    def loss_columns(self, mean_loss: float) -> tuple[dict[str, float], str]:
        return {"loss": mean_loss}, f"loss {mean_loss:.4f}"
