"""`train -m key=a,b`: every combination checked first, each trained as a child of one parent MLflow run, ranked."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
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


@pytest.mark.parametrize(
    "words, said",
    [
        (["seed=1,2", "seed=3,4"], "seed given twice in the sweep"),
        (["seed=1,2", "model_file=models/mine.pt"], "train -m gives every run its own model_file and checkpoints_dir"),
        (["seed=range(0,100000000)"], "The sweep has more than 1,000 runs"),
    ],
    ids=["a key twice", "one model_file for all", "a hundred million runs"],
)
def test_a_sweep_that_cannot_run_as_meant_is_refused_before_any_work(workdir, words, said):
    started = time.perf_counter()
    done = _train(workdir, "-m", *words, *SMALL, "tracking.enabled=false")
    assert done.returncode == 1 and f"error: {said}" in done.stderr, done.stderr[-2000:]
    assert time.perf_counter() - started < 60 and not (workdir / "sweeps").exists()


def test_a_sweep_whose_runs_fail_says_so_and_exits_1(workdir):
    small = [word for word in SMALL if not word.startswith("data.batch_size")]
    done = _train(workdir, "-m", "data.batch_size=100,200", *small, "tracking.enabled=false")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "error: 2 of the sweep's 2 runs failed" in done.stderr


def test_sigterm_stops_the_whole_sweep(workdir):
    command = [sys.executable, str(ROOT / "commands.py"), "train", "-m", "seed=1,2,3", *SMALL, "tracking.enabled=false"]
    with subprocess.Popen(command, cwd=workdir, env=subprocess_env(ROOT), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:  # fmt: skip
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "Training: " in line:  # the first run is fitting
                process.send_signal(signal.SIGTERM)
                break
        rest = process.communicate(timeout=300)[0]
    assert process.returncode in (130, 143), "".join(seen) + rest  # Lightning reports a SIGTERM as an interrupt
    assert "Sweep run 2/3" not in rest, rest[-2000:]


def test_two_sweeps_started_in_the_same_second_get_their_own_folders(workdir, monkeypatch):
    from face_vae import sweep

    monkeypatch.setattr(sweep.time, "strftime", lambda *args: "20261206-120000")
    folders = [sweep._new_sweep_folder() for _ in range(2)]  # pylint: disable=protected-access
    assert folders == ["20261206-120000", "20261206-120000-2"]
