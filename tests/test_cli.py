"""The command line: help texts, exit codes and one-line errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from linksim.cli import main
from tests.conftest import small_scenario


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linksim", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", [[], ["run"], ["validate"], ["plot"], ["list"], ["calibrate-mcs"], ["train"]])
def test_help_explains_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: linksim" in capsys.readouterr().out


def test_validate_reports_grid_size(tmp_path, write_scenario, capsys):
    assert main(["validate", str(write_scenario(small_scenario(tmp_path)))]) == 0
    assert "4 points" in capsys.readouterr().out


def test_user_error_is_one_line_exit_2_without_traceback(tmp_path, write_scenario):
    path = write_scenario(small_scenario(tmp_path, schemes=[{"type": "telepathy"}]))
    proc = _run("run", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"linksim: error: {path}:")
    assert "schemes[0].type: unknown type 'telepathy' (accepted: 'softcast', 'deepjscc', 'digital', 'capacity', 'diffusion', 'gesco', 'spic', 'layered-gan')" in proc.stderr


def test_missing_dataset_root_is_a_user_error(tmp_path, write_scenario, capsys):
    missing = tmp_path / "no-such-folder"
    data = small_scenario(tmp_path / "out", dataset={"name": "image_folder", "root": str(missing), "num_images": 4})
    assert main(["run", str(write_scenario(data)), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset.root" in err and str(missing) in err


def test_num_images_override_must_be_positive(tmp_path, write_scenario, capsys):
    assert main(["run", str(write_scenario(small_scenario(tmp_path))), "--num-images", "0"]) == 2
    assert "dataset.num_images: Input should be greater than 0" in capsys.readouterr().err


def test_plot_on_a_folder_without_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "no summary.csv here" in capsys.readouterr().err


def test_list_shows_everything_a_scenario_can_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ["softcast", "chunks_per_side=8", "awgn", "skimage-samples", "image_folder", "cifar10",
                 "lpips", "ms_ssim", "checkpoints", "hevc", "digital", "capacity", "MCS0-QPSK-120/1024", "MCS27-256QAM-948/1024", "tdl-a-lmmse"]:
        assert word in out


def test_calibrate_mcs_rejects_a_bad_channel_block(tmp_path, capsys):
    assert main(["calibrate-mcs", "--out", str(tmp_path / "t.csv"), "--channel", "{type: awgn, snr: 3}"]) == 2
    assert capsys.readouterr().err == "linksim: error: --channel: awgn: unknown field 'snr' (accepted: name, snr_pilots, type)\n"
    assert not (tmp_path / "t.csv").exists()


def test_run_and_plot_through_the_cli(tmp_path, write_scenario, capsys):
    path = write_scenario(small_scenario(tmp_path / "out"))
    assert main(["run", str(path), "--no-progress", "--num-images", "2"]) == 0
    assert "4 points computed, 0 reused" in capsys.readouterr().out
    assert main(["run", str(path), "--no-progress", "--num-images", "2"]) == 0
    assert "0 points computed, 4 reused" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "out")]) == 0
    assert "psnr_vs_snr.png" in capsys.readouterr().out


def test_output_path_problems_and_broken_pipes_are_one_line_or_quiet(tmp_path, write_scenario, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "under-a-file"):
        assert main(["run", str(write_scenario(small_scenario(tmp_path / "unused"))), "--out", str(out),
                     "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert error.startswith("linksim: error: ") and error.count("\n") == 1 and str(blocker) in error
    listing = subprocess.run(f"{sys.executable} -m linksim list | head -1", shell=True, capture_output=True, text=True)
    assert listing.returncode == 0 and listing.stderr == "" and listing.stdout.count("\n") == 1
