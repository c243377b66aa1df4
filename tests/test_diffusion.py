"""The diffusion receiver: denoiser, sampling pipeline, training, scheme and its one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from linksim.cli import main
from linksim.errors import LinksimError
from linksim.models.diffusion import ConditionalDenoiser, Conditioning, DenoiserConfig
from linksim.pipelines.diffusion import DiffusionReceiverPipeline, sampling_scheduler, training_scheduler
from linksim.schemes import DiffusionConfig, DiffusionScheme, LinkState
from linksim.training.diffusion import DiffusionTrainConfig, train_diffusion
from linksim.zoo import load_checkpoint

from conftest import small_scenario

TINY = {"block_out_channels": [16, 32], "cond_channels": 8, "cond_hidden": 16, "norm_num_groups": 8}


def tiny_train_config(out, steps: int = 4, **overrides) -> DiffusionTrainConfig:
    data = {
        "name": "tiny-diffusion",
        "train_data": {"name": "skimage-samples", "image_size": 32, "num_images": 32},
        "eval_data": {"name": "skimage-samples", "image_size": 32, "num_images": 4, "subset_seed": 5},
        "model": TINY, "steps": steps, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2,
        "log_every": 1, "eval_steps": 2, "out": str(out), "device": "cpu", **overrides,
    }
    return DiffusionTrainConfig.model_validate(data)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion-run")
    train_diffusion(tiny_train_config(out), progress=False)
    return out / "last.safetensors"


def test_patches_are_an_exact_rearrangement_and_shapes_hold():
    torch.manual_seed(0)
    model = ConditionalDenoiser(DenoiserConfig(**TINY))
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(model.from_patches(model.to_patches(x)), x)
    latent = torch.randn(3, 32, 8, 8)
    cond = model.condition(latent, latent.abs(), torch.ones_like(latent), torch.zeros(3), torch.full((3,), 1 / 6), x)
    assert cond.features.shape == (3, 8 + 12, 16, 16)
    assert model(x * 2 - 1, torch.tensor([0, 500, 999]), cond).shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="patch"):
        DenoiserConfig(patch=3)


class _KnowsTheImage(torch.nn.Module):
    """A 'denoiser' that knows the clean image and returns the exact v target for any x_t."""

    def __init__(self, clean: torch.Tensor, scheduler) -> None:
        super().__init__()
        self.clean, self.alphas = clean, scheduler.alphas_cumprod
        self.config = DenoiserConfig(image_size=clean.shape[-1])

    def image_shape(self, cond):
        return tuple(self.clean.shape[-2:])

    def forward(self, x_t, t, cond):
        a = self.alphas[t].sqrt()[:, None, None, None]
        s = (1 - self.alphas[t]).sqrt()[:, None, None, None]
        noise = (x_t - a * self.clean) / s
        return a * noise - s * self.clean


@pytest.mark.parametrize("sampler, eta", [("ddim", 0.0), ("ddim", 1.0), ("dpm-solver", 0.0)])
@pytest.mark.parametrize("strength", [1.0, 0.4])
def test_pipeline_with_a_perfect_denoiser_returns_the_image(sampler, eta, strength):
    """The scheduler wiring (timesteps, SDEdit start, v-prediction) is exact: a denoiser that
    predicts the true v makes every sampler land on the clean image, for any step count."""
    torch.manual_seed(1)
    clean = torch.rand(2, 3, 8, 8)
    train = training_scheduler()
    denoiser = _KnowsTheImage(clean * 2 - 1, train)
    cond = Conditioning(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4))
    for steps in (1, 3, 7):
        pipeline = DiffusionReceiverPipeline(denoiser, sampling_scheduler(sampler, train.config))
        out = pipeline(cond, steps, strength, estimate=torch.rand(2, 3, 8, 8), generator=torch.Generator().manual_seed(0),
                       eta=eta)
        assert torch.allclose(out, clean, atol=2e-3), (steps, (out - clean).abs().max())


def test_pipeline_is_deterministic_for_a_generator_and_checks_its_arguments():
    torch.manual_seed(2)
    model = ConditionalDenoiser(DenoiserConfig(**TINY)).eval()
    latent = torch.randn(2, 32, 8, 8)
    estimate = torch.rand(2, 3, 32, 32)
    cond = model.condition(latent, latent.abs(), torch.ones_like(latent), torch.zeros(2), torch.full((2,), 1 / 6), estimate)
    pipeline = DiffusionReceiverPipeline(model, sampling_scheduler("ddim", training_scheduler().config))
    first = pipeline(cond, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, pipeline(cond, 3, generator=torch.Generator().manual_seed(5)))
    assert not torch.equal(first, pipeline(cond, 3, generator=torch.Generator().manual_seed(6)))
    with pytest.raises(ValueError, match="steps"):
        pipeline(cond, 0)
    with pytest.raises(ValueError, match="estimate"):
        pipeline(cond, 2, strength=0.5)
    stochastic = pipeline(cond, 3, generator=torch.Generator().manual_seed(5), eta=1.0)
    assert torch.equal(stochastic, pipeline(cond, 3, generator=torch.Generator().manual_seed(5), eta=1.0))
    assert not torch.equal(stochastic, first)


def test_training_resumes_exactly(tmp_path):
    straight = train_diffusion(tiny_train_config(tmp_path / "a", steps=4), progress=False)
    train_diffusion(tiny_train_config(tmp_path / "b", steps=2), progress=False)
    resumed = train_diffusion(tiny_train_config(tmp_path / "b", steps=4), resume=True, progress=False)
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    header = (straight / "eval.csv").read_text().splitlines()[0]
    assert header == "step,ratio,snr_db,psnr,lpips,deepjscc_psnr,deepjscc_lpips"


def test_scheme_refuses_a_deepjscc_it_was_not_trained_on(tiny_checkpoint):
    with pytest.raises(LinksimError, match="trained on DeepJSCC 'cifar10-deepjscc-v1'.*deepjscc_checkpoint: cifar10-deepjscc-v1"):
        DiffusionScheme(DiffusionConfig(checkpoint=str(tiny_checkpoint), deepjscc_checkpoint="cifar10-deepjscc-v2"))
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="is a deepjscc checkpoint, not a diffusion-receiver one"):
        DiffusionConfig(checkpoint="cifar10-deepjscc-v1")  # refused when validated, before loading


def test_scheme_samples_reproducibly_over_any_channel(tiny_checkpoint):
    scheme = DiffusionScheme(DiffusionConfig(checkpoint=str(tiny_checkpoint), steps=2, strength=0.5))
    images = torch.rand(3, 3, 32, 32)
    state = LinkState(snr_db=torch.full((3,), 5.0), bandwidth_ratio=1 / 6)
    tx = scheme.transmit(images, state)
    assert tx.symbols.shape == (3, 512)
    noise_var = torch.full(tx.symbols.shape, 0.3)
    outputs = []
    for _ in range(2):
        torch.manual_seed(9)
        outputs.append(scheme.receive(tx.symbols, noise_var, tx, state))
    assert outputs[0].shape == images.shape and torch.equal(outputs[0], outputs[1])


@pytest.mark.parametrize("entry, message", [
    ({"steps": 0}, "steps"),
    ({"sampler": "euler"}, "sampler"),
    ({"strength": 1.5}, "strength"),
    ({"sampler": "dpm-solver", "eta": 1.0}, "eta"),
    ({"sampler": "dpm-solver", "guidance": 1.0}, "guidance"),
    ({"guidance": -1}, "guidance"),
])
def test_bad_sampler_options_are_one_line_exit_2(tmp_path, write_scenario, capsys, entry, message):
    data = small_scenario(tmp_path, schemes=[{"name": "d", "type": "diffusion", **entry}])
    assert main(["validate", str(write_scenario(data))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_mismatched_pair_is_exit_2_in_a_run(tmp_path, write_scenario, capsys, tiny_checkpoint):
    data = small_scenario(tmp_path, schemes=[{"name": "d", "type": "diffusion", "checkpoint": str(tiny_checkpoint),
                                              "deepjscc_checkpoint": "cifar10-deepjscc-v2"}])
    assert main(["run", str(write_scenario(data)), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cifar10-deepjscc-v1" in err


def finetune_config(out, init, steps: int, **overrides) -> DiffusionTrainConfig:
    config = tiny_train_config(out, steps=steps, eval_strength=0.5, **overrides).model_dump(exclude={"model"})
    config["finetune"] = {"init_checkpoint": str(init), "steps": 2, "strength": 0.5}
    return DiffusionTrainConfig.model_validate(config)


def test_finetuning_through_the_sampler_lowers_its_loss_and_records_its_origin(tmp_path, tiny_checkpoint):
    from linksim.training.diffusion import DiffusionTrainer
    from linksim.zoo import checkpoint_sha256
    # Overfit one fixed batch: the receiver's sampling loss (same noise draws) must fall.
    trainer = DiffusionTrainer(finetune_config(tmp_path / "ft", tiny_checkpoint, steps=30, lr=1e-3, warmup_steps=0))
    batch = trainer._batch()
    trainer._batch = lambda: batch

    def sampler_loss() -> float:
        trainer.generator.manual_seed(3)
        with torch.no_grad():
            return trainer._sampler_loss(batch[0], *trainer._condition(*batch)).item()

    before = sampler_loss()
    for _ in range(30):
        trainer.generator.manual_seed(3)
        trainer.train_step()
    assert sampler_loss() < 0.8 * before
    trainer.save()
    metadata = load_checkpoint(str(tmp_path / "ft" / "last.safetensors"))[1]
    assert metadata["init_sha256"] == checkpoint_sha256(str(tiny_checkpoint))
    assert '"strength":0.5' in metadata["finetune"] and metadata["denoiser"] == load_checkpoint(str(tiny_checkpoint))[1]["denoiser"]


def test_finetuning_resumes_exactly(tmp_path, tiny_checkpoint):
    straight = train_diffusion(finetune_config(tmp_path / "a", tiny_checkpoint, 4), progress=False)
    train_diffusion(finetune_config(tmp_path / "b", tiny_checkpoint, 2), progress=False)
    resumed = train_diffusion(finetune_config(tmp_path / "b", tiny_checkpoint, 4), resume=True, progress=False)
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    init = load_file(str(tiny_checkpoint))
    assert not all(torch.equal(a[k], init[k]) for k in a)


@pytest.mark.parametrize("change, message", [({"model": {"patch": 3}}, "patch"),
                                             ({"timestep_range": [500, 100]}, "timestep_range"),
                                             ({"eval_sampler": "euler"}, "eval_sampler"),
                                             ({"finetune": {"init_checkpoint": "x", "sampler": "euler"}}, "finetune.sampler"),
                                             ({"finetune": {"init_checkpoint": "x"}, "model": {"patch": 2}}, "leave model out")])
def test_train_diffusion_cli_rejects_bad_config(tmp_path, capsys, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"train_data": {"name": "skimage-samples"}, "eval_data": {"name": "skimage-samples"},
                                    **change}))
    assert main(["train", "diffusion", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_scheme_runs_over_every_channel_of_the_channel_layer(tmp_path, tiny_checkpoint):
    from linksim.scenario import parse_scenario
    from linksim.sweep import run_sweep

    data = small_scenario(tmp_path, channel=[{"type": "awgn"}, {"type": "rayleigh", "csi": "estimated"},
                                             {"type": "ofdm", "model": "TDL-A"}],
                          schemes=[{"name": "d", "type": "diffusion", "checkpoint": str(tiny_checkpoint), "steps": 2}],
                          sweep={"snr_db": [5], "bandwidth_ratio": ["1/6"]}, monte_carlo={"trials": 1, "batch_size": 4})
    rows = run_sweep(parse_scenario(data), progress=False).rows
    assert sorted(rows["channel"].unique()) == ["awgn", "ofdm", "rayleigh"]
    assert rows["psnr"].notna().all() and len(rows) == 3 * 6


def test_a_residual_denoiser_starts_as_the_deepjscc_receiver(tiny_checkpoint):
    """Re-parametrised as a residual (x0-prediction, output layer zeroed), the denoiser returns the
    DeepJSCC estimate exactly, from any noise and strength: fine-tuning starts from DeepJSCC."""
    from linksim.models.diffusion import load_denoiser

    loaded = load_denoiser(str(tiny_checkpoint))
    model = loaded.model.as_residual()
    assert model.config.residual and model.prediction_type == "sample" and loaded.model.prediction_type is None
    assert all(torch.equal(p, model.state_dict()[k]) for k, p in loaded.model.state_dict().items() if "conv_out" not in k)
    torch.manual_seed(4)
    latent, estimate = torch.randn(2, 32, 8, 8), torch.rand(2, 3, 32, 32)
    cond = model.condition(latent, latent.abs(), torch.ones_like(latent), torch.zeros(2), torch.full((2,), 1 / 6), estimate)
    schedule = training_scheduler(loaded.scheduler_config, model.prediction_type).config
    for strength, steps in [(0.5, 2), (0.3, 3), (1.0, 1)]:
        out = DiffusionReceiverPipeline(model, sampling_scheduler("ddim", schedule))(
            cond, steps, strength, estimate, generator=torch.Generator().manual_seed(steps))
        assert torch.allclose(out, estimate, atol=1e-5), (strength, (out - estimate).abs().max())
    with pytest.raises(ValueError, match="use_estimate"):
        DenoiserConfig(residual=True, use_estimate=False)


def test_residual_finetune_saves_an_x0_checkpoint_and_a_mismatched_schedule_is_refused(tmp_path, tiny_checkpoint):
    from safetensors.torch import save_file

    from linksim.models.diffusion import load_denoiser

    config = finetune_config(tmp_path / "res", tiny_checkpoint, 2).model_dump()
    config["finetune"]["residual"] = True
    out = train_diffusion(DiffusionTrainConfig.model_validate(config), progress=False)
    loaded = load_denoiser(str(out / "last.safetensors"))
    assert loaded.model.config.residual and loaded.scheduler_config["prediction_type"] == "sample"
    assert DiffusionScheme(DiffusionConfig(checkpoint=str(out / "last.safetensors"))).denoiser.config.residual
    weights, metadata = load_checkpoint(str(out / "last.safetensors"))
    schedule = {**loaded.scheduler_config, "prediction_type": "v_prediction"}
    save_file(weights, str(tmp_path / "bad.safetensors"), {**metadata, "scheduler": json.dumps(schedule)})
    with pytest.raises(LinksimError, match="predicts 'sample' but its schedule says 'v_prediction'"):
        load_denoiser(str(tmp_path / "bad.safetensors"))


class _HalfBelieves(_KnowsTheImage):
    """Predicts (as v) the clean image ``(clean + x_t / sqrt(alpha_bar)) / 2``: it depends on x_t."""

    def forward(self, x_t, t, cond):
        a = self.alphas[t].sqrt()[:, None, None, None]
        s = (1 - self.alphas[t]).sqrt()[:, None, None, None]
        x0 = (self.clean + x_t / a) / 2
        return (a * x_t - x0) / s


def test_channel_likelihood_guidance_pulls_samples_towards_what_was_received():
    """DPS with a denoiser that half believes in the wrong image (its clean-image prediction is the
    mean of the wrong image and what x_t says): guided sampling lands measurably closer to an image
    consistent with the received symbols, more so with a larger scale; scale 0 is exactly
    unguided sampling."""
    from linksim.models.channel_guidance import ChannelLikelihoodGuidance

    torch.manual_seed(6)
    truth, wrong = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    train = training_scheduler()
    denoiser = _HalfBelieves(wrong * 2 - 1, train)
    cond = Conditioning(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4))
    matrix = torch.randn(192, 48, dtype=torch.complex64) / 192**0.5  # a linear 'transmitter'

    def send(images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1).to(torch.complex64) @ matrix

    noise_var = torch.full((2, 48), 1e-3)
    y = send(truth) + (noise_var / 2).sqrt() * torch.randn(2, 48, dtype=torch.complex64)
    distances = []
    for scale in (0.0, 0.03, 0.3):
        guidance = ChannelLikelihoodGuidance(send, y, noise_var, scale)
        pipeline = DiffusionReceiverPipeline(denoiser, sampling_scheduler("ddim", train.config))
        out = pipeline(cond, 10, generator=torch.Generator().manual_seed(0), guidance=guidance)
        distances.append(guidance.distance(out).mean().item())
        if scale == 0:
            unguided = pipeline(cond, 10, generator=torch.Generator().manual_seed(0))
            assert torch.equal(out, unguided)
    assert distances[2] < distances[1] < distances[0] and distances[2] < 0.7 * distances[0], distances
    with pytest.raises(ValueError, match="ddim"):
        DiffusionReceiverPipeline(denoiser, sampling_scheduler("dpm-solver", train.config))(cond, 2, guidance=guidance)


def test_guided_scheme_output_is_closer_to_the_received_symbols(tiny_checkpoint):
    from linksim.models.channel_guidance import ChannelLikelihoodGuidance

    plain = DiffusionScheme(DiffusionConfig(checkpoint=str(tiny_checkpoint), steps=3, strength=0.6))
    guided = DiffusionScheme(DiffusionConfig(checkpoint=str(tiny_checkpoint), steps=3, strength=0.6, guidance=0.02))
    torch.manual_seed(8)
    images = torch.rand(4, 3, 32, 32)
    state = LinkState(snr_db=torch.full((4,), 10.0), bandwidth_ratio=1 / 6)
    tx = plain.transmit(images, state)
    noise_var = torch.full(tx.symbols.shape, 0.1)
    y = tx.symbols + (noise_var / 2).sqrt() * torch.randn(tx.symbols.shape, dtype=tx.symbols.dtype)
    measure = ChannelLikelihoodGuidance(lambda x: plain.transmit(x, state).symbols, y, noise_var, 1.0)
    with torch.no_grad():
        torch.manual_seed(9)  # the same starting noise for both
        before = measure.distance(plain.receive(y, noise_var, tx, state))
        torch.manual_seed(9)
        after = measure.distance(guided.receive(y, noise_var, tx, state))
    assert after.mean() < before.mean(), (before, after)
