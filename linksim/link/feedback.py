"""The SNR feedback path: what the transmitter knows about the channel at each frame.

After frame ``t`` the receiver reports its SNR estimate ``s_t`` (dB). The report is corrupted and
quantised, then arrives ``d`` frames later:

    message_t = Q(s_t + e_t),       e_t ~ N(0, error_std_db^2) i.i.d.
    known_t   = message_{t-d}       for t >= d,
    known_t   = initial             for t <  d (no report has arrived yet),

``Q(x) = step * floor(x / step + 1/2)`` rounds to the nearest multiple of ``quantisation_db``
(ties go up, towards +inf; ``step = 0`` means no quantisation). The error is added before
quantising: it models the receiver's estimation error, and the quantiser sits in the
receiver's feedback encoder. ``initial`` is not a report, so it is used as given (neither
corrupted nor quantised): ``feedback.initial_snr_db`` when set, else the *nominal* SNR the caller
passes (the point's swept ``snr_db``: the long-term mean SNR a link budget would assume).

``delay_frames = 0`` means the transmitter of frame ``t`` already knows frame ``t``'s estimate
(ideal, instantaneous CSIT); with ``error_std_db = quantisation_db = 0`` too, the transmitter
knows the receiver's estimate exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from sionna.phy.utils import normal
from torch import nn

if TYPE_CHECKING:  # the config imports this module to build from it
    from linksim.link.config import FeedbackConfig



def quantise_db(snr_db: torch.Tensor, step_db: float) -> torch.Tensor:
    """Round to the nearest multiple of ``step_db`` (ties up); ``step_db = 0`` returns the input."""
    if step_db == 0:
        return snr_db
    # floor(x + 1/2) instead of torch.round: round-half-to-even would make ties depend on parity.
    return torch.floor(snr_db / step_db + 0.5) * step_db


class FeedbackPath(nn.Module):
    """Delayed, corrupted, quantised SNR feedback (see the module docstring), vectorised.

    Args:
        delay_frames: report delay ``d`` in frames (>= 0).
        quantisation_db: quantiser step in dB (0: none).
        error_std_db: standard deviation of the report error in dB.
        initial_snr_db: value known before the first report; ``None`` defers to the caller's
            ``nominal_snr_db``.

    Input (:meth:`forward`):
        estimates_db: the receiver's SNR estimates ``[B, F]`` (dB), frame ``t`` in column ``t``.
        nominal_snr_db: the nominal SNR ``[B]`` or a float, used before the first report when
            ``initial_snr_db`` is ``None``.
        generator: optional ``torch.Generator`` for the report errors; ``None`` uses Sionna's.

    Output:
        known: ``[B, F]`` float, the SNR (dB) the transmitter knows when it sends frame ``t``.
    """

    def __init__(self, delay_frames: int = 0, quantisation_db: float = 0.0, error_std_db: float = 0.0,
                 initial_snr_db: float | None = None) -> None:
        super().__init__()
        # The config validates user input; these checks guard direct construction.
        if delay_frames < 0 or quantisation_db < 0 or error_std_db < 0:
            raise ValueError("delay_frames, quantisation_db, error_std_db: must be >= 0, got "
                             f"{delay_frames}, {quantisation_db}, {error_std_db}")
        self.delay_frames = int(delay_frames)
        self.quantisation_db = float(quantisation_db)
        self.error_std_db = float(error_std_db)
        self.initial_snr_db = initial_snr_db

    @classmethod
    def from_config(cls, config: FeedbackConfig) -> "FeedbackPath":
        return cls(config.delay_frames, config.quantisation_db, config.error_std_db, config.initial_snr_db)

    def messages(self, estimates_db: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The reports ``Q(s + e)`` as sent, same shape as ``estimates_db`` (any shape)."""
        estimates_db = estimates_db.float()
        if self.error_std_db > 0:
            error = normal(list(estimates_db.shape), std=self.error_std_db, dtype=estimates_db.dtype,
                           device=estimates_db.device, generator=generator)
            estimates_db = estimates_db + error
        return quantise_db(estimates_db, self.quantisation_db)

    def initial(self, batch_size: int, nominal_snr_db: torch.Tensor | float | None,
                device: torch.device | str = "cpu") -> torch.Tensor:
        """What the transmitter knows before any report ``[B]``: ``initial_snr_db`` or the nominal SNR."""
        value = self.initial_snr_db if self.initial_snr_db is not None else nominal_snr_db
        if value is None:
            raise ValueError("feedback.initial_snr_db: not set and no nominal SNR given to fall back on")
        return torch.as_tensor(value, dtype=torch.float32, device=device).expand(batch_size).clone()

    def delay(self, messages: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """Reports ``[B, F]`` -> known values ``[B, F]``: column ``t`` is report ``t - d``, or
        ``initial`` ``[B]`` for ``t < d``."""
        b, f = messages.shape
        d = min(self.delay_frames, f)
        head = initial.to(messages)[:, None].expand(b, d)
        return torch.cat([head, messages[:, : f - d]], dim=1)

    def known_at(self, frame: int, messages: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """The known value ``[B]`` at ``frame`` for a frame-by-frame loop, from the reports sent so
        far ``[B, n]`` (``n > frame - d`` needed) and ``initial`` ``[B]``; equals column ``frame``
        of :meth:`delay`."""
        source = frame - self.delay_frames
        if source < 0:
            return initial.to(messages)
        if source >= messages.shape[1]:
            raise ValueError(f"frame {frame} needs the report of frame {source}, only {messages.shape[1]} sent")
        return messages[:, source]

    def forward(self, estimates_db: torch.Tensor, nominal_snr_db: torch.Tensor | float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        initial = self.initial(estimates_db.shape[0], nominal_snr_db, estimates_db.device)
        return self.delay(self.messages(estimates_db, generator), initial)

    def extra_repr(self) -> str:
        return (f"delay_frames={self.delay_frames}, quantisation_db={self.quantisation_db}, "
                f"error_std_db={self.error_std_db}, initial_snr_db={self.initial_snr_db}")
