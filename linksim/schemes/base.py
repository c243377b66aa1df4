"""The interface every end-to-end transmission scheme implements.

A scheme owns both ends of the link: :meth:`Scheme.transmit` turns images into complex channel
symbols with unit average power, :meth:`Scheme.receive` turns what the channel delivers back into
images. Schemes know nothing about pilots or resource grids; channels know nothing about images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from linksim.errors import LinksimError
from linksim.randomness import RowKeys
from linksim.schemes.config import HINDSIGHT_METRIC, SCHEMES, SchemeConfig  # noqa: F401 (SCHEMES re-exported)


@dataclass(frozen=True)
class LinkState:
    """What both ends know about the current transmission.

    Attributes:
        snr_db: the SNR the transmitter adapts to, ``[B]`` (dB).
        bandwidth_ratio: complex channel uses per source dimension (k/n).
        roi_weight: weight of the region of interest (0 = none).
        roi_mask: optional ROI masks ``[B, 1, H, W]`` in [0, 1].
        bler_table: the MCS calibration measured on the channel in use
            (:attr:`~linksim.channels.ChannelConfig.bler_table`), ``None`` if there is none.
        keys: the rows' random streams (:class:`~linksim.randomness.RowKeys`); a scheme that
            draws random numbers takes them from ``keys.stream(<its name>)`` so that a row's
            output does not depend on its batch. ``None``: the global generators.
        labels: the images' label maps ``[B, H, W]`` (class indices) when the dataset has them;
            what a semantic-map scheme transmits (its config declares ``needs_labels``).
    """

    snr_db: torch.Tensor
    bandwidth_ratio: float
    roi_weight: float = 0.0
    roi_mask: torch.Tensor | None = None
    bler_table: str | None = None
    keys: RowKeys | None = None
    labels: torch.Tensor | None = None


@dataclass(frozen=True)
class Transmission:
    """The transmitter's output.

    Attributes:
        symbols: complex channel symbols ``[B, K]``, unit average power per image.
        side_info: metadata the receiver gets; each scheme documents whether it is assumed
            error-free or is counted in the channel uses.
        side_info_bits: bits of side information per image that a real system would have to
            deliver besides the symbols (reported in the result rows), 0 if none is counted.
        columns: extra per-image result columns, each ``[B]`` (e.g. the digital scheme's MCS and
            ``decoded`` flag); ``transmit`` and ``receive`` both may add to it.
    """

    symbols: torch.Tensor
    side_info: dict[str, Any] = field(default_factory=dict)
    side_info_bits: int = 0
    columns: dict[str, Any] = field(default_factory=dict)


def channel_uses(image_shape: tuple[int, int, int], bandwidth_ratio: float) -> int:
    """Complex channel uses K for a ``(C, H, W)`` image: ``round(ratio * C * H * W)``, at least 1."""
    c, h, w = image_shape
    return max(1, round(bandwidth_ratio * c * h * w))


def check_image_size(images: torch.Tensor, multiple: int, checkpoint: str) -> None:
    """One-line :class:`LinksimError` unless the sides of ``images`` ``[B, 3, H, W]`` are multiples
    of ``multiple`` (what a convolutional model's downsampling needs)."""
    h, w = images.shape[-2:]
    if h % multiple or w % multiple:
        raise LinksimError(f"checkpoint '{checkpoint}' needs image sides that are multiples of {multiple}; the dataset "
                           f"gives {h}x{w} (set dataset.crop or dataset.image_size to a multiple of {multiple})")


class Scheme(nn.Module):
    """Base class of transmission schemes; subclasses set ``config_class`` and ``description``."""

    config_class: ClassVar[type[SchemeConfig]]
    description: ClassVar[str] = ""

    def hindsight_candidates(self) -> list[Scheme]:
        """Schemes to try at every point, of which the best (in hindsight) is reported.

        Empty for ordinary schemes. An "oracle" scheme (e.g. the best MCS per point) returns its
        candidates and :meth:`hindsight_metric` names what "best" maximises.
        """
        return []

    hindsight_metric: ClassVar[str] = HINDSIGHT_METRIC

    @property
    def supported_ratios(self) -> list[float] | None:
        """The bandwidth ratios the scheme can send (a checkpoint's set), or ``None`` for any."""
        return None

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:  # pragma: no cover
        """Encode ``images`` ``[B, 3, H, W]`` in [0, 1] into ``channel_uses`` symbols each."""
        raise NotImplementedError

    def receive(
        self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState
    ) -> torch.Tensor:  # pragma: no cover
        """Reconstruct images ``[B, 3, H, W]`` (not clipped) from ``y`` ``[B, K]``."""
        raise NotImplementedError
