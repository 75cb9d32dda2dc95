"""End to end: `train` on synthetic faces, then `infer`, in a scratch folder with a local MLflow store."""

import hashlib

import pytest
from mlflow.tracking import MlflowClient

from face_vae import cli
from tests.conftest import FAST_TRAIN, SHARED_SAMPLE, image_array


def _digests(folder):
    return {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.jpg"))}


def test_train_then_infer_writes_n_jpgs_of_150px_the_same_for_the_same_seed(workdir):
    cli.run("train", FAST_TRAIN)
    assert (workdir / "models" / "vae.pt").is_file()
    assert {"best.ckpt", "last.ckpt"} <= {path.name for path in (workdir / "checkpoints").iterdir()}

    cli.run("infer", ["n=5", "seed=3"])
    faces = sorted((workdir / "result").glob("face_*.jpg"))
    assert [path.name for path in faces] == [f"face_{i:04d}.jpg" for i in range(1, 6)]
    assert all(image_array(path).shape == (150, 150, 3) for path in faces)
    assert (workdir / "result" / "grid.jpg").is_file()
    first = _digests(workdir / "result")

    cli.run("infer", ["n=5", "seed=3"])
    assert _digests(workdir / "result") == first
    cli.run("infer", ["n=3", "seed=4"])
    second = _digests(workdir / "result")
    assert len(second) == 4, "faces of an earlier run do not linger beside the new ones"
    assert second["face_0001.jpg"] != first["face_0001.jpg"]

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    train_run = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])[0]
    assert train_run.data.params["model.net.latent_dim"] == "16"
    assert "git_commit" in train_run.data.params
    infer_runs = client.search_runs([client.get_experiment_by_name("infer_VAE").experiment_id])
    assert len(infer_runs) == 3 and infer_runs[0].data.params["n"] in {"3", "5"}


def test_infer_without_a_model_and_without_dvc_says_what_to_do(workdir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.run("infer", ["tracking.enabled=false"])
    assert exit_info.value.code == 1
    assert "there is no models.dvc" in capsys.readouterr().err


def test_infer_refuses_a_non_positive_n(workdir, capsys):
    with pytest.raises(SystemExit):
        cli.run("infer", ["n=0", "tracking.enabled=false"])
    assert "error: n must be a positive number of faces, not 0." in capsys.readouterr().err


@pytest.mark.skipif(not SHARED_SAMPLE.is_dir(), reason="the CelebA sample in ../shared/data is not here")
def test_train_briefly_on_the_real_celeba_sample_then_infer(workdir):
    cli.run(
        "train",
        [
            f"data.source_dir={SHARED_SAMPLE}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=2",
            "tracking.enabled=false",
        ],
    )
    cli.run("infer", ["n=4", "tracking.enabled=false"])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 4
    (meta,) = (workdir / "prepared" / "celeba_150").glob("*/meta.json")  # one folder per recipe
    counts = meta.read_text()
    assert '"train": 4560' in counts and '"val": 780' in counts
