"""``examples.png``: what the reconstructions look like, next to the originals.

Rows are the originals and then, for each SNR of ``output.examples``, one row per scheme; columns
are ``num_images`` images evenly spaced through the dataset (folder datasets are sorted by class).
Each tile is labelled with its PSNR (and LPIPS when the scenario computes it) over the whole
image; with ``crop`` the tiles show the centre ``crop x crop`` pixels at 1:1, so that the
artefacts of full-resolution images are visible. Every (scheme, SNR) runs with the random
streams of trial 0 of the matching sweep point (ROI weight 0), so each tile is the reconstruction
behind that image's trial-0 row of ``rows.csv`` when the sweep has that point. Oracle schemes (best of several in hindsight) are left out: on a
handful of images their choice would not be the sweep's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from linksim.data import ImageSet, centre_crop  # noqa: E402
from linksim.metrics import compute_metrics  # noqa: E402
from linksim.randomness import RowKeys, seed_everything  # noqa: E402
from linksim.results import atomic_write  # noqa: E402
from linksim.scenario import Scenario, SweepPoint  # noqa: E402
from linksim.schema import ratio_label  # noqa: E402

if TYPE_CHECKING:
    from linksim.evaluation import ImageBatch

Select = Callable[[list[int]], list["ImageBatch"]]
Reconstruct = Callable[[str, SweepPoint, "ImageBatch", RowKeys], torch.Tensor]


def example_snrs(scenario: Scenario) -> list[float]:
    """The SNRs to show: ``output.examples.snr_db``, else the lowest, a middle and the highest."""
    config = scenario.output.examples
    if config and config.snr_db:
        return list(config.snr_db)
    snrs = sorted(scenario.sweep.snr_db)
    return sorted({snrs[0], snrs[len(snrs) // 2], snrs[-1]})


@torch.no_grad()
def render_examples(scenario: Scenario, images: ImageSet, select: Select, reconstruct: Reconstruct,
                    schemes: list[str], path: Path) -> Path:
    """Run ``schemes`` on the example images at each example SNR and draw the grid to ``path``.

    ``select(indices)`` gives the images of dataset ``indices`` as batches of one size
    (:class:`~linksim.evaluation.ImageBatch`); ``reconstruct(scheme, point, batch, keys)`` sends a batch through the
    link of a still point (both from :class:`linksim.evaluation.PointEvaluator`)."""
    config = scenario.output.examples
    assert config is not None
    ratio = config.bandwidth_ratio or max(scenario.sweep.bandwidth_ratio)
    channel = scenario.channel[0].label
    # Evenly spaced through the dataset: folder datasets are sorted by class.
    n = len(images)
    pick = torch.linspace(0, n - 1, min(config.num_images, n)).round().long().tolist()
    groups = select(pick)  # batches of one image size, in order
    originals = [batch.pixels for batch in groups]
    names = [m for m in ("psnr", "lpips") if m == "psnr" or m in scenario.metrics]
    tiles: list[tuple[str, list[torch.Tensor], list[str]]] = [("original", _tiles(originals, config.crop), [""] * len(pick))]
    if all(batch.labels is not None for batch in groups):  # what the semantic-map schemes send
        from linksim.camvid import colourise

        maps = [colourise(batch.labels) for batch in groups]  # type: ignore[arg-type]
        tiles.append(("label map", _tiles(maps, config.crop), [""] * len(pick)))
    for snr in example_snrs(scenario):
        for label in schemes:
            point = SweepPoint(scheme=label, channel=channel, snr_db=float(snr), bandwidth_ratio=ratio, roi_weight=0.0)
            seed = point.seed(scenario.seed)
            seed_everything(seed)
            reconstructions, captions = [], []
            for batch in groups:
                x_hat = reconstruct(label, point, batch, RowKeys.of(seed, [0] * len(batch.ids), batch.ids))
                x = batch.pixels
                values = compute_metrics(names, x_hat, x)  # of the whole image, also when a crop is shown
                reconstructions.append(x_hat)
                captions += [" / ".join(f"{values[m][i]:.3f}" if m == "lpips" else f"{values[m][i]:.1f} dB" for m in names)
                             for i in range(len(x))]
            tiles.append((f"{snr:g} dB\n{label}", _tiles(reconstructions, config.crop), captions))
    crop = f"; centre {config.crop}x{config.crop} crops at 1:1" if config.crop else ""
    _draw(tiles, path, f"{scenario.name}: ratio {ratio_label(ratio)}, {channel}; tiles: PSNR"
          + (" / LPIPS" if "lpips" in scenario.metrics else "") + " of the whole image" * bool(config.crop) + crop,
          tile_pixels=config.crop)
    return path


def _tiles(batches: list[torch.Tensor], crop: int | None) -> list[torch.Tensor]:
    """Images ``[3, H, W]`` of the batches, in order; with ``crop``, their centre ``crop x crop``."""
    return [centre_crop(image, crop, crop) if crop else image for batch in batches for image in batch]


_DPI = 110


def _draw(rows: list[tuple[str, list[torch.Tensor], list[str]]], path: Path, title: str,
          tile_pixels: int | None = None) -> None:
    """The grid of tiles; ``tile_pixels`` sizes each tile so that crops show at 1:1."""
    n_rows, n_cols = len(rows), len(rows[0][1])
    tile = 1.3 if tile_pixels is None else tile_pixels / _DPI
    fig, axes = plt.subplots(n_rows, n_cols, figsize=((tile + 0.15) * n_cols + 1.4, (tile + 0.3) * n_rows + 0.5),
                             squeeze=False)
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
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=_DPI, format="png"))
    plt.close(fig)
