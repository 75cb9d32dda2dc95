"""`train -m key=a,b`: every combination checked first, each trained as a child of one parent MLflow run, ranked."""

import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.conftest import FAST_TRAIN, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
SMALL = [word for word in FAST_TRAIN if not word.startswith("model.net.latent_dim")]


def _train(workdir: Path, *words: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "commands.py"), "train", *words]
    return subprocess.run(command, cwd=workdir, env=subprocess_env(ROOT), capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip


def test_a_sweep_trains_each_combination_under_one_parent_run_and_ranks_them(workdir):
    done = _train(workdir, "-m", "model.net.latent_dim=8,16", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 runs ranked by best validation loss" in done.stdout and "Best: run " in done.stdout, done.stdout
    ranked = [line.split() for line in done.stdout.splitlines() if line.strip().startswith(("1 ", "2 "))]
    losses = [float(row[2]) for row in ranked]
    assert losses == sorted(losses) and {row[3] for row in ranked} == {
        "model.net.latent_dim=8",
        "model.net.latent_dim=16",
    }
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    parents = [run for run in runs if "face_vae.sweep" in run.data.tags]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == 2
    assert sorted(run.data.params["model.net.latent_dim"] for run in children) == ["16", "8"]
    assert parents[0].info.status == "FINISHED" and abs(parents[0].data.metrics["best_loss_val"] - losses[0]) < 1e-3
    assert len(list(workdir.glob("sweeps/*/*/vae.pt"))) == 2 and not (workdir / "models").exists()


def test_a_bad_value_in_any_combination_stops_the_sweep_before_the_first_run(workdir):
    done = _train(workdir, "-m", "model.net.latent_dim=8,-4", *SMALL, "tracking.enabled=false")
    assert done.returncode == 1 and "model.net.latent_dim must be" in done.stderr, done.stderr[-2000:]
    assert not (workdir / "sweeps").exists() and not (workdir / "prepared").exists()
