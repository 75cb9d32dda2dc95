"""`dvc exp run --temp` and `--queue` run the pipeline in a copy of the project (.dvc/tmp/exps/...) that DVC deletes
afterwards: the MLflow run (params, curves, model) is logged into the project's own store, not the copy's."""

import shutil

from mlflow.tracking import MlflowClient

from face_vae import cli
from tests.conftest import FAST_TRAIN


def test_a_train_in_dvcs_temporary_copy_logs_into_the_projects_store(tmp_path, monkeypatch):
    project = tmp_path / "project"
    copy = project / ".dvc" / "tmp" / "exps" / "tmpa1b2c3"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.setenv("DVC_ROOT", str(project))  # what DVC sets for an experiment's command
    cli.run("train", [*FAST_TRAIN, "model_file=models/smoke.pt", "tracking.registered_model=null"])
    shutil.rmtree(project / ".dvc" / "tmp")  # as DVC does once the experiment ends
    assert not (copy / "mlflow.db").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert run.info.status == "FINISHED" and "model.optimizer.lr" in run.data.params
    assert client.get_metric_history(run.info.run_id, "loss_val")
    assert (project / "mlruns").is_dir() and any((project / "mlruns").rglob("smoke.pt"))


def test_outside_a_temporary_copy_dvc_root_changes_nothing(workdir, monkeypatch):
    from face_vae.tracking.server import TrackingSettings, tracking_uri

    monkeypatch.setenv("DVC_ROOT", str(workdir))  # `dvc repro` or `dvc exp run` in the workspace itself
    assert tracking_uri(TrackingSettings(experiment="train_VAE")) == f"sqlite:///{workdir.resolve()}/mlflow.db"
