"""SoftCast: linear analog image transmission (Jakubczak & Katabi, MobiCom 2011).

Each colour channel is transformed by an orthonormal 2-D DCT and cut into rectangular chunks
of coefficients. The chunks with the largest variance that fit the bandwidth budget are sent,
each scaled by ``g_i ∝ λ_i^(-1/4)`` (the MSE-optimal linear power allocation), two real
coefficients per complex channel use. The receiver estimates each coefficient by linear least
squares (LLSE) from the received value and the effective noise variance.

**Metadata assumption**: the per-chunk means and variances and which chunks were kept
(``3 * chunks_per_side**2`` means/variances and a bitmap per image) are assumed to reach the
receiver error-free and are *not* counted in the channel uses, as in the original paper.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from linksim.channels.base import snr_db_to_noise_var
from linksim.errors import LinksimError
from linksim.schemes.base import SCHEMES, LinkState, Scheme, Transmission, channel_uses
from linksim.schemes.config import SoftCastConfig

_MIN_VARIANCE = 1e-12  # keeps λ^(-1/4) finite for flat chunks (they carry no information)


def dct_matrix(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Orthonormal DCT-II matrix ``[n, n]``: ``X = D @ x`` transforms, ``x = D.T @ X`` inverts."""
    k = torch.arange(n, dtype=torch.float64, device=device)[:, None]
    i = torch.arange(n, dtype=torch.float64, device=device)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(torch.float32)


@SCHEMES.register
class SoftCast(Scheme):
    """SoftCast over any channel that reports a per-symbol effective noise variance.

    ``transmit``: images ``[B, 3, H, W]`` -> symbols ``[B, K]`` with ``K = round(ratio*3*H*W)``,
    mean power exactly 1 per image. Unused channel uses (when ``2K`` is not a multiple of the
    chunk size, or all chunks fit) are left silent; their energy goes to the sent chunks, which in
    AWGN is equivalent to repeating chunks.
    ``receive``: ``y`` and ``noise_var`` ``[B, K]`` -> images ``[B, 3, H, W]`` (not clipped).
    """

    config_class = SoftCastConfig
    description = "linear analog DCT-chunk transmission with LLSE decoding (Jakubczak & Katabi 2011)"

    def __init__(self, config: SoftCastConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = config or SoftCastConfig()
        self.device = device

    # -- transforms --------------------------------------------------------------------------
    def _chunk_shape(self, h: int, w: int) -> tuple[int, int]:
        cps = self.config.chunks_per_side
        if h % cps or w % cps:
            raise LinksimError(
                f"softcast: chunks_per_side={cps} must divide the image size {h}x{w}"
            )
        return h // cps, w // cps

    def _to_chunks(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` pixels -> DCT chunks ``[B, C*cps*cps, ch*cw]``."""
        b, c, h, w = images.shape
        ch, cw = self._chunk_shape(h, w)
        dh, dw = dct_matrix(h, images.device), dct_matrix(w, images.device)
        coeffs = dh @ images @ dw.T
        cps = self.config.chunks_per_side
        return (
            coeffs.reshape(b, c, cps, ch, cps, cw).permute(0, 1, 2, 4, 3, 5).reshape(b, -1, ch * cw)
        )

    def _from_chunks(self, chunks: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Inverse of :meth:`_to_chunks`: ``[B, N, n]`` -> pixels ``[B, C, H, W]``."""
        c, h, w = shape
        ch, cw = self._chunk_shape(h, w)
        cps = self.config.chunks_per_side
        b = chunks.shape[0]
        coeffs = chunks.reshape(b, c, cps, cps, ch, cw).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)
        dh, dw = dct_matrix(h, chunks.device), dct_matrix(w, chunks.device)
        return dh.T @ coeffs @ dw

    # -- link --------------------------------------------------------------------------------
    def _plan(self, images: torch.Tensor, ratio: float) -> dict[str, torch.Tensor | int]:
        """Chunk statistics, selection and gains for ``images`` at bandwidth ``ratio``."""
        b, c, h, w = images.shape
        k = channel_uses((c, h, w), ratio)
        chunks = self._to_chunks(images)
        means = chunks.mean(dim=-1, keepdim=True)
        centred = chunks - means
        var = centred.pow(2).mean(dim=-1)  # [B, N]
        n = chunks.shape[-1]
        kept = min(chunks.shape[1], (2 * k) // n)
        if kept == 0:
            raise LinksimError(
                f"softcast: bandwidth ratio {ratio:.4g} gives {k} channel uses, fewer than one "
                f"chunk of {n} coefficients needs ({math.ceil(n / 2)}); raise the ratio or chunks_per_side"
            )
        lam, order = var.sort(dim=1, descending=True)
        lam, order = lam[:, :kept].clamp_min(_MIN_VARIANCE), order[:, :kept]
        # g_i = c * λ_i^(-1/4), with c set so that the sent energy equals K (unit power per use).
        scale = torch.sqrt(k / (n * lam.sqrt().sum(dim=1, keepdim=True)))
        gain = scale * lam.pow(-0.25)
        return {"k": k, "n": n, "chunks": centred, "means": means, "var": var,
                "order": order, "lam": lam, "gain": gain}

    def transmit(self, images: torch.Tensor, state: LinkState) -> Transmission:
        plan = self._plan(images, state.bandwidth_ratio)
        k, n, order = plan["k"], plan["n"], plan["order"]
        b, kept = order.shape
        sent = plan["chunks"].gather(1, order[..., None].expand(-1, -1, n)) * plan["gain"][..., None]
        real = F.pad(sent.reshape(b, kept * n), (0, 2 * k - kept * n))
        symbols = torch.complex(real[:, 0::2], real[:, 1::2])
        side_info = {key: plan[key] for key in ("means", "order", "lam", "gain")}
        side_info["shape"] = tuple(images.shape[1:])
        side_info["chunk_size"] = n
        return Transmission(symbols=symbols, side_info=side_info)

    def receive(
        self, y: torch.Tensor, noise_var: torch.Tensor, tx: Transmission, state: LinkState
    ) -> torch.Tensor:
        info = tx.side_info
        order, lam, gain, means = info["order"], info["lam"], info["gain"], info["means"]
        b, kept = order.shape
        n = info["chunk_size"]
        used = kept * n
        real = torch.view_as_real(y).reshape(b, -1)[:, :used].reshape(b, kept, n)
        # Each complex use carries two reals, each with half the complex noise variance.
        sigma2 = (noise_var / 2).repeat_interleave(2, dim=1)[:, :used].reshape(b, kept, n)
        g, lam = gain[..., None], lam[..., None]
        estimate = g * lam / (g.pow(2) * lam + sigma2) * real
        chunks = means.expand(-1, -1, n).clone()
        chunks.scatter_add_(1, order[..., None].expand(-1, -1, n), estimate)
        return self._from_chunks(chunks, info["shape"])

    def expected_mse(self, images: torch.Tensor, snr_db: torch.Tensor, ratio: float) -> torch.Tensor:
        """Closed-form LLSE MSE per pixel over AWGN, ``[B]``, for images ``[B, 3, H, W]``.

        Kept chunk i contributes ``n λ_i σ² / (g_i² λ_i + σ²)`` (σ² = N0/2 per real dimension),
        a dropped chunk its full energy ``n λ_i``; the DCT is orthonormal, so this is the pixel MSE.
        """
        plan = self._plan(images, ratio)
        n, var, lam, gain = plan["n"], plan["var"], plan["lam"], plan["gain"]
        sigma2 = (snr_db_to_noise_var(snr_db.to(images.device)) / 2)[:, None]
        kept_err = (n * lam * sigma2 / (gain.pow(2) * lam + sigma2)).sum(dim=1)
        dropped_err = n * (var.sum(dim=1) - var.gather(1, plan["order"]).sum(dim=1))
        return (kept_err + dropped_err) / images[0].numel()
