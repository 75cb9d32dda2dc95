"""Data and values that were once trained on or drawn from silently: huge images, a batch larger than the split,
a model file whose weights changed, and other wrong values, each one true sentence."""

import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from face_vae import cli
from face_vae.core.config import compose
from face_vae.core.prepare import prepared_data
from tests.conftest import FAST_TRAIN, error_line, image_array, write_fake_celeba

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- data and values that were trained or drawn on silently -----------------------------------


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that says it is width x height (its pixels are never read: the size alone must refuse it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))  # fmt: skip
    return path


def test_a_huge_image_given_to_reconstruct_is_skipped_like_a_bad_one(workdir, capsys):
    cli.run("train", NO_TRACKING)
    photos = workdir / "photos"
    photos.mkdir()
    _png_header(photos / "bomb.png", 15000, 12000)
    Image.new("RGB", (178, 218), (200, 150, 120)).save(photos / "face.jpg")
    capsys.readouterr()
    cli.run("reconstruct", [f"input={photos}", "result_dir=out", "tracking.enabled=false"])
    assert "bomb.png: too large (Image size (180000000 pixels)" in capsys.readouterr().err
    assert (workdir / "out" / "face_reconstruction.jpg").is_file()


def test_huge_images_and_zip_members_in_a_prepare_source_are_skipped_and_listed(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 30, "val": 8})
    _png_header(source / "img_align_celeba" / "000001.jpg", 15000, 12000)
    overrides = ["data.source_dir=celeba", "data.max_bad_fraction=0.1", "data.prepare_workers=1"]
    folder = prepared_data(compose("prepare", overrides))
    assert "000001.jpg\ttoo large (Image size (180000000 pixels)" in (folder / "bad_images.txt").read_text()
    assert not list(folder.glob(".*.tmp*")), "no temporary file left"

    zipped = workdir / "zipped"
    zipped.mkdir()
    shutil.copy(source / "list_eval_partition.txt", zipped)
    with zipfile.ZipFile(zipped / "img_align_celeba.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((source / "img_align_celeba").iterdir()):
            archive.write(path, f"img_align_celeba/{path.name}")
        archive.writestr("img_align_celeba/000002.jpg", b"\0" * (65 * 2**20))  # 65 MB unpacked, ~65 KB packed
    folder = prepared_data(compose("prepare", ["data.source_dir=zipped", *overrides[1:]]))
    assert "000002.jpg\ttoo large (65 MB unpacked in the zip)" in (folder / "bad_images.txt").read_text()


def test_a_batch_larger_than_the_training_split_is_refused_before_training(workdir, capsys):
    line = error_line(capsys, "train", [*NO_TRACKING, "data.batch_size=1000"])
    assert line == (
        "error: data.batch_size=1000 is more than the 64 images of the 'train' split, so training would take no "
        "step: lower data.batch_size to at most 64, or train on more images."
    )
    assert not (workdir / "models" / "vae.pt").exists()


def test_a_model_file_whose_weights_changed_or_are_not_finite_is_refused(workdir, capsys):
    cli.run("train", NO_TRACKING)
    saved = torch.load(workdir / "models" / "vae.pt", map_location="cpu", weights_only=True)
    name = next(key for key in saved["state_dict"] if key.startswith("decoder"))
    saved["state_dict"][name].fill_(float("inf"))
    torch.save(saved, workdir / "models" / "vae.pt")
    line = error_line(capsys, "infer", ["tracking.enabled=false"])
    assert "models/vae.pt has changed since it was saved" in line
    del saved["checksum"]  # as a file written before checksums were kept
    torch.save(saved, workdir / "models" / "vae.pt")
    line = error_line(capsys, "infer", ["tracking.enabled=false"])
    assert "holds weights that are not finite (NaN or infinity in decoder." in line


@pytest.mark.parametrize(
    "command, words, expected",
    [
        ("infer", ["tracking.uri=nonsense://x"], "error: tracking.uri=nonsense://x is not an MLflow store"),
        ("infer", ["model_file=models", "tracking.enabled=false"], "error: model_file=models is a folder"),
        ("train", [*NO_TRACKING, "model_file=models"], "error: model_file=models is a folder"),
        ("infer", ["attributes={Blond_Hair: 1e300}", "tracking.enabled=false"],
         "error: attributes strengths must lie between -10 and 10"),
    ],
)  # fmt: skip
def test_each_of_these_is_one_true_sentence(workdir, capsys, command, words, expected):
    (workdir / "models").mkdir()
    assert error_line(capsys, command, words).startswith(expected)


def test_a_long_interpolation_wraps_into_rows(workdir):
    cli.run("train", [*NO_TRACKING, "data.image_size=64"])
    cli.run("interpolate", ["steps=1000", "result_dir=strip", "tracking.enabled=false", "batch_size=250"])
    height, width, _ = image_array(workdir / "strip" / "interpolation.jpg").shape
    assert width == 16 * 66 + 2 and height == 63 * 66 + 2  # 16 faces a row, 63 rows, make_grid's padding


@pytest.mark.parametrize("sweep", ["[nan,0]", "[1e308,0]", "[0,inf]", "[true,1]"])
def test_an_attribute_sweep_that_is_not_a_strength_is_one_sentence(workdir, capsys, sweep):
    line = error_line(capsys, "infer", [f"attribute_sweep={sweep}", "tracking.enabled=false"])
    assert "attribute_sweep" in line and "a list of numbers between -10 and 10" in line, line


def test_a_strip_taller_than_a_jpeg_is_refused_before_any_face_is_decoded(workdir, capsys):
    from face_vae.core.models.model_file import save_model
    from face_vae.core.models.nets.resnet import VAE

    save_model(VAE(64, [8, 16], 4), workdir / "models" / "vae.pt")
    line = error_line(capsys, "interpolate", ["steps=40000", "tracking.enabled=false", "data.image_size=64"])
    assert line == ("error: steps=40000 makes a strip 165,002 px tall, more than a JPEG can hold (65,500): use at "
                    "most steps=15872 with this 64 px model."), line  # fmt: skip
