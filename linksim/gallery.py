"""``examples.png``: what the reconstructions look like, next to the originals.

Rows are the originals and then, for each SNR of ``output.examples``, one row per scheme; columns
are ``num_images`` images evenly spaced through the dataset (folder datasets are sorted by class). Each tile is labelled with its PSNR (and
LPIPS when the scenario computes it). Every (scheme, SNR) runs with the seed of the matching sweep
point, so the picture is reproducible; it shows fresh channel draws for these images, not the
exact draws behind ``rows.csv``. Oracle schemes (best of several in hindsight) are left out: on a
handful of images their choice would not be the sweep's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from linksim.metrics import compute_metrics  # noqa: E402
from linksim.randomness import seed_everything  # noqa: E402
from linksim.results import atomic_write  # noqa: E402
from linksim.scenario import Scenario, SweepPoint  # noqa: E402
from linksim.schema import ratio_label  # noqa: E402

if TYPE_CHECKING:
    from linksim.sweep import PointEvaluator


def example_snrs(scenario: Scenario) -> list[float]:
    """The SNRs to show: ``output.examples.snr_db``, else the lowest, a middle and the highest."""
    config = scenario.output.examples
    if config and config.snr_db:
        return list(config.snr_db)
    snrs = sorted(scenario.sweep.snr_db)
    return sorted({snrs[0], snrs[len(snrs) // 2], snrs[-1]})


@torch.no_grad()
def render_examples(scenario: Scenario, evaluator: PointEvaluator, path: Path) -> Path:
    """Run every scheme on the example images at each example SNR and draw the grid to ``path``."""
    config = scenario.output.examples
    assert config is not None
    ratio = config.bandwidth_ratio or max(scenario.sweep.bandwidth_ratio)
    channel = scenario.channel[0].label
    # Evenly spaced through the dataset: folder datasets are sorted by class.
    pick = torch.linspace(0, len(evaluator.pixels) - 1, min(config.num_images, len(evaluator.pixels))).round().long()
    images = evaluator.pixels[pick.to(evaluator.pixels.device)]
    masks = None if evaluator.roi_masks is None else evaluator.roi_masks[pick.to(evaluator.pixels.device)]
    shown = [label for label, scheme in evaluator.schemes.items() if not scheme.hindsight_candidates()]
    names = [m for m in ("psnr", "lpips") if m == "psnr" or m in scenario.metrics]
    tiles: list[tuple[str, torch.Tensor, list[str]]] = [("original", images, [""] * len(images))]
    for snr in example_snrs(scenario):
        for label in shown:
            point = SweepPoint(scheme=label, channel=channel, snr_db=float(snr), bandwidth_ratio=ratio, roi_weight=0.0)
            seed_everything(point.seed(scenario.seed))
            x_hat, _, _ = evaluator.link(evaluator.schemes[label], channel, images, evaluator.point_state(point, images, masks))
            values = compute_metrics(names, x_hat, images)
            captions = [" / ".join(f"{values[m][i]:.3f}" if m == "lpips" else f"{values[m][i]:.1f} dB" for m in names)
                        for i in range(len(images))]
            tiles.append((f"{snr:g} dB\n{label}", x_hat, captions))
    _draw(tiles, path, f"{scenario.name}: ratio {ratio_label(ratio)}, {channel}; tiles: PSNR"
          + (" / LPIPS" if "lpips" in scenario.metrics else ""))
    return path


def _draw(rows: list[tuple[str, torch.Tensor, list[str]]], path: Path, title: str) -> None:
    n_rows, n_cols = len(rows), len(rows[0][1])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols + 1.4, 1.45 * n_rows + 0.5), squeeze=False)
    for r, (label, batch, captions) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.imshow(batch[c].permute(1, 2, 0).clamp(0, 1).cpu().numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(captions[c], fontsize=6.5, labelpad=1)
            if c == 0:
                ax.set_ylabel(label, fontsize=7.5, rotation=0, ha="right", va="center", labelpad=4)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
