"""reconstruct, train_classifier, infer attributes= and interpolate, on synthetic faces with a small VAE."""

import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from face_vae import cli
from face_vae.core.models.model_file import load_model, save_model
from face_vae.data.synthetic import make_faces
from face_vae.serving.face_generator import BadRequest, face_jpegs_from_response
from tests.conftest import FAST_TRAIN, image_array

SIZE = 32  # small faces: the VAE below trains in seconds and still learns skin and hair colour
DATA = ["data=synthetic", f"data.image_size={SIZE}", "data.num_images.train=512", "data.num_images.test=256"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a VAE trained on synthetic faces and its attribute classifier (scored on test)."""
    root = tmp_path_factory.mktemp("project")
    previous = Path.cwd()
    os.chdir(root)
    try:
        cli.run(
            "train",
            [*DATA, "data.batch_size=32", "model.net.channels=[16,32,64,128,256]", "model.net.latent_dim=32"]
            + ["trainer.max_epochs=8", "trainer.enable_model_summary=false", "tracking.enabled=false"],
        )
        cli.run(
            "train_classifier", [*DATA, "classifier.batch_size=64", "split=test", "tracking.registered_model=face_vae"]
        )
    finally:
        os.chdir(previous)
    return root


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    return project


def _classifier_metrics(project: Path) -> dict[str, float]:
    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_classifier_VAE").experiment_id])
    return run.data.metrics


def _write_photos(folder: Path) -> Path:
    """Three synthetic photos: CelebA's aligned size, a square PNG, a wide JPG; and one broken file."""
    folder.mkdir()
    faces = make_faces(3, 178, seed=5)
    Image.fromarray(faces[0]).resize((178, 218)).save(folder / "aligned.jpg")
    Image.fromarray(faces[1]).save(folder / "square.png")
    Image.fromarray(faces[2]).resize((300, 200)).save(folder / "wide.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image")
    return folder


def test_classifier_beats_the_majority_class_on_what_the_images_show_and_not_on_a_coin_flip(project):
    metrics = _classifier_metrics(project)
    # Pale skin covers a quarter of the picture: the codes carry it. The majority class scores 0.5
    # balanced accuracy by definition, and `majority_accuracy` in plain accuracy.
    assert metrics["balanced_accuracy.Pale_Skin"] > 0.8
    assert metrics["accuracy.Pale_Skin"] > metrics["majority_accuracy.Pale_Skin"] + 0.1
    assert metrics["majority_accuracy.Pale_Skin"] == pytest.approx(0.75, abs=0.1)
    # Coin_Flip is drawn but never painted: no code can carry it, so the score must stay near chance.
    assert abs(metrics["balanced_accuracy.Coin_Flip"] - 0.5) < 0.12
    assert (project / "models" / "attributes.pt").is_file(), "saved beside the VAE"
    assert {"macro_f1", "precision.Black_Hair", "recall.Wide_Mouth", "f1.Gray_Hair"} <= set(metrics)


def test_classifier_report_is_a_table_with_one_row_per_attribute_and_the_majority_baseline(project):
    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_classifier_VAE").experiment_id])
    report = Path(client.download_artifacts(run.info.run_id, "classification_report.md")).read_text("utf-8")
    assert "classification_report.png" in {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert (
        "| attribute | share | precision | recall | f1 | balanced_accuracy | accuracy | majority_accuracy |" in report
    )
    assert sum(line.startswith("| ") for line in report.splitlines()) == 2 + 7 + 1  # header, rule, 7 attributes, mean


def test_reconstruct_writes_original_beside_reconstruction_and_skips_a_broken_file(in_project, tmp_path, capsys):
    photos = _write_photos(tmp_path / "photos")
    result = tmp_path / "result"
    # Batches of 2: the broken file shares the first batch with a good photo; names stay matched.
    cli.run("reconstruct", [f"input={photos}", f"result_dir={result}", "batch_size=2", "tracking.enabled=false"])
    written = sorted(path.name for path in result.glob("*_reconstruction.jpg"))
    assert written == ["aligned_reconstruction.jpg", "square_reconstruction.jpg", "wide_reconstruction.jpg"]
    pair = image_array(result / "aligned_reconstruction.jpg")
    assert pair.shape == (SIZE, 2 * SIZE, 3)
    # The left half is the photo cropped like training: the synthetic face's skin is at its centre.
    original = image_array(result / "square_reconstruction.jpg")[:, :SIZE].astype(float)
    expected = Image.open(photos / "square.png").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    assert abs(original - np.asarray(expected, dtype=float)).mean() < 6, "left half = the photo, resized"
    assert (result / "reconstructions.jpg").is_file()
    err = capsys.readouterr().err
    assert "Skipped " in err and "broken.jpg" in err, "the broken file is named in one warning"


def test_reconstruct_a_single_file_and_a_list(in_project, tmp_path):
    photos = _write_photos(tmp_path / "photos")
    result = tmp_path / "result"
    cli.run("reconstruct", [f"input=[{photos / 'wide.jpg'},{photos / 'square.png'}]", f"result_dir={result}",
                            "tracking.enabled=false"])  # fmt: skip
    assert len(list(result.glob("*_reconstruction.jpg"))) == 2


def test_reconstruct_of_a_result_folder_reads_the_faces_and_not_the_grids(in_project, tmp_path):
    faces, result = tmp_path / "faces", tmp_path / "reconstructed"
    cli.run("infer", ["n=3", f"result_dir={faces}", "tracking.enabled=false"])
    cli.run("reconstruct", [f"input={faces}", f"result_dir={result}", "tracking.enabled=false"])
    written = sorted(path.name for path in result.glob("*_reconstruction.jpg"))
    assert written == [f"face_000{n}_reconstruction.jpg" for n in (1, 2, 3)], written  # no grid_reconstruction.jpg


def test_a_photo_whose_name_is_taken_never_takes_another_photos_own_name(in_project, tmp_path):
    photos, result = tmp_path / "photos", tmp_path / "result"
    photos.mkdir()
    for name, colour in (("a.jpg", (250, 0, 0)), ("a.png", (0, 250, 0)), ("a_2.jpg", (0, 0, 250))):
        Image.new("RGB", (SIZE, SIZE), colour).save(photos / name)
    cli.run("reconstruct", [f"input={photos}", f"result_dir={result}", "tracking.enabled=false"])
    left_half = image_array(result / "a_2_reconstruction.jpg")[:, :SIZE].reshape(-1, 3).mean(0)
    assert left_half[2] > 200 and left_half[1] < 50, left_half  # a_2.jpg's blue, not a.png's green
    assert (result / "a_3_reconstruction.jpg").is_file()


@pytest.mark.parametrize(
    "words, message",
    [
        ([], "Say which photos: input=FOLDER"),
        (["input=missing_folder"], "missing_folder does not exist"),
    ],
)
def test_reconstruct_says_what_is_wrong_with_the_input(in_project, capsys, words, message):
    with pytest.raises(SystemExit):
        cli.run("reconstruct", [*words, "tracking.enabled=false"])
    assert message in capsys.readouterr().err


def test_reconstruct_refuses_a_folder_of_unreadable_files(in_project, tmp_path, capsys):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"xx")
    with pytest.raises(SystemExit):
        cli.run("reconstruct", [f"input={tmp_path / 'bad'}", "tracking.enabled=false"])
    assert "None of the 1 files given is a readable image" in capsys.readouterr().err


def test_infer_with_attributes_moves_the_faces_and_draws_the_attribute_grid(in_project, tmp_path):
    plain, steered, zero = tmp_path / "plain", tmp_path / "steered", tmp_path / "zero"
    cli.run("infer", ["n=8", "seed=1", f"result_dir={plain}", "tracking.enabled=false"])
    cli.run("infer", ["n=8", "seed=1", f"result_dir={zero}", "attributes={Pale_Skin: 0}", "tracking.enabled=false"])
    cli.run("infer", ["n=8", "seed=1", f"result_dir={steered}", "attributes={Pale_Skin: 2, Black_Hair: -1}"])
    assert (image_array(zero / "face_0001.jpg") == image_array(plain / "face_0001.jpg")).all(), "strength 0 = no move"
    assert (image_array(steered / "face_0001.jpg") != image_array(plain / "face_0001.jpg")).any()
    # 2 attributes x 2 faces = 4 rows, 5 strengths in columns, make_grid's 2-pixel padding.
    assert image_array(steered / "attribute_grid.jpg").shape == (4 * (SIZE + 2) + 2, 5 * (SIZE + 2) + 2, 3)
    assert not (plain / "attribute_grid.jpg").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{in_project}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("infer_VAE").experiment_id])
    metrics = run.data.metrics
    assert metrics["share_Pale_Skin_after"] > metrics["share_Pale_Skin_before"], "the faces became paler"


def test_infer_lists_the_valid_attributes_for_an_unknown_one(in_project, capsys):
    with pytest.raises(SystemExit):
        cli.run("infer", ["attributes={Smiling: 1}", "tracking.enabled=false"])
    err = capsys.readouterr().err
    assert "Unknown attribute Smiling: choose from Black_Hair, Brown_Hair" in err and "Coin_Flip" in err


def test_infer_explains_the_attributes_syntax(in_project, capsys):
    with pytest.raises(SystemExit):
        cli.run("infer", ["attributes=Smiling", "tracking.enabled=false"])
    assert 'attributes="{Smiling: 1.5, Eyeglasses: 1}"' in capsys.readouterr().err


def test_a_classifier_of_another_model_is_refused_and_of_the_same_weights_kept(in_project, tmp_path, capsys):
    same = tmp_path / "same.pt"  # the same weights in another file (another prior, one more key): the same codes
    torch.save(torch.load(in_project / "models" / "vae.pt", weights_only=True) | {"copied": True}, same)
    cli.run("infer", [f"model_file={same}", "attributes={Pale_Skin: 1}", "tracking.enabled=false", "n=2"])
    network, other = load_model(in_project / "models" / "vae.pt"), tmp_path / "other.pt"
    with torch.no_grad():
        next(network.parameters()).add_(0.01)  # other weights: as any retrained model has
    save_model(network, other)
    with pytest.raises(SystemExit):
        cli.run("infer", [f"model_file={other}", "attributes={Pale_Skin: 1}", "tracking.enabled=false"])
    assert "was trained on the codes of another model" in capsys.readouterr().err


def test_infer_without_a_classifier_says_to_train_one(in_project, capsys):
    with pytest.raises(SystemExit):
        cli.run("infer", ["attributes={Pale_Skin: 1}", "classifier_file=nowhere.pt", "tracking.enabled=false"])
    assert "There is no attribute classifier at nowhere.pt: train one" in capsys.readouterr().err


def test_train_classifier_without_an_attribute_file_names_it(in_project, capsys):
    with pytest.raises(SystemExit):
        cli.run("train_classifier", [*DATA, "data.attributes_file=no_attributes.txt", "tracking.enabled=false"])
    assert "The attribute file no_attributes.txt is missing" in capsys.readouterr().err


def test_interpolate_between_two_samples_writes_a_strip_and_a_looping_gif(in_project, tmp_path):
    result = tmp_path / "result"
    cli.run("interpolate", ["steps=6", f"result_dir={result}"])
    assert image_array(result / "interpolation.jpg").shape == (SIZE + 4, 6 * (SIZE + 2) + 2, 3)
    with Image.open(result / "interpolation.gif") as gif:
        assert gif.n_frames == 2 * 6 - 2 and gif.size == (SIZE, SIZE)
    client = MlflowClient(tracking_uri=f"sqlite:///{in_project}/mlflow.db")
    assert client.get_experiment_by_name("interpolate_VAE") is not None


def test_interpolate_between_two_photos_runs_from_one_reconstruction_to_the_other(in_project, tmp_path):
    photos = _write_photos(tmp_path / "photos")
    result = tmp_path / "result"
    cli.run("interpolate", [f"start={photos / 'square.png'}", f"end={photos / 'wide.jpg'}", "steps=3",
                            f"result_dir={result}", "tracking.enabled=false"])  # fmt: skip
    cli.run("reconstruct", [f"input={photos}", f"result_dir={result}", "tracking.enabled=false"])
    strip = image_array(result / "interpolation.jpg").astype(float)
    first, last = strip[2 : 2 + SIZE, 2 : 2 + SIZE], strip[2 : 2 + SIZE, -2 - SIZE : -2]
    start = image_array(result / "square_reconstruction.jpg")[:, SIZE:].astype(float)
    end = image_array(result / "wide_reconstruction.jpg")[:, SIZE:].astype(float)
    # JPEG at 32 px leaves a few levels of error: the ends match their own photo, not the other one.
    assert abs(first - start).mean() < 8 and abs(first - start).mean() < abs(first - end).mean() / 2
    assert abs(last - end).mean() < 8 and abs(last - end).mean() < abs(last - start).mean() / 2


def test_interpolate_needs_both_ends(in_project, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.run("interpolate", [f"start={tmp_path}", "tracking.enabled=false"])
    assert "Give both ends as photos" in capsys.readouterr().err


def test_train_classifier_registers_a_face_generator_that_steers_as_infer_does(in_project, tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{in_project}/mlflow.db")
    generator = mlflow.pyfunc.load_model("models:/face_vae/1")
    rows = [{"n": 3, "seed": 1, "attributes": '{"Pale_Skin": 2, "Black_Hair": -1}'}]
    served = face_jpegs_from_response({"predictions": generator.predict(pd.DataFrame(rows)).to_dict("records")})
    steered = tmp_path / "steered"
    cli.run("infer", ["n=3", "seed=1", f"result_dir={steered}", "attributes={Pale_Skin: 2, Black_Hair: -1}",
                      "tracking.enabled=false"])  # fmt: skip
    assert served == [path.read_bytes() for path in sorted(steered.glob("face_*.jpg"))]
    with pytest.raises(BadRequest, match="Unknown attribute Wings: the model knows Black_Hair"):
        generator.predict(pd.DataFrame([{"n": 1, "attributes": '{"Wings": 1}'}]))


def test_only_train_adds_a_vae_version_unless_train_classifier_is_asked_to(workdir):
    cli.run("train", [*FAST_TRAIN, "trainer.max_epochs=1"])
    cli.run("train_classifier", [*FAST_TRAIN[:5], "split=val", "trainer.max_epochs=1"])
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")  # absolute: MLflow caches stores by URI
    versions = client.search_model_versions("name='face_vae'")
    assert [version.version for version in versions] == [1], "the classifier run registered no version"
    experiment = client.get_experiment_by_name("train_classifier_VAE").experiment_id
    (run,) = client.search_runs([experiment])
    logged = client.search_logged_models([experiment])
    assert [model.name for model in logged if model.source_run_id == run.info.run_id] == ["face_generator"]
