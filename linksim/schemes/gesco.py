"""GESCO (Grassucci et al., "Generative semantic communication: diffusion models beyond bit
recovery", 2023): the semantic map is sent as analog symbols and the receiver regenerates the
image with a map-conditioned diffusion model.

Transmitter: the image's label map (``LinkState.labels``; K classes + void) as analog one-hot
symbols at ``1/f`` of its resolution (:mod:`linksim.semantic_maps`), ``f`` the finest factor whose
``(K + 1) H W / (2 f^2)`` symbols fit the point's ``K = round(ratio 3 H W)`` channel uses (or
``map_factor``). The remaining uses repeat the map symbols cyclically -- every one of the ``K``
uses carries signal, none is left idle -- and the receiver combines the copies (maximum-ratio,
weights ``1 / noise_var``). The image itself is not sent.
Receiver: the per-pixel class posterior (the exact "fast denoising" of the noisy one-hot map),
then a sample of the map-conditioned denoiser (``checkpoint``) with ``sampler`` and ``steps``;
each row's sampling noise comes from its own stream. Rows report ``map_factor``,
``map_repeats`` (channel uses per map symbol) and ``map_accuracy`` (share of labelled pixels
whose most likely received class is the sent one).
"""

from __future__ import annotations

import torch

from linksim.camvid import VOID
from linksim.errors import LinksimError
from linksim.randomness import row_generators
from linksim.schemes.base import SCHEMES, LinkState, Scheme, Transmission, channel_uses, check_image_size
from linksim.schemes.config import GescoConfig
from linksim.schemes.map_receiver import map_receiver
from linksim.semantic_maps import MAP_FACTORS, map_symbols, posterior_from_symbols



def fitting_factor(shape: tuple[int, int], planes: int, uses: int) -> int:
    """The smallest factor of :data:`~linksim.semantic_maps.MAP_FACTORS` dividing both sides whose
    map fits ``uses``."""
    for f in MAP_FACTORS:
        if shape[0] % f == 0 and shape[1] % f == 0 and planes * (shape[0] // f) * (shape[1] // f) <= 2 * uses:
            return f
    raise LinksimError(f"gesco: {uses} channel uses cannot carry a {planes}-class map of a {shape[0]}x{shape[1]} "
                       f"image even at 1/{MAP_FACTORS[-1]} resolution; raise the bandwidth ratio")


@SCHEMES.register
class GescoScheme(Scheme):
    """Semantic map over analog symbols + map-conditioned diffusion receiver (see the module doc).

    ``transmit``: images ``[B, 3, H, W]`` and ``state.labels`` ``[B, H, W]`` -> ``[B, K]`` symbols.
    ``receive``: ``y``, ``noise_var`` ``[B, K]`` -> sampled images ``[B, 3, H, W]`` in [0, 1].
    """

    config_class = GescoConfig
    description = "GESCO: one-hot semantic map as analog symbols, map-conditioned diffusion receiver"

    def __init__(self, config: GescoConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config = config or GescoConfig()
        self.denoiser, self.pipeline = map_receiver(config, device)
        self.planes = self.denoiser.config.map_channels

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        if state.labels is None:
            raise LinksimError("gesco sends label maps: use a dataset that has them (camvid)")
        check_image_size(images, self.denoiser.config.multiple, self.config.checkpoint)
        size = tuple(images.shape[-2:])
        k = channel_uses(tuple(images.shape[1:]), state.bandwidth_ratio)
        factor = self.config.map_factor or fitting_factor(size, self.planes, k)
        if size[0] % factor or size[1] % factor:
            raise LinksimError(f"gesco: map_factor {factor} does not divide the image size {size[0]}x{size[1]}")
        labels = state.labels.clamp(max=self.planes - 1)  # void is the last plane
        symbols = map_symbols(labels, self.planes, factor)
        n = symbols.shape[1]
        if n > k:
            raise LinksimError(f"gesco: the map at 1/{factor} needs {n} channel uses, the point has {k}")
        copies = torch.arange(k, device=symbols.device) % n
        columns = {"map_factor": torch.full((len(images),), factor), "map_repeats": torch.full((len(images),), k / n)}
        return Transmission(symbols[:, copies], side_info={"factor": factor, "size": size, "symbols": n},
                            columns=columns)

    def receive(self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState) -> torch.Tensor:
        n, size, factor = tx.side_info["symbols"], tx.side_info["size"], tx.side_info["factor"]
        # maximum-ratio combining of the copies of each map symbol
        copies = torch.arange(y.shape[1], device=y.device) % n
        weight = 1 / noise_var.clamp_min(1e-12)
        total = torch.zeros(y.shape[0], n, device=y.device).index_add_(1, copies, weight)
        combined = torch.zeros(y.shape[0], n, dtype=y.dtype, device=y.device).index_add_(1, copies, y * weight) / total
        grid = (size[0] // factor, size[1] // factor)
        posterior = posterior_from_symbols(combined, 1 / total, self.planes, grid, size)
        if state.labels is not None:  # at the sent positions, void excluded
            at = (..., slice(factor // 2, None, factor), slice(factor // 2, None, factor))
            sent, got = state.labels[at], posterior[at].argmax(1)
            labelled = sent != VOID
            tx.columns["map_accuracy"] = (((got == sent) & labelled).flatten(1).sum(1)
                                          / labelled.flatten(1).sum(1).clamp_min(1)).float()
        cond = self.denoiser.condition(posterior)
        return self.pipeline(cond, self.config.steps, generator=row_generators(state.keys, "sampler"))
