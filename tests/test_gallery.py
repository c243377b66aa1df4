"""examples.png: originals and reconstructions drawn after a sweep, reproducibly."""

from __future__ import annotations

from PIL import Image

from linksim.cli import main
from linksim.gallery import example_snrs
from linksim.scenario import Scenario

from conftest import small_scenario


def test_default_snrs_are_lowest_middle_highest(tmp_path):
    data = small_scenario(tmp_path, sweep={"snr_db": [-5, 0, 5, 10, 20], "bandwidth_ratio": ["1/6"]},
                          output={"dir": str(tmp_path), "examples": {}})
    assert example_snrs(Scenario.model_validate(data)) == [-5, 5, 20]


def test_examples_png_is_drawn_reproducibly_also_when_all_points_are_reused(tmp_path, write_scenario):
    out = tmp_path / "out"
    data = small_scenario(out, schemes=[{"name": "softcast", "type": "softcast"}, {"name": "deepjscc", "type": "deepjscc"}],
                          output={"dir": str(out), "examples": {"num_images": 3, "snr_db": [0, 10]}})
    path = write_scenario(data)
    assert main(["run", str(path), "--no-progress"]) == 0
    first = (out / "examples.png").read_bytes()
    width, height = Image.open(out / "examples.png").size
    assert height > width  # 1 + 2 SNRs x 2 schemes = 5 rows of 3 images
    assert main(["run", str(path), "--no-progress"]) == 0  # all points reused; the picture is redrawn
    assert (out / "examples.png").read_bytes() == first
