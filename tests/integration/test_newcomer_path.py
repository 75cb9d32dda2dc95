"""A newcomer's mistakes cost nothing: no flag trains, help runs nothing, a pull never loses a local model, a
missing split is one sentence, the README's outputs are ignored by git."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from dvc.repo import Repo
from PIL import Image

from face_vae import cli
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.model_records import training_data
from tests.conftest import FAST_TRAIN, error_line, subprocess_env, write_fake_celeba

ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


def _commands(workdir: Path, *words: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "commands.py"), *words],
        cwd=workdir, env=subprocess_env(ROOT), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command, flag",
    [
        ("train", "--cfg"),
        ("train", "--"),
        ("train", "--trace"),
        ("train", "-x"),
        ("infer", "-m"),
        ("infer", "--multirun"),
    ],
)
def test_a_word_the_cli_does_not_understand_is_refused_before_any_work(workdir, command, flag):
    result = _commands(workdir, command, flag, "model.optimizer.lr=0.001", *NO_TRACKING)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"{command} does not take '{flag}'" in result.stderr and "Nothing was run." in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(workdir.iterdir()), "nothing was prepared, trained or written"


def test_a_flag_that_names_a_key_is_answered_with_that_keys_word(workdir, capsys):
    with pytest.raises(SystemExit):
        cli.answer_flags(["infer", "--seed", "3"], ["infer", "train"])
    err = capsys.readouterr().err
    assert "infer does not take '--seed'" in err and "(e.g. infer seed=3)" in err, err
    with pytest.raises(SystemExit):
        cli.answer_flags(["train", "--max-epochs=2"], ["infer", "train"])
    assert "(e.g. train trainer.max_epochs=2)" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_after_overrides_shows_the_commands_help_and_runs_nothing(workdir, flag):
    result = _commands(workdir, "infer", "n=4", flag)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage: python commands.py infer" in result.stdout and "n: 16" in result.stdout
    assert not any(workdir.iterdir()), "no face written, no MLflow run logged"


def test_help_with_a_group_choice_shows_that_choices_keys(workdir):
    result = _commands(workdir, "train", "model/prior=normal", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Group model/prior (chosen normal;" in result.stdout and "components:" not in result.stdout
    assert "Group model/prior (default gmm;" in _commands(workdir, "train", "--help").stdout
    assert not any(workdir.iterdir())


def test_cfg_job_prints_the_composed_config_and_trains_nothing(workdir):
    result = _commands(workdir, "train", "--cfg", "job", "data=synthetic", "model.net.latent_dim=24")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "latent_dim: 24" in result.stdout and "kind: synthetic" in result.stdout
    assert not any(workdir.iterdir())


def test_a_smoke_run_does_not_replace_a_model_trained_on_real_faces(workdir, capsys):
    real = workdir / "models" / "vae.pt"
    save_model(VAE(32, [8, 16], 4), real)  # as train saves a model of CelebA
    before = real.read_bytes()
    line = error_line(capsys, "train", [*NO_TRACKING, "data.image_size=32"])
    assert "holds a model trained on real faces" in line and "model_file=models/smoke.pt" in line
    assert real.read_bytes() == before
    cli.run("train", [*NO_TRACKING, "data.image_size=32", "model_file=models/smoke.pt"])
    assert training_data(workdir / "models" / "smoke.pt") == "synthetic"
    cli.run("train", [*NO_TRACKING, "data.image_size=32", "model_file=models/smoke.pt"])  # a smoke run's: replaced


def test_a_missing_split_is_one_sentence_naming_the_splits_there_are(workdir, capsys):
    write_fake_celeba(workdir / "celeba", {"train": 24, "val": 8})  # as the shared sample: no test split
    model = workdir / "models" / "vae.pt"
    save_model(VAE(32, [8, 16], 4), model)
    data = ["data.source_dir=celeba", "data.image_size=32", "tracking.enabled=false"]
    line = error_line(capsys, "train_classifier", [*data, "split=test"])
    assert (
        line == "error: The 'test' split has no images in this dataset (it has train, val): choose one with split=val."
    )


def test_the_readme_outputs_are_ignored_by_git():
    ignored = ["checkpoints.previous-20260101-000000/last.ckpt", "export/decoder.onnx", "faces/face_0001.jpg",
               "result/reconstructed/x.jpg", "models/vae.pt", "unsent_classifier_metrics.jsonl"]  # fmt: skip
    result = subprocess.run(["git", "check-ignore", *ignored], cwd=ROOT, capture_output=True, text=True, check=False)
    assert sorted(result.stdout.split()) == sorted(ignored)


def test_a_plain_infer_keeps_an_earlier_attribute_grid(workdir, capsys):
    model = workdir / "models" / "vae.pt"
    save_model(VAE(32, [8, 16], 4), model)
    cli.run("infer", ["n=2", "tracking.enabled=false", "storage.pull=false"])
    grid = workdir / "result" / "attribute_grid.jpg"
    shutil.copy(workdir / "result" / "grid.jpg", grid)  # as a steered run leaves it (listed as face_vae's)
    manifest = workdir / "result" / ".face_vae_files.json"
    manifest.write_text(manifest.read_text().replace('"grid.jpg"', '"attribute_grid.jpg",\n"grid.jpg"'))
    cli.run("infer", ["n=3", "tracking.enabled=false", "storage.pull=false"])
    assert grid.is_file() and "is an earlier steered run's" in capsys.readouterr().err
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 3


@pytest.fixture
def dvc_repo_with_model(workdir) -> Path:
    """A git + DVC repo whose models.dvc records a model pushed to a local remote, as a team shares it."""
    subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
    Repo.init(str(workdir))
    with Repo(str(workdir)) as repo:
        with repo.config.edit() as config:
            config["remote"]["local"] = {"url": str(workdir.parent / "remote")}
            config["core"]["remote"] = "local"
        save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
        repo.add("models")
        repo.push(targets=["models.dvc"])
    return workdir


def _mine(workdir: Path) -> bytes:
    """A model trained here, that models.dvc does not record."""
    torch.manual_seed(1)
    save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    return (workdir / "models" / "vae.pt").read_bytes()


def test_pull_refuses_to_replace_a_model_nothing_else_holds(dvc_repo_with_model, capsys):
    mine = _mine(dvc_repo_with_model)
    line = error_line(capsys, "pull", ["targets=[models.dvc]"])
    assert "models/vae.pt is not what models.dvc records and nothing else holds a copy" in line
    assert "dvc add models" in line
    error_line(capsys, "pull", ["targets=[models.dvc]", "force=true"])  # force never loses an only copy
    assert (dvc_repo_with_model / "models" / "vae.pt").read_bytes() == mine


def test_pull_refuses_a_file_of_the_users_beside_the_tracked_model(dvc_repo_with_model, capsys):
    notes = dvc_repo_with_model / "models" / "notes.txt"
    notes.write_text("my notes")
    assert "models/notes.txt is not what models.dvc records" in error_line(capsys, "pull", ["targets=[models.dvc]"])
    assert notes.read_text() == "my notes"


def test_pull_replaces_a_model_the_cache_holds_only_when_forced_and_says_where_it_is(dvc_repo_with_model, capsys):
    pointer = (dvc_repo_with_model / "models.dvc").read_text()
    mine = _mine(dvc_repo_with_model)
    with Repo(str(dvc_repo_with_model)) as repo:  # as `dvc exp run` does: the model copied into the cache...
        repo.add("models")
    (dvc_repo_with_model / "models.dvc").write_text(pointer)  # ...and the pointer checked out again
    line = error_line(capsys, "pull", ["targets=[models.dvc]"])
    assert "models/vae.pt differs from what models.dvc records (DVC's cache holds a copy)" in line
    assert (dvc_repo_with_model / "models" / "vae.pt").read_bytes() == mine
    cli.run("pull", ["targets=[models.dvc]", "force=true"])
    copy = Path(capsys.readouterr().err.split("its copy stays in DVC's cache: ")[1].split()[0].rstrip("."))
    assert copy.read_bytes() == mine
    assert (dvc_repo_with_model / "models" / "vae.pt").read_bytes() != mine


def test_infer_pulls_a_missing_model_but_not_over_a_users_file(dvc_repo_with_model, capsys):
    shutil.rmtree(dvc_repo_with_model / "models")
    (dvc_repo_with_model / "models").mkdir()
    (dvc_repo_with_model / "models" / "smoke.pt").write_bytes(b"a smoke run's model")
    line = error_line(capsys, "infer", ["n=2", "tracking.enabled=false"])
    assert "models/smoke.pt is not what models.dvc records" in line
    assert (dvc_repo_with_model / "models" / "smoke.pt").read_bytes() == b"a smoke run's model"
    (dvc_repo_with_model / "models" / "smoke.pt").unlink()
    cli.run("infer", ["n=2", "tracking.enabled=false"])
    assert len(list((dvc_repo_with_model / "result").glob("face_*.jpg"))) == 2


def test_a_cold_start_says_at_once_that_work_has_begun_and_a_log_sees_training_start(workdir):
    start = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, str(ROOT / "commands.py"), "train", *NO_TRACKING, "data.image_size=32"],
        cwd=workdir, env=subprocess_env(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        first_line = process.stderr.readline()
        first_seconds = time.perf_counter() - start
        rest = process.stderr.read()
        assert process.wait(timeout=300) == 0, rest[-2000:]
    assert first_line.startswith("Starting train") and first_seconds < 10, (first_line, first_seconds)
    assert "Training: 1 epoch of 4 batches; a line per epoch follows." in rest


def test_no_data_here_leads_the_error_before_any_dvc_advice(dvc_repo_with_model, capsys):
    workdir = dvc_repo_with_model
    (workdir / "data.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    with Repo(str(workdir)) as repo, repo.config.edit() as config:
        config["remote"]["gdrive"] = {"url": "gdrive://0AIac4JZqHhKmUk9PDA"}
        config["core"]["remote"] = "gdrive"
    line = error_line(capsys, "train", ["tracking.enabled=false"])
    assert line.startswith("error: There is no data in data/celeba (no such folder): download CelebA's official files")
    assert line.index("data=folder") < line.index("did not work either") < line.index("OAuth")


def test_a_folder_of_ones_own_photos_given_as_celeba_is_told_its_partition_file_is_missing(workdir, capsys):
    photos = workdir / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 40)).save(photos / "me.jpg")
    line = error_line(capsys, "train", ["tracking.enabled=false", "data.source_dir=photos"])
    assert line.startswith("error: photos has no list_eval_partition.txt (CelebA's partition file)")
    assert "data=folder data.source_dir=photos" in line and "DVC" not in line
