"""Files a scenario names: content hashes in point keys and the manifest; checkpoints given by
path prove their weights against their own metadata."""

from __future__ import annotations

import json

import pytest
import torch

from linksim.cli import main
from linksim.errors import LinksimError
from linksim.inputs import file_digest, input_files
from linksim.scenario import parse_scenario
from linksim.sweep import run_sweep
from linksim.zoo import load_checkpoint, resolve_checkpoint, save_checkpoint, weights_sha256

from conftest import small_scenario


def _copy_checkpoint(path, scale: float = 1.0) -> None:
    """The zoo's cifar10-deepjscc-v1 written to ``path`` (weights times ``scale``), with its hash."""
    weights, metadata = load_checkpoint("cifar10-deepjscc-v1")
    save_checkpoint(path, {k: v * scale if v.is_floating_point() else v for k, v in weights.items()}, metadata)


def _scenario(tmp_path, checkpoint):
    return small_scenario(tmp_path / "out", schemes=[{"name": "deepjscc", "type": "deepjscc", "checkpoint": str(checkpoint)},
                                                    {"name": "softcast", "type": "softcast"}],
                          sweep={"snr_db": [5], "bandwidth_ratio": ["1/6"], "roi_weight": [0.0]}, metrics=["psnr"])


def test_a_checkpoint_replaced_at_the_same_path_invalidates_only_its_points(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    _copy_checkpoint(checkpoint)
    first = run_sweep(parse_scenario(_scenario(tmp_path, checkpoint)), progress=False)
    assert first.computed_points == 2
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"] == {"schemes[0].checkpoint": file_digest(checkpoint)}

    _copy_checkpoint(checkpoint, scale=0.5)  # same path, other weights
    second = run_sweep(parse_scenario(_scenario(tmp_path, checkpoint)), progress=False)
    assert (second.computed_points, second.reused_points) == (1, 1)  # softcast's rows are still valid
    changed = second.rows[second.rows["scheme"] == "deepjscc"]["psnr"].to_numpy()
    assert not (changed == first.rows[first.rows["scheme"] == "deepjscc"]["psnr"].to_numpy()).all()


def test_a_damaged_checkpoint_given_by_path_is_refused_in_one_line(tmp_path, capsys, write_scenario):
    checkpoint = tmp_path / "model.safetensors"
    _copy_checkpoint(checkpoint)
    data = bytearray(checkpoint.read_bytes())
    data[-100] ^= 0x01  # one bit of the last tensor's data: the header still parses
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(LinksimError, match="do not match the SHA-256 in its own metadata"):
        load_checkpoint(str(checkpoint))
    assert main(["run", str(write_scenario(_scenario(tmp_path, checkpoint))), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(checkpoint) in err and "Traceback" not in err


def test_weights_hash_covers_names_dtypes_shapes_and_values():
    a = {"w": torch.zeros(2, 3), "b": torch.ones(3)}
    assert weights_sha256(a) == weights_sha256(dict(reversed(list(a.items()))))
    assert weights_sha256(a) != weights_sha256({"w": torch.zeros(3, 2), "b": torch.ones(3)})
    assert weights_sha256(a) != weights_sha256({"w": torch.zeros(2, 3, dtype=torch.float64), "b": torch.ones(3)})
    assert weights_sha256(a) != weights_sha256({"v": torch.zeros(2, 3), "b": torch.ones(3)})
    b = {"w": torch.zeros(2, 3), "b": torch.ones(3)}
    b["w"][1, 2] = 1e-30
    assert weights_sha256(a) != weights_sha256(b)


def test_every_file_field_is_found_and_folders_hash_their_contents(tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "a.png").write_bytes(b"1")
    table = tmp_path / "t.csv"
    table.write_text("x")
    scenario = parse_scenario(small_scenario(
        tmp_path / "out", roi={"source": "mask_folder", "root": str(masks)},
        schemes=[{"type": "deepjscc"}, {"type": "digital", "mcs": {"policy": "adaptive", "table": "awgn"}},
                 {"type": "diffusion"}]))
    found = input_files(scenario)
    assert set(found) == {"roi.root", "schemes[0].checkpoint", "schemes[1].mcs.table", "schemes[2].checkpoint"}
    assert found["schemes[0].checkpoint"] == [resolve_checkpoint("cifar10-deepjscc-v1")]
    assert found["schemes[1].mcs.table"][0].name == "awgn.csv"
    before = file_digest(masks)
    (masks / "b.png").write_bytes(b"2")
    assert file_digest(masks) != before
