"""Every bad input a user can make costs one readable line; crashes never cost finished work."""

import errno
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from face_vae import cli, outputs
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import load_model
from face_vae.core.models.priors import StandardNormal
from tests.conftest import FAST_TRAIN, error_line, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


def test_a_non_finite_loss_stops_training_naming_the_step_and_keeps_the_saved_model(workdir, capsys):
    cli.run("train", NO_TRACKING)
    saved = (workdir / "models" / "vae.pt").read_bytes()
    line = error_line(capsys, "train", [*NO_TRACKING, "model.optimizer.lr=1e8", "trainer.max_epochs=3"])
    assert re.search(r"The training loss became (nan|inf|-inf) at step \d+", line)
    assert (workdir / "models" / "vae.pt").read_bytes() == saved


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=ten", "trainer.max_epochs must be an int, not 'ten'"),
        ("runtime.channels_last=maybe", "runtime.channels_last must be auto, true or false, not 'maybe'"),
        ("data.batch_size=0", "data.batch_size must be a positive number"),
        ("model.sigma=0", "model.sigma must be positive"),
        ("data.image_size=16", "data.image_size=16 is too small"),
        ("trainer.max_epoch=1", "Could not override 'trainer.max_epoch'"),
    ],
)
def test_a_bad_train_override_is_one_line(workdir, capsys, override, message):
    assert message in error_line(capsys, "train", [*NO_TRACKING, override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("n=0", "n must be a positive number of faces, not 0."),
        ("n=-3", "n must be a positive number of faces, not -3."),
    ],
)
def test_a_bad_infer_override_is_one_line(workdir, capsys, override, message):
    assert message in error_line(capsys, "infer", [override, "tracking.enabled=false"])


def test_debug_true_shows_the_traceback_instead(workdir):
    with pytest.raises(UserError):
        cli.run("infer", ["n=0", "tracking.enabled=false", "debug=true"])


def test_resume_without_a_checkpoint_says_so(workdir, capsys):
    assert "there is no checkpoints/last.ckpt" in error_line(capsys, "train", [*NO_TRACKING, "resume=true"])


def test_resume_from_another_architecture_names_the_weights_that_differ(workdir, capsys):
    cli.run("train", NO_TRACKING)
    line = error_line(capsys, "train", [*NO_TRACKING, "resume=true", "model.net.latent_dim=8"])
    assert "resume=true continues a run trained with model.net.latent_dim=16 (now 8)" in line
    # The weights are checked too: a run config edited by hand (or out of step with its checkpoint) is caught there.
    saved = workdir / "checkpoints" / "run_config.yaml"
    saved.write_text(saved.read_text().replace("latent_dim: 16", "latent_dim: 8"))
    line = error_line(capsys, "train", [*NO_TRACKING, "resume=true", "model.net.latent_dim=8"])
    assert "was trained with another model config" in line and "vae.decoder.project.weight" in line


def test_an_empty_data_folder_says_what_is_missing(workdir, capsys):
    (workdir / "data" / "celeba").mkdir(parents=True)
    line = error_line(capsys, "prepare", [])
    assert "data/celeba has no list_eval_partition.txt (CelebA's partition file)" in line and "data=folder" in line


def test_partition_rows_naming_missing_images_are_counted(workdir, capsys):
    (workdir / "celeba" / "img_align_celeba").mkdir(parents=True)
    (workdir / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n")
    line = error_line(capsys, "prepare", ["data.source_dir=celeba"])
    assert "2 of 2 images are missing, corrupt or not RGB" in line


def test_an_unwritable_result_folder_is_one_line(workdir, capsys):
    cli.run("train", NO_TRACKING)
    (workdir / "a_file").write_text("not a folder")
    line = error_line(capsys, "infer", ["tracking.enabled=false", "result_dir=a_file/result"])
    assert line == (
        "error: The folder a_file/result cannot be created (Not a directory: a_file/result): choose another result_dir."
    )


def test_a_full_disk_while_writing_faces_leaves_the_earlier_result_whole(workdir, capsys, monkeypatch):
    cli.run("train", NO_TRACKING)
    cli.run("infer", ["n=3", "tracking.enabled=false"])
    before = {path.name: path.read_bytes() for path in (workdir / "result").iterdir()}
    encode, encoded = outputs.jpeg_bytes, []

    def encode_until_disk_is_full(image):
        encoded.append(image)
        if len(encoded) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return encode(image)

    monkeypatch.setattr(outputs, "jpeg_bytes", encode_until_disk_is_full)
    line = error_line(capsys, "infer", ["n=3", "seed=9", "tracking.enabled=false"])
    assert "No space left on device" in line
    assert {path.name: path.read_bytes() for path in (workdir / "result").iterdir()} == before, "no temporary left"


def _checkpoint_step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.slow
def test_training_killed_mid_run_resumes_from_its_last_checkpoint_into_the_same_mlflow_run(workdir):
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "train", *FAST_TRAIN]
    command += ["data.image_size=64", "trainer.max_epochs=40", "callbacks.last.every_n_train_steps=3"]
    env = subprocess_env(PROJECT_ROOT)
    last = workdir / "checkpoints" / "last.ckpt"
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        deadline = time.monotonic() + 240
        while not (last.is_file() and _checkpoint_step(last) >= 30):
            assert process.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
    killed_at = _checkpoint_step(last)
    assert killed_at < 40 * 4, "it was killed mid-run"
    assert not (workdir / "models" / "vae.pt").exists()

    result = subprocess.run([*command, "resume=true"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Restored all states from the checkpoint" in result.stdout + result.stderr
    # Lightning resumes a mid-epoch checkpoint by restarting that epoch's loader at the saved batch
    # count; the batch that was running when the checkpoint was written may be counted once, not twice.
    assert _checkpoint_step(last) in {40 * 4 - 1, 40 * 4}
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 39  # 0-based: the 40th epoch finished
    load_model(workdir / "models" / "vae.pt")  # complete, loadable

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert len(runs) == 1, [(r.info.run_id, r.info.status, r.data.params.get("seed"), r.info.start_time) for r in runs]
    (run,) = runs
    steps = [metric.step for metric in client.get_metric_history(run.info.run_id, "loss_train_step")]
    assert steps.count(0) == 1, "steps before the checkpoint were not trained again"
    assert max(steps) >= 40 * 4 - 2


def test_resume_continues_the_run_with_its_own_config_and_only_the_words_given(workdir, capsys):
    words = ["data=synthetic", "data.num_images.train=64", "data.num_images.val=32", "data.image_size=32",
             "model.net.channels=[8,16]", "model.net.latent_dim=4", "model/prior=normal", "seed=9",
             "model_file=models/mine.pt", "trainer.max_epochs=1", "tracking.enabled=false"]  # fmt: skip
    cli.run("train", words)
    first = load_model(workdir / "models" / "mine.pt")
    cli.run("train", ["resume=true", "trainer.max_epochs=2"])  # nothing else retyped (tracking.enabled=false too)
    resumed = load_model(workdir / "models" / "mine.pt")
    assert not (workdir / "models" / "vae.pt").exists(), "the run's own model_file"
    assert not (workdir / "mlflow.db").exists(), "tracking.enabled=false kept"
    assert (
        resumed.latent_dim == 4
        and isinstance(resumed.prior, StandardNormal)
        and isinstance(first.prior, StandardNormal)
    )
    assert any(not torch.equal(value, first.state_dict()[key]) for key, value in resumed.state_dict().items())
    line = error_line(capsys, "train", ["resume=true", "trainer.max_epochs=3", "seed=5", "model.net.latent_dim=8"])
    assert "resume=true continues a run trained with model.net.latent_dim=4 (now 8), seed=9 (now 5)" in line
