"""Two runs never write one checkpoints folder or model file; checkpoints carry their run, and a fresh run never
adopts an older one's."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from face_vae import cli
from tests.conftest import FAST_TRAIN, error_line, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- two runs never write one folder or model file ----------------------------------------------------------


def _hold_in_another_process(*paths: Path) -> subprocess.Popen:
    """A process that holds the run locks of `paths` (as a train would) until it is killed."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom face_vae import locks\n"
        "with locks.holding({f'path{i}': Path(p) for i, p in enumerate(sys.argv[1:])}):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n"
    )
    holder = subprocess.Popen(  # pylint: disable=consider-using-with  # killed by the caller
        [sys.executable, "-c", code, *map(str, paths)], env=subprocess_env(PROJECT_ROOT), stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"held"
    return holder


@pytest.mark.parametrize("key", ["checkpoints_dir", "model_file"])
def test_a_second_run_on_the_same_folder_or_model_file_is_refused_at_once(workdir, capsys, key):
    held = workdir / ("checkpoints" if key == "checkpoints_dir" else "models/vae.pt")
    holder = _hold_in_another_process(held)
    try:
        line = error_line(capsys, "train", NO_TRACKING)
    finally:
        holder.kill()
        holder.wait()
    assert line.startswith(f"error: {key}=") and "is in use by another face_vae run (process" in line, line
    assert not (workdir / "models" / "vae.pt").exists(), "nothing was trained"


@pytest.mark.slow
def test_commands_started_together_on_a_new_store_all_create_it(workdir):
    code = (
        "import sys\nfrom face_vae.core.config import compose\nfrom face_vae.stages.shared import tracking_uri\n"
        "from mlflow import MlflowClient\n"
        "uri = tracking_uri(compose('infer'))\nMlflowClient(tracking_uri=uri).search_experiments()\n"
    )
    runs = [
        subprocess.Popen(  # pylint: disable=consider-using-with  # waited for below
            [sys.executable, "-c", code], cwd=workdir, env=subprocess_env(PROJECT_ROOT), stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    errors = [run.communicate(timeout=300)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, errors


# ---- checkpoints carry their run; a fresh run never adopts an older one's ------------------------------------


def test_a_fresh_run_sets_an_older_runs_checkpoints_aside_and_resume_continues_only_its_own(workdir, capsys):
    cli.run("train", [*NO_TRACKING, "seed=1", "trainer.max_epochs=2"])
    seed_one = torch.load(workdir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    error_line(capsys, "train", [*NO_TRACKING, "seed=2", "model.optimizer.lr=1e9"])  # stops on a NaN loss
    aside = [path for path in workdir.iterdir() if path.name.startswith("checkpoints.previous-")]
    assert len(aside) == 1 and (aside[0] / "last.ckpt").is_file(), "seed 1's checkpoints were moved, not lost"
    own = workdir / "checkpoints" / "last.ckpt"
    if own.is_file():  # the NaN came after a checkpoint: it is seed 2's own
        assert torch.load(own, map_location="cpu", weights_only=True)["face_vae_run"] != seed_one["face_vae_run"]
    else:
        line = error_line(capsys, "train", [*NO_TRACKING, "seed=2", "resume=true"])
        assert line.startswith("error: resume=true but there is no checkpoints/last.ckpt")
    cli.run("train", [*NO_TRACKING, "seed=1", "trainer.max_epochs=3", "resume=true", f"checkpoints_dir={aside[0]}"])
    resumed = torch.load(aside[0] / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["epoch"] > seed_one["epoch"] and resumed["face_vae_run"] == seed_one["face_vae_run"]


def test_resume_refuses_a_checkpoint_another_run_wrote(workdir, capsys):
    cli.run("train", [*NO_TRACKING, "checkpoints_dir=a"])
    cli.run("train", [*NO_TRACKING, "checkpoints_dir=b"])
    shutil.copy(workdir / "a" / "last.ckpt", workdir / "b" / "last.ckpt")
    line = error_line(capsys, "train", [*NO_TRACKING, "checkpoints_dir=b", "resume=true", "trainer.max_epochs=2"])
    assert "b/last.ckpt was written by run" in line and "b/run.json" in line, line
