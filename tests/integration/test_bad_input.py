"""Hardening: every value checked before any work, memory flat in n, no silent overwrite, honest messages."""

import fcntl
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from face_vae import cli
from face_vae.core import settings
from face_vae.core.config import compose, flat_values
from face_vae.core.errors import UserError
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.core.pictures import face_pictures
from face_vae.outputs import LOCK_FILE
from tests.conftest import FAST_TRAIN, error_line, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]
COMMANDS = sorted(settings.COMMANDS)


@pytest.fixture
def tiny_model(workdir) -> Path:
    path = workdir / "models" / "tiny.pt"
    save_model(VAE(32, [8, 16], 4), path)
    return path


@pytest.mark.parametrize(
    "command, overrides, line",
    [
        (
            "train",
            ["data=synthetic", "resume=sometimes"],
            "error: resume must be a bool (true/false), not 'sometimes'.",
        ),
        ("infer", ["seed=abc"], "error: seed must be an int, not 'abc'."),
        ("infer", ["n=1.5"], "error: n must be an int, not 1.5."),
        ("train", ["model.optimizer.lr=-1"], "error: model.optimizer.lr must be a positive learning rate, not -1.0."),
        ("train", ["trainer.max_epochs=0"], "error: trainer.max_epochs must be a positive number of epochs, not 0."),
        ("train", ["trainer.max_epochs=-1"], "error: trainer.max_epochs must be a positive number of epochs, not -1."),
        ("train", ["data.batch_size=0"], "error: data.batch_size must be a positive number, not 0."),
        ("evaluate", ["n=1"], "error: n must be at least 2 (FID compares two sets of faces), not 1."),
        ("train", ["storage.add=sometimes"], "error: storage.add must be auto, true or false, not 'sometimes'."),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_before_data_dvc_or_mlflow_are_touched(
    workdir, capsys, command, overrides, line
):
    # No data, no DVC repository, no MLflow store here: the value error must come first.
    assert error_line(capsys, command, overrides) == line
    assert not any(workdir.iterdir()), "nothing was prepared, pulled, logged or written"


def test_max_epochs_zero_does_not_save_an_untrained_model(workdir, capsys):
    error_line(capsys, "train", [*NO_TRACKING, "trainer.max_epochs=0"])
    assert not (workdir / "models").exists()


def test_a_bad_value_is_answered_in_under_3_seconds():
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "commands.py"), "infer", "n=-1"],
        cwd=ROOT, capture_output=True, text=True, env=subprocess_env(ROOT), check=False,
    )  # fmt: skip
    assert result.returncode == 1 and result.stderr.strip() == "error: n must be a positive number of faces, not -1."
    assert time.perf_counter() - start < 3


def _wiring(node: DictConfig, prefix: str = "") -> set[str]:
    """The keys whose value only points at another key."""
    keys = set()
    for key in node:
        if OmegaConf.is_interpolation(node, key):
            keys.add(f"{prefix}{key}")
        elif isinstance(node[key], DictConfig):
            keys |= _wiring(node[key], f"{prefix}{key}.")
    return keys


def _leaf_cases(seed: int = 0, count: int = 80) -> list[tuple[str, str, object]]:
    """(command, key, bad value) for a sample of every command's numeric and switch keys (the keys a user
    sets, not those that only point at one: `data.datamodule.batch_size: ${data.batch_size}`, nor Hydra's
    instantiate flags such as `_partial_`)."""
    cases = []
    for command in COMMANDS:
        cfg = compose(command, [])
        wiring = _wiring(cfg)
        for key, value in flat_values(cfg).items():
            if any(key == wired or key.startswith(f"{wired}.") for wired in wiring):
                continue
            if key.rsplit(".", 1)[-1].startswith("_"):
                continue
            if key.startswith("callbacks."):  # a Lightning callback's arguments: its class checks them when built
                continue
            if isinstance(value, bool):
                cases.append((command, key, "maybe"))
            elif isinstance(value, (int, float)):
                cases += [(command, key, "lots"), (command, key, 0), (command, key, -1)]
    return random.Random(seed).sample(cases, min(count, len(cases)))


@pytest.mark.parametrize("command, key, value", _leaf_cases())
def test_every_leaf_key_refuses_a_wrong_type_zero_or_negative_in_one_sentence_naming_it(command, key, value):
    """A value is either valid (seed=0, data.num_workers=0) or refused in one sentence naming its key."""
    try:
        compose(command, [f"{key}={value}"])
    except UserError as error:
        message = str(error)
        assert key in message and "\n" not in message, message
    else:
        assert value in (0, -1), f"{command}: {key}={value!r} was accepted"
        assert value == 0 or key.endswith("save_top_k"), f"{command}: {key}={value} (negative) was accepted"


def test_infer_writes_faces_batch_by_batch_without_holding_them_all():
    def batches():
        yield torch.zeros(4, 3, 8, 8)
        raise AssertionError("the second batch was decoded before the first one's faces were handed over")

    pictures = face_pictures(batches())
    assert [next(pictures)[0] for _ in range(4)] == [f"face_{i:04d}.jpg" for i in range(1, 5)]


def test_infer_n_is_streamed_with_a_grid_of_the_first_64(workdir, tiny_model):
    cli.run("infer", ["n=100", "batch_size=16", f"model_file={tiny_model}", "tracking.enabled=false"])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 100
    from PIL import Image

    with Image.open(workdir / "result" / "grid.jpg") as grid:
        assert grid.size == (8 * 34 + 2, 8 * 34 + 2), "an 8 x 8 grid of the first 64 faces"


def test_result_dir_problems_name_the_real_cause(workdir, capsys, tiny_model):
    (workdir / "a_file").write_text("x")
    common = ["n=2", f"model_file={tiny_model}", "tracking.enabled=false"]
    line = error_line(capsys, "infer", [*common, "result_dir=a_file"])
    assert line == "error: result_dir a_file is a file, not a folder: move it away or choose another result_dir."
    line = error_line(capsys, "infer", [*common, "result_dir=a_file/inside"])
    assert "cannot be created" in line and "a_file/inside" in line


def test_a_model_file_that_is_not_a_torch_archive_is_named_as_such(workdir, capsys):
    (workdir / "notes.txt").write_text("not a model\n")
    line = error_line(capsys, "infer", ["model_file=notes.txt", "tracking.enabled=false"])
    assert "notes.txt is not a model file saved by face_vae (it is not a torch archive)" in line


def test_a_second_writer_to_the_same_result_dir_stops_in_one_sentence(workdir, capsys, tiny_model):
    (workdir / "result").mkdir()
    with open(workdir / "result" / LOCK_FILE, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `infer` holds it
        line = error_line(capsys, "infer", ["n=2", f"model_file={tiny_model}", "tracking.enabled=false"])
    assert "Another face_vae command is writing to result right now" in line
    assert not list((workdir / "result").glob("face_*.jpg"))


def test_resume_refuses_other_model_or_data_values_and_tags_what_may_change(workdir, capsys):
    cli.run("train", [*FAST_TRAIN])
    line = error_line(capsys, "train", [*FAST_TRAIN, "resume=true", "data.batch_size=8"])
    assert "resume=true continues a run trained with data.batch_size=16 (now 8)" in line
    cli.run("train", [*FAST_TRAIN, "resume=true", "trainer.max_epochs=2"])
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert run.data.params["trainer.max_epochs"] == "1", "the run keeps its first params"
    assert "trainer.max_epochs: 1 -> 2" in run.data.tags["resumed_1"]


def test_help_lists_the_keys_with_defaults_and_comments_and_the_groups_with_choices():
    result = subprocess.run(
        [sys.executable, str(ROOT / "commands.py"), "train", "--help"],
        cwd=ROOT, capture_output=True, text=True, env=subprocess_env(ROOT), check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    text = result.stdout + result.stderr
    assert "resume: false # true: continue from <checkpoints_dir>/last.ckpt" in text
    assert "Group model (default vae; choose with model=vae" in text
    assert "max_epochs: 10" in text and "precision: auto" in text


def test_every_command_config_composes_and_its_resolved_values_are_checked():
    for command in COMMANDS:
        values = flat_values(compose(command, []))
        assert values, command
        assert OmegaConf.is_config(compose(command, []))


def test_a_synthetic_run_leaves_models_dvc_alone_and_says_so_once(tmp_path):
    models_dvc = "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: models\n"
    (tmp_path / "models.dvc").write_text(models_dvc)
    result = subprocess.run(
        [sys.executable, str(ROOT / "commands.py"), "train", *FAST_TRAIN],  # MLflow on: it sets up root logging
        cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(ROOT), check=True, timeout=300,
    )  # fmt: skip
    assert (tmp_path / "models.dvc").read_text() == models_dvc
    assert (tmp_path / "models" / "vae.pt").is_file()
    assert (result.stdout + result.stderr).count("models.dvc was left as it is") == 1, "printed once"
