"""An MLflow server that stops answering mid-run costs a warning, not the run; one that accepts and never
answers is one sentence within the health timeout."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import faults
from tests.conftest import FAST_TRAIN, error_line, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- a server that stops answering mid-run ------------------------------------------------------------------


@pytest.mark.slow
def test_a_server_that_stops_answering_costs_a_warning_not_the_run(workdir, mlflow_server):
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "train", *FAST_TRAIN, "data.image_size=32"]
    command += ["trainer.max_epochs=8", f"tracking.uri={mlflow_server}"]
    env = subprocess_env(PROJECT_ROOT) | {"MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}  # the user's value wins over the 10 s
    with subprocess.Popen(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True) as run:
        lines = []
        for line in run.stderr:
            lines.append(line)
            if line.startswith("epoch 2/8"):
                break
        os.killpg(mlflow_server.process.pid, signal.SIGSTOP)  # the server and its workers
        stopped = time.monotonic()
        lines += run.stderr.readlines()
        assert run.wait(timeout=300) == 0, "".join(lines)[-3000:]
    waited = time.monotonic() - stopped
    output = "".join(lines)
    assert output.count("The MLflow server stopped answering") == 1, output[-3000:]
    assert waited < 120, f"{waited:.0f} s after the server stopped"
    assert (workdir / "models" / "vae.pt").is_file() and "Saved the model to models/vae.pt" in output
    kept = (workdir / "checkpoints" / "unsent_metrics.jsonl").read_text().splitlines()
    assert {json.loads(line)["key"] for line in kept} >= {"loss_val", "loss_train_epoch"}
    assert "lacks the trained model" in output


def test_a_server_that_accepts_and_never_answers_is_one_sentence_within_the_health_timeout(workdir, capsys):
    with faults.silent_server() as uri:
        start = time.monotonic()
        line = error_line(capsys, "train", [*FAST_TRAIN, f"tracking.uri={uri}", "tracking.health_timeout_s=2"])
    assert line.startswith(f"error: The MLflow server {uri} does not answer") and time.monotonic() - start < 30


# ---- a store that cannot be written, a database without its driver: one sentence before any work -------------


@pytest.mark.parametrize("fault", [faults.read_only, faults.disk_full])
def test_a_local_store_that_cannot_be_written_stops_train_before_any_work(workdir, capsys, monkeypatch, fault):
    (workdir / "store").mkdir()
    fault(monkeypatch, workdir / "store")
    line = error_line(capsys, "train", [*FAST_TRAIN, "tracking.uri=sqlite:///store/mlflow.db"])
    assert line.startswith(f"error: The MLflow store sqlite:///{workdir / 'store' / 'mlflow.db'} cannot be written")
    assert not (workdir / "prepared").exists() and not (workdir / "checkpoints").exists()


@pytest.mark.skipif(__import__("importlib").util.find_spec("psycopg") is not None, reason="a driver is installed")
def test_a_database_store_without_its_driver_stops_infer_before_any_face_is_written(workdir, capsys):
    line = error_line(capsys, "infer", ["tracking.uri=postgresql://alice:s3cret@127.0.0.1/mlflow"])
    assert line == (
        "error: tracking.uri=postgresql://***@127.0.0.1/mlflow needs the database driver 'psycopg', which is not "
        "installed: `pip install psycopg[binary]`, or log to sqlite:///mlflow.db."
    )
    assert not (workdir / "result").exists()


def test_an_experiment_name_mlflow_cannot_store_is_refused_in_a_short_sentence(workdir, capsys):
    line = error_line(capsys, "infer", [f"tracking.experiment={'x' * 600}"])
    assert "tracking.experiment must be a name of at most 500 characters" in line and len(line) < 250
