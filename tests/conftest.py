"""Shared test helpers: small scenarios written to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def small_scenario(out_dir: Path, **overrides) -> dict:
    """A scenario that runs in seconds: 6 tiny crops, 2 SNRs, 2 ratios, PSNR + MS-SSIM."""
    data = {
        "name": "tiny",
        "seed": 7,
        "dataset": {"name": "skimage-samples", "image_size": 32, "num_images": 6},
        "channel": {"type": "awgn"},
        "schemes": [{"name": "softcast", "type": "softcast"}],
        "sweep": {"snr_db": [0, 10], "bandwidth_ratio": ["1/12", "1/6"], "roi_weight": [0.0]},
        "monte_carlo": {"trials": 2, "batch_size": 4},
        "metrics": ["psnr", "ms_ssim"],
        "output": {"dir": str(out_dir)},
        "device": "cpu",
    }
    for key, value in overrides.items():
        data[key] = value
    return data


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write a scenario dict (or raw text) to ``tmp_path/scenario.yaml`` and return the path."""

    def write(data: dict | str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write
