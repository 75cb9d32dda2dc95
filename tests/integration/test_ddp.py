"""Lightning's own DDP through `trainer=ddp`: two CPU processes (gloo) share out the data."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from face_vae.models.model_file import load_model
from tests.conftest import FAST_TRAIN, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_cpu_processes_each_train_on_half_the_data_and_one_model_is_written(workdir):
    # 64 training images, batch 16: one process takes 4 steps an epoch, each of two DDP processes 2.
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "train", *FAST_TRAIN]
    command += ["data.image_size=64", "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=2"]
    env = subprocess_env(PROJECT_ROOT)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    assert "distributed_backend=gloo" in output

    checkpoint = torch.load(workdir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2 * 2, "each process saw its own half of the 64 images every epoch"
    assert [path.name for path in (workdir / "models").iterdir()] == ["vae.pt"]
    assert output.count("Saved the model to") == 1
    load_model(workdir / "models" / "vae.pt")
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    assert len(client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])) == 1
