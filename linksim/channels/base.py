"""The interface every channel implements.

A channel takes complex symbols ``[B, K]`` with unit average power and a per-sample SNR ``[B]``
(Es/N0 in dB per complex channel use) and returns what the receiver's detector sees: equalised
symbols, the effective noise variance per symbol and, where the channel has pilots, the
receiver's own SNR estimate. Schemes never see pilots or resource grids.

Conventions shared by every channel:

- ``SNR`` is Es/N0 per complex channel use: unit average transmit power (data and pilots) and
  unit average channel gain ``E|h|^2 = 1``, so the noise variance is ``N0 = 10^(-SNR/10)``.
- ``y`` is *unbiased*: ``y = x + e`` with ``E|e|^2 = noise_var`` per symbol (Sionna's LMMSE
  equaliser convention, :func:`sionna.phy.mimo.lmmse_equalizer`), so an LLSE receiver or an LLR
  computation can use ``noise_var`` as the variance of a Gaussian observation of ``x``.
- ``snr_estimate_db`` is the receiver's estimate, from pilots, of the **frame SNR**: the mean over
  the sample's channel uses of the per-use received SNR ``|h|^2 Es/N0`` (linear mean, then dB).
  It is the average post-equalisation SNR the sample would see with perfect CSI; it includes this
  realisation's fading but not the receiver's channel-estimation loss, and its expectation over
  fading is the nominal SNR (for AWGN it estimates the nominal SNR itself). With perfect CSI the
  receiver knows ``h`` and ``N0`` and reports the exact value. See :mod:`linksim.channels.snr`.
- Pilots are extra channel uses on top of the K data symbols; ``pilot_uses`` counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from linksim.randomness import RowKeys, per_row
from linksim.channels.config import CHANNELS, ChannelConfig  # noqa: F401 (CHANNELS re-exported)


@dataclass(frozen=True)
class ChannelOutput:
    """What a channel returns to the receiver.

    Attributes:
        y: equalised received symbols, ``[B, K]`` complex.
        noise_var: effective (post-equalisation) noise variance per symbol, ``[B, K]`` float.
        snr_estimate_db: the receiver's estimate of the frame SNR in dB, ``[B]`` (see the module
            docstring), or ``None`` when the channel sends no pilots to estimate it from.
        pilot_uses: channel uses spent on pilots per sample, in addition to the ``K`` data
            symbols (the same for every sample of the batch); 0 for a channel without pilots.
    """

    y: torch.Tensor
    noise_var: torch.Tensor
    snr_estimate_db: torch.Tensor | None = None
    pilot_uses: int = 0

    @staticmethod
    def cat(outputs: Sequence[ChannelOutput]) -> ChannelOutput:
        """The outputs of consecutive row groups joined into one batch (same ``K`` and pilots)."""
        estimates = [o.snr_estimate_db for o in outputs]
        return ChannelOutput(
            y=torch.cat([o.y for o in outputs]),
            noise_var=torch.cat([o.noise_var for o in outputs]),
            snr_estimate_db=None if estimates[0] is None else torch.cat(estimates),  # type: ignore[arg-type]
            pilot_uses=outputs[0].pilot_uses,
        )


def snr_db_to_noise_var(snr_db: torch.Tensor) -> torch.Tensor:
    """Noise variance N0 per complex channel use for unit Es: ``N0 = 10^(-SNR/10)``. Shape kept."""
    return torch.pow(10.0, -snr_db / 10.0)


def sionna_device(device: str | torch.device) -> str:
    """The device name Sionna blocks accept: ``"cuda"`` -> ``"cuda:<current>"``, others unchanged.

    Sionna 2.x validates ``device=`` against ``config.available_devices`` (``"cpu"``, ``"cuda:0"``,
    ...), so a bare ``"cuda"`` as torch and the sweep spell it would be rejected.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(dev)


class Channel(nn.Module):
    """Base class: subclasses implement :meth:`forward` and set ``config_class``/``description``."""

    config_class: ClassVar[type[ChannelConfig]]
    description: ClassVar[str] = ""

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:  # pragma: no cover
        """Send ``x`` ``[B, K]`` (complex, unit average power) at SNR ``snr_db`` ``[B]``."""
        raise NotImplementedError

    def send(self, x: torch.Tensor, snr_db: torch.Tensor, keys: RowKeys | None = None) -> ChannelOutput:
        """:meth:`forward` with per-row random streams: row ``i``'s noise, fading and pilots'
        noise are drawn from ``keys.stream("channel")`` row ``i`` alone, so they do not depend on
        the rest of the batch (:mod:`linksim.randomness`). ``keys=None``: one call, the global streams.

        Shapes as :meth:`forward`. Rows are sent one by one through the same blocks."""
        if keys is None:
            return self(x, snr_db)
        outputs = per_row(keys.stream("channel"), sionna_device(x.device), self, x, snr_db)
        return ChannelOutput.cat(outputs)

    def pilot_uses(self, num_symbols: int) -> int:
        """Channel uses spent on pilots per sample when a sample carries ``num_symbols`` symbols.

        Equals :attr:`ChannelOutput.pilot_uses` of a forward pass with ``K = num_symbols``, so a
        caller can report the overhead without sending anything. 0 unless a channel overrides it.
        """
        return 0
