"""A command's single-file outputs (model, classifier, history, scores) replace only a file of the same kind that
face_vae wrote: anything else is refused in one sentence before any work, and left as it was."""

import shutil
from pathlib import Path

import pytest

from face_vae import cli
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.stages import train_classifier
from tests.conftest import FAST_TRAIN, error_line

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]
CLASSIFIER_DATA = ["data=synthetic", "data.image_size=32", "data.num_images.train=64", "data.num_images.val=32",
                   "data.num_images.test=32", "tracking.enabled=false"]  # fmt: skip


def _notes(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("my notes, not a model\n", encoding="utf-8")
    return path


def test_train_refuses_to_write_its_model_and_history_over_a_users_files(workdir, capsys):
    notes, more = _notes(workdir, "notes.txt"), _notes(workdir, "notes2.txt")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.run("train", [*NO_TRACKING, "model_file=notes.txt", "history_file=notes2.txt"])
    err = capsys.readouterr().err
    assert "error: 2 problems, nothing was run" in err, err[-2000:]
    assert "model_file=notes.txt holds a file that is not a model written by face_vae" in err, err[-2000:]
    assert "history_file=notes2.txt holds a file that is not a history written by face_vae" in err
    assert notes.read_text() == more.read_text() == "my notes, not a model\n"
    assert not (workdir / "checkpoints").exists()


def test_train_replaces_its_own_model_and_history(workdir):
    cli.run("train", [*NO_TRACKING, "model_file=models/smoke.pt", "history_file=history.json"])
    first = (workdir / "models" / "smoke.pt").read_bytes()
    cli.run("train", [*NO_TRACKING, "model_file=models/smoke.pt", "history_file=history.json", "seed=1"])
    assert (workdir / "models" / "smoke.pt").read_bytes() != first


def test_train_classifier_refuses_to_save_over_a_vae(workdir, capsys):
    save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    vae = workdir / "models" / "fastcopy.pt"
    shutil.copy(workdir / "models" / "vae.pt", vae)
    line = error_line(capsys, "train_classifier", [*CLASSIFIER_DATA, "classifier_file=models/fastcopy.pt"])
    assert line.startswith("error: classifier_file=models/fastcopy.pt holds a file that is not an attribute "
                           "classifier written by face_vae"), line  # fmt: skip
    assert vae.read_bytes() == (workdir / "models" / "vae.pt").read_bytes()


def test_evaluate_refuses_to_write_its_scores_over_a_users_file(workdir, capsys):
    notes = _notes(workdir, "notes.json")
    line = error_line(capsys, "evaluate", ["data=synthetic", "metrics_file=notes.json", "tracking.enabled=false"])
    assert line.startswith("error: metrics_file=notes.json holds a file that is not scores written by face_vae")
    assert notes.read_text() == "my notes, not a model\n"


def test_the_classifier_records_the_model_it_read_not_the_one_there_when_it_saves(workdir, capsys, monkeypatch):
    cli.run("train", [*CLASSIFIER_DATA, "data.batch_size=16", "model.net.channels=[8,16,32,64]",
                      "model.net.latent_dim=8", "trainer.max_epochs=1"])  # fmt: skip
    fit = train_classifier.fit_classifier

    def replaced_meanwhile(*args, **kwargs):  # as a train that wrote the file while the codes were read would
        save_model(VAE(32, [8, 16, 32, 64], 8), workdir / "models" / "vae.pt")
        return fit(*args, **kwargs)

    monkeypatch.setattr(train_classifier, "fit_classifier", replaced_meanwhile)
    cli.run("train_classifier", [*CLASSIFIER_DATA, "split=val", "trainer.max_epochs=1"])
    line = error_line(capsys, "infer", ["attributes={Smiling: 1}", "tracking.enabled=false"])
    assert "was trained on the codes of another model than this model_file" in line, line


@pytest.mark.parametrize("key", ["model_file", "classifier_file"])
def test_a_locked_model_file_is_not_read_while_a_run_writes_it(workdir, capsys, key):
    from filelock import FileLock

    from face_vae import locks

    save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    target = workdir / "models" / ("vae.pt" if key == "model_file" else "attributes.pt")
    with FileLock(locks._lock_file(target)):  # pylint: disable=protected-access  # as another process holds it
        line = error_line(capsys, "train_classifier", CLASSIFIER_DATA)
    assert f"{key}=" in line and "is in use by another face_vae run" in line, line
