"""DeepJSCC with a diffusion receiver: the transmitter is DeepJSCC's, the receiver regenerates the
image with a conditional denoiser (see :mod:`linksim.models.diffusion`) instead of decoding it.

The denoiser was trained on one DeepJSCC checkpoint's latents (its checkpoint metadata names the
checkpoint and its SHA-256); pairing it with another DeepJSCC is refused. Sampling uses a
diffusers scheduler (``sampler``: ``ddim`` or ``dpm-solver``) for ``steps`` denoiser evaluations;
``strength < 1`` starts from the DeepJSCC estimate noised to that fraction of the schedule
(SDEdit), which keeps more of the estimate's content and needs fewer steps; ``eta > 0`` makes DDIM
stochastic (fresh noise at every step, as in DDPM); ``guidance > 0`` samples from the posterior
given the received symbols, with this transmitter as the forward model (DPS / DiffCom, see
:mod:`linksim.models.channel_guidance`). Samples are deterministic for the point's seed.
"""

from __future__ import annotations

import torch

from linksim.models.channel_guidance import ChannelLikelihoodGuidance
from linksim.models.diffusion import load_denoiser
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler
from linksim.randomness import row_generators
from linksim.schemes.base import SCHEMES, LinkState, Scheme, Transmission, check_image_size
from linksim.schemes.config import DeepJSCCConfig, DiffusionConfig
from linksim.schemes.deepjscc import DeepJSCCScheme


@SCHEMES.register
class DiffusionScheme(Scheme):
    """DeepJSCC transmitter + diffusion receiver.

    ``transmit``: as :class:`~linksim.schemes.deepjscc.DeepJSCCScheme`.
    ``receive``: ``y``, ``noise_var`` ``[B, K]`` -> sampled images ``[B, 3, H, W]`` in [0, 1].
    """

    config_class = DiffusionConfig
    description = "DeepJSCC transmitter + diffusers denoiser conditioned on the noisy received latents"

    def __init__(self, config: DiffusionConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config = config or DiffusionConfig()
        loaded = load_denoiser(config.checkpoint, device)
        deepjscc = config.deepjscc_checkpoint or loaded.deepjscc_checkpoint
        loaded.check_pairing(config.checkpoint, deepjscc)
        self.deepjscc = DeepJSCCScheme(DeepJSCCConfig(checkpoint=deepjscc), device)
        self.denoiser = loaded.model
        scheduler = sampling_scheduler(config.sampler, loaded.scheduler_config)
        self.pipeline = DiffusionReceiverPipeline(self.denoiser, scheduler)

    @property
    def supported_ratios(self) -> list[float]:
        return self.deepjscc.ratios

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        check_image_size(images, self.denoiser.config.multiple, self.config.checkpoint)
        return self.deepjscc.transmit(images, state)

    def receive(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState) -> torch.Tensor:
        guidance = None
        if self.config.guidance > 0:  # the transmitter itself is the forward model
            guidance = ChannelLikelihoodGuidance(lambda x: self.transmit(x, state).symbols, y, noise_var, self.config.guidance)
        y, noise_var = self.deepjscc.padded(y, noise_var, tx)
        ratio, size, amplitude = self.deepjscc.ratio(state), tx.side_info["image_size"], tx.side_info["amplitude"]
        model = self.deepjscc.model
        estimate, latent, reliability, mask = model.decode_with_inputs(y, noise_var, state.snr_db, ratio, size, amplitude)
        cond = self.denoiser.condition(latent, reliability, mask, state.snr_db, ratio, estimate)
        generator = row_generators(state.keys, "sampler")
        return self.pipeline(cond, self.config.steps, self.config.strength, estimate, generator, self.config.eta, guidance)
