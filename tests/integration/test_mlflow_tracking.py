"""MLflow: a real `mlflow server` on loopback, the embedded store, and a server that does not answer."""

import subprocess
from pathlib import Path

import mlflow.artifacts
import pytest
from mlflow.tracking import MlflowClient

from face_vae import cli
from tests.conftest import FAST_TRAIN, free_port


def _commit_everything(folder) -> str:
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x", "--allow-empty"],
    ):
        subprocess.run(["git", *args], cwd=folder, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=folder, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_train_and_infer_runs_on_a_server_hold_params_curves_grids_and_model(workdir, mlflow_server):
    commit = _commit_everything(workdir)
    throughput_every_2_steps = "callbacks.throughput.window_size=2"  # the default 10 is more steps than this run has
    cli.run("train", [*FAST_TRAIN, "trainer.max_epochs=2", throughput_every_2_steps, f"tracking.uri={mlflow_server}"])
    cli.run("infer", ["n=3", f"tracking.uri={mlflow_server}"])

    client = MlflowClient(tracking_uri=mlflow_server)
    train_experiment = client.get_experiment_by_name("train_VAE")
    (train_run,) = client.search_runs([train_experiment.experiment_id])
    params = train_run.data.params
    assert params["git_commit"] == commit and params["git_dirty"] in {"True", "False"}
    assert (
        params["model.net.latent_dim"] == "16"
        and params["trainer.max_epochs"] == "2"
        and params["data.kind"] == "synthetic"
    )
    assert "version.torch" in params
    assert "data_dvc_md5" not in params, "synthetic data does not come from data.dvc"
    assert "None" not in params.values(), "a null value is left out, not logged as the string 'None'"
    assert params["model_file"] == "models/vae.pt", "model_file=null logged as the file it chose"
    assert params["data_source"] == "synthetic" and len(params["prepared_data_md5"]) == 32
    (data_input,) = train_run.inputs.dataset_inputs  # the data as MLflow's dataset input
    assert data_input.dataset.name == "synthetic" and data_input.dataset.digest == params["prepared_data_md5"]
    assert params["resolved.precision"] == params["runtime.precision"] != "auto"
    assert params["resolved.cpu_capability"] and params["resolved.threads"].isdigit()
    for curve in ("loss_train_step", "reconstruction_train_step", "kl_train_step"):
        assert len(client.get_metric_history(train_run.info.run_id, curve)) >= 4, curve
    for curve in ("loss_train_epoch", "loss_val", "kl_val", "reconstruction_val", "elapsed_s", "epoch_time_s"):
        assert len(client.get_metric_history(train_run.info.run_id, curve)) == 2, curve
    images_per_s = client.get_metric_history(train_run.info.run_id, "train/device/samples_per_sec")
    assert images_per_s and all(metric.value > 0 for metric in images_per_s), "Lightning's ThroughputMonitor logs"

    def artifacts(run_id, path=None):
        return {item.path for item in client.list_artifacts(run_id, path)}

    run_id = train_run.info.run_id
    assert len(artifacts(run_id, "plots")) >= 3
    # One key per series with a step per epoch (the UI's slider): MLflow names the files KEY+step+N+timestamp+...
    images = {tuple(path.split("/")[-1].split("+")[0:3:2]) for path in artifacts(run_id, "images")}
    assert images >= {("samples", "0"), ("samples", "1"), ("reconstructions", "1")}, images
    assert {"files/vae.pt", "files/last.ckpt", "files/best.ckpt"} <= artifacts(run_id, "files")
    assert "config.yaml" in artifacts(run_id)
    models = client.search_logged_models([train_experiment.experiment_id])
    assert [model.source_run_id for model in models] == [run_id]

    (infer_run,) = client.search_runs([client.get_experiment_by_name("infer_VAE").experiment_id])
    assert infer_run.data.params["n"] == "3" and infer_run.data.params["git_commit"] == commit
    assert infer_run.data.metrics["faces_per_s"] > 0
    assert "faces/grid.jpg" in artifacts(infer_run.info.run_id, "faces")


def test_a_server_that_does_not_answer_is_one_clear_error(workdir, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as exit_info:
        cli.run("train", [*FAST_TRAIN, f"tracking.uri={uri}", "tracking.health_timeout_s=1"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "Prepared" not in err, "it stops before any work"
    assert err.splitlines()[-1].startswith(f"error: The MLflow server {uri} does not answer") and "mlflow server" in err
    assert not (workdir / "models").exists(), "nothing was trained"


def test_fallback_local_logs_to_the_embedded_store_when_the_server_is_down(workdir):
    uri = f"http://127.0.0.1:{free_port()}"
    cli.run(
        "train", [*FAST_TRAIN, f"tracking.uri={uri}", "tracking.fallback_local=true", "tracking.health_timeout_s=1"]
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    assert client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])


def test_lightning_loads_a_checkpoint_and_the_served_requirements_have_no_local_labels(workdir):
    from face_vae.core.models.vae_module import VAEModule

    cli.run("train", FAST_TRAIN)
    module = VAEModule.load_from_checkpoint(workdir / "checkpoints" / "last.ckpt", map_location="cpu")
    assert module.hparams.net["config"]["latent_dim"] == 16 and module.network.latent_dim == 16
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (model,) = client.search_logged_models([client.get_experiment_by_name("train_VAE").experiment_id])
    folder = mlflow.artifacts.download_artifacts(artifact_uri=model.artifact_location, dst_path=str(workdir / "m"))
    requirements = (Path(folder) / "requirements.txt").read_text().split()
    assert any(line.startswith("torch==") for line in requirements) and not any("+" in line for line in requirements)
