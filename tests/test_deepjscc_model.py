"""DeepJSCC model and trainer: rate masking, power, gradients, deterministic resumable training."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from linksim.errors import ScenarioError
from linksim.models.deepjscc import DeepJSCC, latent_channels_for
from linksim.training.deepjscc import DeepJSCCTrainConfig, load_train_config, train_deepjscc

RATIOS = torch.tensor([1 / 24, 1 / 12, 1 / 8, 1 / 6, 1 / 4, 1 / 3])


def test_latent_channels_per_ratio():
    assert [latent_channels_for(float(r), (3, 32, 32)) for r in RATIOS] == [4, 8, 12, 16, 24, 32]
    with pytest.raises(ValueError, match="not a whole number"):
        latent_channels_for(1 / 7, (3, 32, 32))


def test_each_image_sends_exactly_its_symbols_at_unit_power():
    torch.manual_seed(0)
    model = DeepJSCC(latent_channels=32, width=8)
    symbols = model.encode(torch.rand(6, 3, 32, 32), torch.linspace(-5, 20, 6), RATIOS)
    sent = symbols.abs() > 0
    expected = (RATIOS * 3 * 32 * 32).round().long()
    assert torch.equal(sent.sum(dim=1), expected)
    for i, k in enumerate(expected):  # the sent symbols are the first K_i
        assert sent[i, :k].all()
    assert torch.allclose(symbols.abs().pow(2).sum(dim=1) / expected, torch.ones(6), atol=1e-5)


def test_decoder_ignores_what_was_not_sent_and_gradients_flow():
    torch.manual_seed(1)
    model = DeepJSCC(latent_channels=32, width=8)
    x = torch.rand(2, 3, 32, 32)
    snr, ratio = torch.tensor([0.0, 10.0]), torch.tensor([1 / 12, 1 / 12])
    symbols = model.encode(x, snr, ratio)
    noise_var = torch.full(symbols.shape, 0.1)
    garbage = symbols.clone()
    garbage[:, 256:] = 5 + 5j  # beyond K = 256: never looked at
    out = model.decode(symbols, noise_var, snr, ratio, (32, 32))
    assert torch.equal(out, model.decode(garbage, noise_var, snr, ratio, (32, 32)))
    out.mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def _tiny_config(tmp_path, steps: int) -> DeepJSCCTrainConfig:
    data = {"name": "skimage-samples", "image_size": 32, "num_images": 16}
    return DeepJSCCTrainConfig(
        train_data=data, eval_data={**data, "num_images": 4, "subset_seed": 5}, steps=steps, batch_size=4,
        width=8, warmup_steps=2, checkpoint_every=3, log_every=3, eval_snr_db=[10.0], eval_ratios=["1/6"],
        out=str(tmp_path), device="cpu",
    )


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    straight = train_deepjscc(_tiny_config(tmp_path / "a", 6), progress=False)
    train_deepjscc(_tiny_config(tmp_path / "b", 3), progress=False)
    resumed = train_deepjscc(_tiny_config(tmp_path / "b", 6), resume=True, progress=False)
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (straight / "eval.csv").read_text() == (resumed / "eval.csv").read_text()


@pytest.mark.parametrize("budget, expected", [
    (12.0, 25 + 85),  # probe: steps 6..25 at 0.1 s; 9.5 s left, 90% of it -> 85 more steps
    (4.0, 11 + 26),  # a quarter of the budget is gone at step 11: the probe ends there; 2.9 s left -> 26 more
])
def test_time_budget_lowers_steps_and_still_ends_annealed(tmp_path, monkeypatch, budget, expected):
    import types

    import yaml

    from linksim.training import common
    from linksim.training.common import lr_at
    from linksim.training.deepjscc import DeepJSCCTrainer

    step = DeepJSCCTrainer.train_step
    lrs: list[float] = []
    clock = [1000.0]  # a virtual clock: each step takes exactly 0.1 s of it, whatever the machine

    def slow_step(self):
        clock[0] += 0.1
        loss = step(self)
        lrs.append(self.optimizer.param_groups[0]["lr"])  # what this step used
        return loss

    monkeypatch.setattr(DeepJSCCTrainer, "train_step", slow_step)
    monkeypatch.setattr(common, "time", types.SimpleNamespace(time=lambda: clock[0]))
    config = _tiny_config(tmp_path, 10_000).model_copy(update={"checkpoint_every": 10_000})
    out = train_deepjscc(config, progress=False, time_budget_s=budget)
    fitted = yaml.safe_load((out / "config.yaml").read_text())["steps"]
    assert abs(fitted - expected) <= 1 and len(lrs) == fitted  # (float rounding) lowered, and run to its end
    assert lrs[-1] == pytest.approx(lr_at(fitted - 1, config.lr, config.lr_min, config.warmup_steps, fitted))
    assert lrs[-1] - config.lr_min < 0.01 * (config.lr - config.lr_min)  # annealed on the lowered schedule
    assert load_file(str(out / "last.safetensors"))


def test_lpips_weight_adds_lpips_to_the_training_loss(tmp_path):
    from linksim.metrics import lpips
    from linksim.training.deepjscc import DeepJSCCTrainer

    config = _tiny_config(tmp_path, 2)
    plain = DeepJSCCTrainer(config)
    perceptual = DeepJSCCTrainer(config.model_copy(update={"lpips_weight": 0.5}))
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    expected = (x - y).pow(2).mean() + 0.5 * lpips(x, y).mean()
    assert perceptual._loss(x, y, None).item() == pytest.approx(expected.item(), rel=1e-6)
    assert plain._loss(x, y, None).item() == pytest.approx((x - y).pow(2).mean().item(), rel=1e-6)
    assert perceptual.loss_columns(0.1)[0] == {"loss": 0.1}


def test_training_config_errors_are_one_line(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("train_data: {name: skimage-samples}\neval_data: {name: skimage-samples}\nratios: [1/2]\n")
    with pytest.raises(ScenarioError, match=r"ratio 1/2 needs 48 latent channels > latent_channels=32"):
        load_train_config(path)
    path.write_text("train_data: {name: skimage-samples}\neval_data: {name: skimage-samples}\nstepz: 3\n")
    with pytest.raises(ScenarioError, match=r"train\.yaml:3: stepz: unknown field 'stepz'"):
        load_train_config(path)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A 3-step DeepJSCC checkpoint exported the way zoo entries are."""
    from linksim.zoo import export_checkpoint

    tmp = tmp_path_factory.mktemp("ckpt")
    run = train_deepjscc(_tiny_config(tmp / "run", 3), progress=False)
    path, _ = export_checkpoint(run, "tiny-deepjscc", out_dir=tmp)
    return path


def test_deepjscc_scheme_runs_in_a_sweep(tmp_path, tiny_checkpoint):
    from linksim.scenario import parse_scenario
    from linksim.sweep import run_sweep
    from tests.conftest import small_scenario

    schemes = [{"type": "deepjscc", "checkpoint": str(tiny_checkpoint)}, {"type": "softcast"}]
    result = run_sweep(parse_scenario(small_scenario(tmp_path, schemes=schemes)), progress=False)
    rows = result.rows
    assert set(rows["scheme"]) == {"deepjscc", "softcast"}
    assert set(rows[rows.scheme == "deepjscc"]["channel_uses"]) == {256, 512}
    assert rows["psnr"].notna().all()


def test_deepjscc_scheme_errors(tiny_checkpoint, monkeypatch):
    from linksim import zoo
    from linksim.schemes import DeepJSCCConfig, DeepJSCCScheme, LinkState

    from pydantic import ValidationError

    # refused when the config is validated (so `linksim validate` says it), before any loading
    with pytest.raises(ValidationError, match=r"unknown checkpoint 'nope' \(zoo: .*; or a path to a \.safetensors file\)"):
        DeepJSCCConfig(checkpoint="nope")
    with pytest.raises(ValidationError, match=r"is a diffusion-receiver checkpoint, not a deepjscc one"):
        DeepJSCCConfig(checkpoint=str(zoo.CHECKPOINTS["cifar10-diffusion-v1"].path))
    scheme = DeepJSCCScheme(DeepJSCCConfig(checkpoint=str(tiny_checkpoint)))
    state = LinkState(snr_db=torch.zeros(1), bandwidth_ratio=1 / 5)
    with pytest.raises(zoo.LinksimError, match=r"does not support bandwidth ratio 1/5 \(supported: 1/24, 1/12, 1/8, 1/6, 1/4, 1/3\)"):
        scheme.transmit(torch.rand(1, 3, 32, 32), state)
    with pytest.raises(zoo.LinksimError, match=r"needs image sides that are multiples of 4; the dataset gives 30x32"):
        scheme.transmit(torch.rand(1, 3, 30, 32), LinkState(snr_db=torch.zeros(1), bandwidth_ratio=1 / 6))
    entry = zoo.CheckpointInfo("tiny", tiny_checkpoint.name, "0" * 64, "test entry")
    monkeypatch.setattr(zoo, "CHECKPOINT_DIR", tiny_checkpoint.parent)
    monkeypatch.setitem(zoo.CHECKPOINTS, "tiny", entry)
    with pytest.raises(zoo.LinksimError, match=r"checkpoint 'tiny': .* is corrupt \(SHA-256 mismatch\)"):
        DeepJSCCScheme(DeepJSCCConfig(checkpoint="tiny"))


def test_roi_weighting_counts_its_side_information(tmp_path, tiny_checkpoint):
    from linksim.scenario import parse_scenario
    from linksim.sweep import run_sweep
    from tests.conftest import small_scenario

    data = small_scenario(
        tmp_path, schemes=[{"type": "deepjscc", "checkpoint": str(tiny_checkpoint)}], roi={"source": "centre"},
        sweep={"snr_db": [5], "bandwidth_ratio": ["1/6"], "roi_weight": [0, 2]}, metrics=["roi_psnr", "bg_psnr"],
    )
    rows = run_sweep(parse_scenario(data), progress=False).rows
    bits = rows.groupby("roi_weight")["side_info_bits"].unique()
    assert list(bits[0.0]) == [0] and list(bits[2.0]) == [64 + 16]  # mask bit per latent position + gain


def test_roi_weights_move_power_into_the_roi_and_the_receiver_undoes_them():
    torch.manual_seed(2)
    model = DeepJSCC(latent_channels=32, width=8)
    x, snr, ratio = torch.rand(1, 3, 32, 32), torch.tensor([5.0]), torch.tensor([1 / 3])
    weights = torch.ones(1, 1, 8, 8)
    weights[..., :4, :] = 3.0  # top half of the latent is ROI
    plain = model.encode(x, snr, ratio)
    weighted, amplitude = model.weight_symbols(plain, ratio, weights)
    top = lambda z: torch.view_as_real(z).reshape(1, 32, 8, 8)[..., :4, :].pow(2).sum()  # noqa: E731
    assert top(weighted) > top(plain)  # the ROI gets a larger share of the same power
    assert abs(weighted.abs().pow(2).mean().item() - 1) < 2e-3  # float16 gain: power within 0.2%
    noiseless = torch.full(plain.shape, 1e-10)
    expected = model.decode(plain, noiseless, snr, ratio, (32, 32))
    assert torch.allclose(model.decode(weighted, noiseless, snr, ratio, (32, 32), amplitude), expected, atol=1e-4)


def test_roi_aware_training_draws_masks_and_weights(tmp_path):
    from linksim.training.deepjscc import DeepJSCCTrainer

    config = _tiny_config(tmp_path, 2).model_copy(update={"roi_weights": [0.0, 2.0], "roi_area": (0.2, 0.4)})
    trainer = DeepJSCCTrainer(config)
    weights = trainer._random_roi_weights(64, 8, 8)
    assert weights.shape == (64, 1, 8, 8) and set(weights.unique().tolist()) <= {1.0, 3.0}
    roi_share = (weights > 1).float().mean(dim=(1, 2, 3))
    assert roi_share.max() <= 0.6 and (roi_share > 0).float().mean() > 0.3
    assert trainer.train_step() > 0


def test_roi_aware_encoder_starts_as_the_model_it_was_fine_tuned_from():
    torch.manual_seed(4)
    base = DeepJSCC(latent_channels=32, width=8)
    aware = DeepJSCC(latent_channels=32, width=8, roi_input=True)
    aware.load_expanding(base.state_dict())
    x, snr, ratio = torch.rand(2, 3, 32, 32), torch.tensor([0.0, 10.0]), torch.tensor([1 / 6, 1 / 3])
    weights = 1 + 2.0 * (torch.rand(2, 1, 8, 8) > 0.5).float()
    # zero-initialised ROI input: same symbols with or without a map, and as the base model
    assert torch.allclose(aware.encode(x, snr, ratio, weights), base.encode(x, snr, ratio), atol=1e-6)
    with torch.no_grad():
        aware.encoder.stages[0].conv.weight[:, 3].fill_(0.1)
    assert not torch.allclose(aware.encode(x, snr, ratio, weights), base.encode(x, snr, ratio), atol=1e-3)


def test_roi_loss_weights_roi_pixels(tmp_path):
    from linksim.training.deepjscc import DeepJSCCTrainer

    config = _tiny_config(tmp_path, 2).model_copy(update={"roi_weights": [3.0], "roi_loss": True, "roi_input": True})
    trainer = DeepJSCCTrainer(config)
    images, x_hat = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    weight_map = torch.ones(1, 1, 8, 8)
    weight_map[..., :2, :] = 4.0  # a quarter of the image is ROI, weight 4
    x_hat[..., :8, :] = 0.1  # all the error sits in the ROI
    plain = (x_hat - images).pow(2).mean()
    assert trainer._loss(x_hat, images, weight_map).item() == pytest.approx(plain.item() * 4 / 1.75, rel=1e-5)
    assert trainer.train_step() > 0


def test_a_training_runs_own_checkpoint_works_as_a_schemes_path(tmp_path):
    from linksim.scenario import parse_scenario
    from linksim.sweep import run_sweep

    from conftest import small_scenario

    out = train_deepjscc(_tiny_config(tmp_path / "run", 3), progress=False)
    scenario = small_scenario(tmp_path / "sweep", metrics=["psnr"],
                              schemes=[{"type": "deepjscc", "checkpoint": str(out / "last.safetensors")}],
                              sweep={"snr_db": [10], "bandwidth_ratio": ["1/6"], "roi_weight": [0.0]})
    rows = run_sweep(parse_scenario(scenario), progress=False).rows
    assert len(rows) == 6 * 2 and rows["psnr"].notna().all()


def test_checkpoint_metadata_is_one_typed_card_and_legacy_files_still_load(tiny_checkpoint):
    import json

    from safetensors import safe_open

    from linksim.models.deepjscc import DeepJSCCCard, load_deepjscc
    from linksim.zoo import load_checkpoint

    with safe_open(str(tiny_checkpoint), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["kind"] == "deepjscc" and "latent_channels" not in metadata  # no flat keys any more
    card = DeepJSCCCard.model_validate_json(metadata["deepjscc"])
    assert card.ratios == json.loads(metadata["config"])["ratios"] and load_deepjscc(str(tiny_checkpoint)).card == card
    # the zoo's files predate the card: their flat keys give the same typed card
    legacy = DeepJSCCCard.from_metadata(load_checkpoint("cifar10-deepjscc-v1")[1])
    assert legacy.image_size == 32 and legacy.downsample == 2
    assert load_deepjscc("cifar10-deepjscc-v1").card == legacy
