"""Sampling from the conditional denoiser with a diffusers scheduler.

The pipeline wires a :class:`~linksim.models.diffusion.ConditionalDenoiser` to a scheduler and
owns no maths of its own (as in diffusers): the scheduler turns model outputs into the next
sample. ``steps`` counts denoiser evaluations. With ``strength < 1`` sampling starts SDEdit-style
from the DeepJSCC estimate noised to the timestep at fraction ``strength`` of the schedule, and
the ``steps`` evaluations cover only that last part (fewer steps for the same spacing).
Deterministic for a generator: the starting noise (and, with DDIM's ``eta > 0``, the noise of
every step) is drawn from it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor

from linksim.models.channel_guidance import ChannelLikelihoodGuidance
from linksim.models.diffusion import Conditioning, ConditionalDenoiser

Generators = torch.Generator | list[torch.Generator] | None

SAMPLERS: dict[str, type] = {
    "ddim": DDIMScheduler,
    "dpm-solver": DPMSolverMultistepScheduler,
}


def training_scheduler(config: dict[str, Any] | None = None, prediction_type: str | None = None) -> DDPMScheduler:
    """The DDPM noise schedule a denoiser is trained with (1000 steps, cosine, v-prediction unless
    the model needs another ``prediction_type``), or the one of a checkpoint's ``config``."""
    options = {"prediction_type": prediction_type} if prediction_type else {}
    if config is not None:
        return DDPMScheduler.from_config(config, **options)
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         **{"prediction_type": "v_prediction", **options}, clip_sample=False)


def sampling_scheduler(name: str, training_config: dict[str, Any]):
    """A sampler (``ddim`` or ``dpm-solver``) with the training schedule; ``KeyError`` if unknown."""
    scheduler_class = SAMPLERS[name]
    options: dict[str, Any] = {"clip_sample": False} if name == "ddim" else {}
    if name == "ddim":
        options["set_alpha_to_one"] = True
    return scheduler_class.from_config(training_config, **options)


class DiffusionReceiverPipeline:
    """Denoiser + scheduler -> images ``[B, 3, H, W]`` in [0, 1]."""

    def __init__(self, denoiser: ConditionalDenoiser, scheduler) -> None:
        self.denoiser, self.scheduler = denoiser, scheduler

    @torch.no_grad()
    def __call__(self, cond: Conditioning, steps: int, strength: float = 1.0, estimate: torch.Tensor | None = None,
                 generator: Generators = None, eta: float = 0.0,
                 guidance: ChannelLikelihoodGuidance | None = None) -> torch.Tensor:
        """:meth:`sample` without gradients in the weights (what a receiver runs)."""
        return self.sample(cond, steps, strength, estimate, generator, eta, guidance)

    def sample(
        self,
        cond: Conditioning,
        steps: int,
        strength: float = 1.0,
        estimate: torch.Tensor | None = None,
        generator: Generators = None,
        eta: float = 0.0,
        guidance: ChannelLikelihoodGuidance | None = None,
    ) -> torch.Tensor:
        """Sample one image per conditioning row; differentiable in the denoiser's weights (for
        fine-tuning through the sampler, :mod:`linksim.training.diffusion`).

        Args:
            cond: from :meth:`ConditionalDenoiser.condition`, batch ``B``.
            steps: denoiser evaluations (>= 1).
            strength: where sampling starts, as a fraction of the schedule (1: pure noise).
            estimate: the DeepJSCC estimate ``[B, 3, H, W]`` in [0, 1], needed when ``strength < 1``.
            generator: CPU generator for the starting noise (reproducible across devices), or one
                per row (diffusers' convention: row ``i``'s noise from ``generator[i]`` alone).
            eta: DDIM's stochasticity (0: deterministic DDIM, 1: DDPM-like ancestral steps), whose
                fresh noise also comes from ``generator``; DDIM only.
            guidance: corrects every step towards images consistent with what was received
                (posterior sampling); DDIM only, since it needs each step's clean-image prediction.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        step_options = {}
        if guidance is not None and not isinstance(self.scheduler, DDIMScheduler):
            raise ValueError("guidance applies to the ddim sampler only")
        if eta:
            if not isinstance(self.scheduler, DDIMScheduler):
                raise ValueError("eta > 0 applies to the ddim sampler only")
            step_options = {"eta": eta, "generator": generator}
        batch = cond.features.shape[0]
        device = cond.features.device
        noise = randn_tensor((batch, 3, *self.denoiser.image_shape(cond)), generator=generator, device=device)
        total = max(steps, math.ceil(steps / strength - 1e-9))
        self.scheduler.set_timesteps(total, device=device)
        timesteps = self.scheduler.timesteps[total - steps:]
        if hasattr(self.scheduler, "set_begin_index"):
            self.scheduler.set_begin_index(total - steps)
        if strength < 1:
            if estimate is None:
                raise ValueError("strength < 1 starts from the DeepJSCC estimate; none given")
            sample = self.scheduler.add_noise(estimate * 2 - 1, noise, timesteps[:1].repeat(batch))
        else:
            sample = noise * self.scheduler.init_noise_sigma
        for t in timesteps:
            def step(x: torch.Tensor, t: torch.Tensor = t):
                output = self.denoiser(self.scheduler.scale_model_input(x, t), t.expand(batch), cond)
                return self.scheduler.step(output, t, x, **step_options)

            sample = guidance.step(step, sample) if guidance is not None else step(sample).prev_sample
        return ((sample + 1) / 2).clamp(0, 1)
