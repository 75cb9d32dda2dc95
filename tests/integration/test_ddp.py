"""Lightning's own DDP through `trainer=ddp`: two CPU processes (gloo) share out the data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from face_vae.core.models.model_file import load_model
from tests.conftest import FAST_TRAIN, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_cpu_processes_each_train_on_half_the_data_and_one_model_is_written(workdir):
    # 64 training images, batch 16: one process takes 4 steps an epoch, each of two DDP processes 2.
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "train", *FAST_TRAIN]
    # accelerator=cpu: two gloo processes on any machine, a GPU box included (auto would ask for 2 GPUs there).
    command += [
        "data.image_size=64",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=2",
        "+callbacks.probe._target_=tests.probes.ValLossPerRank",  # writes each rank's loss_val
    ]
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
    assert output.count("Prepared 64 train") == 1, "the data is prepared once, not by each rank"
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert run.data.params["resolved.threads"] == str(max(1, len(os.sched_getaffinity(0)) // 2)), "cores per rank"
    ranks = [(workdir / f"val_loss_rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert len(ranks[0]) == 2 and ranks[0] == ranks[1], "both ranks choose best.ckpt on the same, synced loss_val"


def test_processes_started_together_prepare_the_data_once(workdir):
    """torchrun starts every rank at once: one prepares, the others wait on the folder's lock and find it done."""
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "prepare", "data=synthetic", "data.image_size=64"]
    env = subprocess_env(PROJECT_ROOT)
    # pylint: disable-next=consider-using-with  # they must run at the same time; communicate() reaps each
    processes = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=300)[1] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    assert sum(output.count("Prepared 256 train") for output in outputs) == 1, outputs
