"""DVC for real (no mocks): a scratch git+DVC repo with a local-directory remote."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from face_vae import cli
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.storage import StorageSettings, track_model
from tests.conftest import error_line, free_port, write_fake_celeba

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRAIN_ON_DVC_DATA = [
    "data.source_dir=data/celeba",
    "data.image_size=64",
    "data.batch_size=4",
    "data.num_workers=0",
    "model.net.channels=[8,16,32,64,128]",
    "model.net.latent_dim=8",
    "trainer.max_epochs=1",
    "trainer.enable_model_summary=false",
    "tracking.enabled=false",
    "storage.push=true",
]


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def dvc_repo(workdir):
    """A git + DVC repo in the working folder whose default remote is a local folder holding the data."""
    _git("init", "-q", cwd=workdir)
    Repo.init(str(workdir))
    remote = workdir.parent / "remote"
    with Repo(str(workdir)) as repo:
        with repo.config.edit() as config:
            config["remote"]["local"] = {"url": str(remote)}
            config["core"]["remote"] = "local"
        write_fake_celeba(workdir / "data" / "celeba", {"train": 8, "val": 4})
        repo.add("data")
        repo.push(targets=["data.dvc"])
    return workdir


def _remote_files(remote: Path) -> set[str]:
    return {str(path.relative_to(remote)) for path in remote.rglob("*") if path.is_file()}


def _forget_local_copies(root: Path) -> None:
    for name in ("data", "models", "prepared", "checkpoints", "result", ".dvc/cache"):
        shutil.rmtree(root / name, ignore_errors=True)


def test_train_pulls_data_infer_pulls_model_and_train_pushes_a_new_model(dvc_repo):
    remote = dvc_repo.parent / "remote"
    cli.run("train", TRAIN_ON_DVC_DATA)
    first_models_dvc = (dvc_repo / "models.dvc").read_text()
    after_first_push = _remote_files(remote)

    _forget_local_copies(dvc_repo)
    cli.run("infer", ["n=2", "tracking.enabled=false"])
    assert (dvc_repo / "models" / "vae.pt").is_file(), "infer pulled the model"
    assert len(list((dvc_repo / "result").glob("face_*.jpg"))) == 2

    _forget_local_copies(dvc_repo)
    cli.run("train", [*TRAIN_ON_DVC_DATA, "seed=7"])
    assert (dvc_repo / "data" / "celeba" / "list_eval_partition.txt").is_file(), "train pulled the data"
    second_models_dvc = (dvc_repo / "models.dvc").read_text()
    assert second_models_dvc != first_models_dvc
    new_hash = yaml.safe_load(second_models_dvc)["outs"][0]["md5"].removesuffix(".dir")
    assert any(
        new_hash[2:] in name for name in _remote_files(remote) - after_first_push
    ), "the new model is on the remote"


def test_a_trial_run_leaves_the_model_pointer_alone_unless_versioning_is_asked_for(dvc_repo, caplog):
    caplog.set_level("INFO")
    trial = [word for word in TRAIN_ON_DVC_DATA if word != "storage.push=true"]
    cli.run("train", [*trial, "storage.add=true"])
    assert "To track the changes with git" not in caplog.text, "one hint to commit the pointer, not DVC's as well"
    pointer = (dvc_repo / "models.dvc").read_text()  # asked for: the team's model pointer
    model = (dvc_repo / "models" / "vae.pt").read_bytes()
    cli.run("train", [*trial, "seed=7"])  # real data into models/, nothing asked
    assert (dvc_repo / "models" / "vae.pt").read_bytes() != model, "the trial model was saved"
    assert (dvc_repo / "models.dvc").read_text() == pointer, "and the pointer left alone"


def test_an_unknown_remote_is_named_and_local_files_stay(dvc_repo, capsys):
    shutil.rmtree(dvc_repo / "data")
    with pytest.raises(SystemExit) as exit_info:
        cli.run("train", [*TRAIN_ON_DVC_DATA, "storage.remote=nowhere"])
    assert exit_info.value.code == 1
    assert "no DVC remote named 'nowhere' (configured: local)" in capsys.readouterr().err


def test_an_unreachable_remote_is_one_clear_error_and_touches_nothing(dvc_repo, capsys):
    cli.run("train", TRAIN_ON_DVC_DATA)
    model_bytes = (dvc_repo / "models" / "vae.pt").read_bytes()
    capsys.readouterr()
    with Repo(str(dvc_repo)) as repo, repo.config.edit() as config:
        config["remote"]["local"]["url"] = str(dvc_repo.parent / "vanished")
    shutil.rmtree(dvc_repo / "data")
    shutil.rmtree(dvc_repo / ".dvc" / "cache")
    shutil.rmtree(dvc_repo / "prepared")
    with pytest.raises(SystemExit) as exit_info:
        cli.run("train", TRAIN_ON_DVC_DATA)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    vanished = dvc_repo.parent / "vanished"
    expected = f"The DVC remote 'local' ({vanished}, a folder that does not exist) does not hold the files"
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: There is no data in data/celeba") and f"{expected} of data.dvc" in line
    assert "Some of the cache files do not exist" not in err, "DVC's own warning is not printed beside ours"
    assert (dvc_repo / "models" / "vae.pt").read_bytes() == model_bytes


def test_outside_a_dvc_repo_the_error_says_where_to_run(workdir, capsys):
    (workdir / "data.dvc").write_text("outs:\n- path: data\n")
    with pytest.raises(SystemExit):
        cli.run("train", ["data.source_dir=data/celeba", "tracking.enabled=false"])
    assert "not inside a DVC repository" in capsys.readouterr().err


def test_project_default_remote_is_google_drive_and_its_plugin_imports():
    with Repo(str(PROJECT_ROOT)) as repo:
        assert repo.config["core"]["remote"] == "gdrive"
        assert repo.config["remote"]["gdrive"]["url"].startswith("gdrive://")
        assert "local" in repo.config["remote"]
    subprocess.run([sys.executable, "-c", "import dvc_gdrive, pydrive2.fs"], check=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "Google blocks DVC's built-in one"),
        ({"gdrive_client_id": "id", "gdrive_client_secret": "secret"}, "needs a sign-in in a browser"),
        ({"gdrive_use_service_account": True}, "service account but has no key file"),
    ],
)
def test_google_drive_without_credentials_fails_fast_instead_of_waiting(
    dvc_repo, monkeypatch, capsys, settings, message
):
    monkeypatch.delenv("GDRIVE_CREDENTIALS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(dvc_repo / "no-token-here"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    with Repo(str(dvc_repo)) as repo, repo.config.edit() as config:
        config["remote"]["drive"] = {"url": "gdrive://root/face_vae", **settings}
    shutil.rmtree(dvc_repo / "data")
    with pytest.raises(SystemExit):
        cli.run("train", [*TRAIN_ON_DVC_DATA, "storage.remote=drive"])
    assert message in capsys.readouterr().err


def _point_remote_at(root: Path, url: str) -> None:
    with Repo(str(root)) as repo, repo.config.edit() as config:
        config["remote"]["local"]["url"] = url
    shutil.rmtree(root / "data")
    shutil.rmtree(root / ".dvc" / "cache")


def test_a_remote_that_cannot_be_reached_is_not_said_to_lack_the_files(dvc_repo, capsys):
    _point_remote_at(dvc_repo, f"http://127.0.0.1:{free_port()}/store")
    line = error_line(capsys, "train", TRAIN_ON_DVC_DATA)
    assert "The DVC remote 'local' (http://127.0.0.1:" in line and "cannot be reached" in line, line
    assert "does not hold" not in line


@pytest.mark.skipif(importlib.util.find_spec("dvc_ssh") is not None, reason="dvc-ssh is installed here")
def test_a_remote_whose_plugin_is_missing_names_the_package(dvc_repo, capsys):
    _point_remote_at(dvc_repo, "ssh://user@127.0.0.1:9/store")
    line = error_line(capsys, "train", TRAIN_ON_DVC_DATA)
    assert "The DVC remote 'local' (ssh://***@127.0.0.1:9/store) needs a DVC plugin that is not installed" in line
    assert "`pip install dvc-ssh`" in line


def test_adding_a_model_says_which_pointer_changed_and_when_none_did(dvc_repo, caplog):
    caplog.set_level("INFO")
    settings = StorageSettings()
    save_model(VAE(32, [8, 16], 4), dvc_repo / "mine" / "vae.pt")
    track_model(settings, Path("mine"))
    assert "Wrote mine.dvc: commit it" in caplog.text and "models.dvc" not in caplog.text
    track_model(settings, Path("mine"))
    assert "mine.dvc already records mine as it is: nothing to commit." in caplog.text
