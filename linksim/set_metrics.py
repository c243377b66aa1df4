"""Set-level metrics of generative receivers: a Fréchet distance and a kernel inception distance
on AlexNet features (``fd_alex``, ``kid_alex``).

FID and KID are defined on Inception-v3 features, whose weights cannot be had offline; these are
the same statistics on the trunk linksim already ships for LPIPS (AlexNet, torchvision's
ImageNet weights): each image's conv5 ReLU output, normalised over channels and averaged over
positions (256 numbers, see :func:`alex_features`). They
are not comparable with published FID/KID values, only between schemes on the same images.

A point's value compares the set of its reconstructions with the set of the originals they came
from (rows: images x trials). Its 95% CI is the value +- 1.96 bootstrap standard errors (a paired
bootstrap over rows, :data:`BOOTSTRAP` resamples seeded by the point's seed): the spread of the
estimator at this set size. Not a percentile interval, because the Fréchet distance is biased
upwards for small sets (as FID is) and more so on a resample with repeated rows, so that the
percentiles can lie wholly above the value; compare schemes at equal set sizes (a sweep's points
are). Both are carried on every row of the
point, as ``<name>``, ``<name>_ci95_low`` and ``<name>_ci95_high``; :func:`linksim.results.summarize`
reads them from there.

- ``fd_alex``: ``|mu_x - mu_y|^2 + tr S_x + tr S_y - 2 tr (S_x S_y)^(1/2)`` with sample
  covariances. With fewer images than dimensions the trace of the root is computed exactly as the
  nuclear norm of ``A_x^T A_y / (n - 1)`` (centred features ``A``, ``n x d``): ``S_x S_y`` has the
  eigenvalues of ``(A_x^T A_y)(A_y^T A_x) / (n - 1)^2``. Biased upwards for small sets (as FID).
- ``kid_alex``: the unbiased MMD^2 with the cubic polynomial kernel ``(x.y / d + 1)^3`` (Bińkowski
  et al. 2018), unbiased at any set size; values are reported x 1000 as is customary for KID. The
  sets are paired (a reconstruction and its original), so all three kernel means skip ``i = j``.
"""

from __future__ import annotations

import torch

from linksim.metrics import get_lpips

__all__ = ["BOOTSTRAP", "alex_features", "frechet_distance", "kernel_distance", "SetMetrics"]

BOOTSTRAP = 200
_CHUNK = 8  # resamples evaluated at once
KID_SCALE = 1000.0


@torch.no_grad()
def alex_features(x: torch.Tensor) -> torch.Tensor:
    """``[B, 256]`` float64 features of images ``[B, 3, H, W]`` in [0, 1]: conv5's ReLU output
    normalised over channels at each position (as LPIPS does), averaged over positions, times
    ``sqrt(256)`` -- so that ``x.y / d`` is of order one, the regime the KID kernel is meant for."""
    net = get_lpips(x.device)
    h = ((x.to(net.shift.dtype) * 2 - 1) - net.shift) / net.scale
    for i in range(5):
        if i in (1, 2):
            h = torch.nn.functional.max_pool2d(h, kernel_size=3, stride=2)
        h = torch.relu(getattr(net, f"conv{i}")(h))
    unit = h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)  # LPIPS's normalisation over channels
    return (unit.mean(dim=(2, 3)) * h.shape[1] ** 0.5).double().cpu()


def frechet_distance(fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
    """FD between feature sets ``[..., n, d]`` (batched over leading dimensions) -> ``[...]``.

    ``tr (S_x S_y)^(1/2)`` in the smaller of the two spaces, both exact: the nuclear norm of
    ``A_x A_y^T / (n - 1)`` (``n x n``) when ``n <= d``, else the square roots of the eigenvalues of
    ``S_x^(1/2) S_y S_x^(1/2)`` (``d x d``)."""
    n, d = fx.shape[-2], fx.shape[-1]
    ax, ay = fx - fx.mean(-2, keepdim=True), fy - fy.mean(-2, keepdim=True)
    mean_term = (fx.mean(-2) - fy.mean(-2)).square().sum(-1)
    traces = (ax.square().sum((-2, -1)) + ay.square().sum((-2, -1))) / (n - 1)
    if n <= d:
        root = torch.linalg.svdvals(ax @ ay.transpose(-2, -1)).sum(-1) / (n - 1)
    else:
        sx, sy = (a.transpose(-2, -1) @ a / (n - 1) for a in (ax, ay))
        values, vectors = torch.linalg.eigh(sx)
        half = vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-2, -1)
        root = torch.linalg.eigvalsh(half @ sy @ half).clamp_min(0).sqrt().sum(-1)
    return mean_term + traces - 2 * root


def kernel_distance(fx: torch.Tensor, fy: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Unbiased MMD^2 x 1000 with the kernel ``(x.y/d + 1)^3`` between paired sets ``[..., n, d]``
    (row ``i`` of ``fx`` is the reconstruction of row ``i`` of ``fy``) -> ``[...]``.

    ``rows`` ``[..., n]``: which original row each entry is (a bootstrap resample repeats rows);
    pairs of entries from the same row are left out like the diagonal."""
    n, d = fx.shape[-2], fx.shape[-1]
    if rows is None:
        rows = torch.arange(n).expand(fx.shape[:-1])
    distinct = (rows[..., :, None] != rows[..., None, :]).to(fx.dtype)
    kernel = lambda a, b: (a @ b.transpose(-2, -1) / d + 1).pow(3)  # noqa: E731
    # i != j in the cross term too: a reconstruction resembles its own original, and that pair's
    # kernel value would bias the estimate down (the U-statistic over pairs of (x_i, y_i) rows)
    h = kernel(fx, fx) + kernel(fy, fy) - kernel(fx, fy) - kernel(fy, fx)
    return (h * distinct).sum((-2, -1)) / distinct.sum((-2, -1)).clamp_min(1) * KID_SCALE


_STATISTICS = {"fd_alex": frechet_distance, "kid_alex": kernel_distance}


class SetMetrics:
    """Collects the features of one point's reconstructions and originals, batch by batch, and
    gives the set-level values with their bootstrap CIs.

    Args:
        names: the set-level metrics wanted (keys of ``_STATISTICS``).
        seed: seeds the bootstrap (the point's seed: a point's CI is reproducible).
    """

    def __init__(self, names: list[str], seed: int) -> None:
        self.names, self.seed = names, seed
        self._x: list[torch.Tensor] = []
        self._y: list[torch.Tensor] = []

    def add(self, x_hat: torch.Tensor, x: torch.Tensor) -> None:
        """Reconstructions and their originals ``[B, 3, H, W]`` (rows in the order they are added);
        nothing is computed when no set-level metric is wanted."""
        if not self.names:
            return
        self._x.append(alex_features(x_hat))
        self._y.append(alex_features(x))

    def values(self) -> dict[str, float]:
        """``{name: value, name_ci95_low: ..., name_ci95_high: ...}`` (NaN with fewer than 2 rows;
        empty when no set-level metric is wanted).
        The bootstrap draws rows by position: callers add rows in an order that does not depend
        on the batch size (the sweep does), so neither does the CI."""
        if not self.names:
            return {}
        fx, fy = torch.cat(self._x), torch.cat(self._y)
        n, out = len(fx), {}
        generator = torch.Generator().manual_seed(self.seed)
        resample = torch.randint(n, (BOOTSTRAP, n), generator=generator)
        for name in self.names:
            statistic = _STATISTICS[name]
            if n < 2:
                out.update({name: float("nan"), f"{name}_ci95_low": float("nan"), f"{name}_ci95_high": float("nan")})
                continue
            # in chunks of resamples: a kernel matrix per resample is n x n
            boot = torch.cat([statistic(fx[part], fy[part], **({"rows": part} if statistic is kernel_distance else {}))
                              for part in resample.split(_CHUNK)])
            value, spread = float(statistic(fx, fy)), 1.96 * float(boot.std())
            out.update({name: value, f"{name}_ci95_low": value - spread, f"{name}_ci95_high": value + spread})
        return out
