"""`prepare`: crops stored once as uint8, exact pixels, and broken images skipped and reported."""

import io

import numpy as np
import pytest
from PIL import Image

from face_vae.core.config import compose
from face_vae.core.data.datamodule import CelebADataModule
from face_vae.core.data.face_crops import FaceCrops, read_meta
from face_vae.core.data.preparation import BAD_IMAGES_REPORT
from face_vae.core.errors import UserError
from face_vae.core.prepare import prepared_data
from tests.conftest import image_array, write_fake_celeba


def _cfg(source, *overrides):
    return compose(
        "prepare", [f"data.source_dir={source}", "data.prepared_dir=prepared", "data.num_workers=1", *overrides]
    )


def test_prepare_stores_the_150px_crop_box_pixel_for_pixel_per_official_split(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 6, "val": 3, "test": 2})
    prepared = prepared_data(_cfg(source))
    assert read_meta(prepared)["counts"] == {"train": 6, "val": 3, "test": 2}
    crops = FaceCrops(prepared, "val")
    first_val = image_array(source / "img_align_celeba" / "000007.jpg")
    assert len(crops) == 3
    assert np.array_equal(crops[0].permute(1, 2, 0).numpy(), first_val[34:184, 14:164])
    assert (prepared / "val.txt").read_text().split() == ["000007.jpg", "000008.jpg", "000009.jpg"]


def test_prepare_resizes_the_crop_when_the_image_size_is_64(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 2, "val": 1})
    prepared = prepared_data(_cfg(source, "data.image_size=64"))
    assert FaceCrops(prepared, "train")[0].shape == (3, 64, 64)


def test_prepare_is_done_once_and_again_when_the_recipe_changes(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 2, "val": 1})
    prepared = prepared_data(_cfg(source))
    stamp = (prepared / "train.u8").stat().st_mtime_ns
    prepared_data(_cfg(source))
    assert (prepared / "train.u8").stat().st_mtime_ns == stamp
    other = prepared_data(_cfg(source, "data.crop.top=30"))
    assert other != prepared and read_meta(other)["recipe"]["crop"]["top"] == 30, "another recipe, another folder"
    assert (prepared / "train.u8").stat().st_mtime_ns == stamp, "the first one is left as it is"


def _break_images(images_dir):
    """Random bytes, a truncated JPEG, a PNG named .jpg, grayscale and CMYK, over the first images."""
    names = sorted(path.name for path in images_dir.iterdir())
    rng = np.random.default_rng(0)
    (images_dir / names[0]).write_bytes(rng.bytes(5000))
    whole = (images_dir / names[1]).read_bytes()
    (images_dir / names[1]).write_bytes(whole[: len(whole) // 3])
    buffer = io.BytesIO()
    Image.open(images_dir / names[2]).save(buffer, format="PNG")
    (images_dir / names[2]).write_bytes(buffer.getvalue())  # an RGB PNG under a .jpg name decodes fine
    Image.open(images_dir / names[3]).convert("L").save(images_dir / names[3], format="JPEG")
    Image.open(images_dir / names[4]).convert("CMYK").save(images_dir / names[4], format="JPEG")
    (images_dir / names[5]).unlink()
    return names


def test_prepare_skips_counts_and_reports_broken_images(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 20, "val": 4})
    names = _break_images(source / "img_align_celeba")
    prepared = prepared_data(_cfg(source, "data.max_bad_fraction=0.5"))
    report = (prepared / BAD_IMAGES_REPORT).read_text()
    skipped = {line.split("\t")[0] for line in report.splitlines()}
    assert skipped == {names[0], names[1], names[3], names[4], names[5]}
    assert "not RGB (mode L)" in report and "not RGB (mode CMYK)" in report and "missing" in report
    assert read_meta(prepared)["counts"] == {"train": 15, "val": 4}
    assert names[2] in (prepared / "train.txt").read_text()


def test_prepare_fails_when_too_many_images_are_broken(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 20, "val": 4})
    _break_images(source / "img_align_celeba")
    with pytest.raises(UserError, match=r"5 of 24 images are missing, corrupt or not RGB.*\(data.max_bad_fraction\)\."):
        prepared_data(_cfg(source))
    assert read_meta(workdir / "prepared") == {}, "an incomplete folder is never marked ready"


def test_a_prepared_folder_that_cannot_be_written_names_its_key(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 2, "val": 1})
    (workdir / "a_file").write_text("")
    cfg = compose("prepare", [f"data.source_dir={source}", "data.prepared_dir=a_file/prepared"])
    with pytest.raises(
        UserError, match=r"^Cannot write to a_file/prepared/\w+ \(.*\): choose another data.prepared_dir\.$"
    ):
        prepared_data(cfg)


def test_missing_data_without_dvc_file_is_one_clear_error(workdir):
    with pytest.raises(UserError, match="There is no data in .*nowhere \\(no such folder\\): download CelebA"):
        prepared_data(_cfg(workdir / "nowhere"))


def test_datamodule_gives_float_batches_in_unit_range_and_flips_only_train(workdir):
    prepared = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=64", "data.prepared_dir=p"]))
    datamodule = CelebADataModule(str(prepared), batch_size=4, num_workers=0)
    batch = datamodule.on_after_batch_transfer(next(iter(datamodule.train_dataloader())), 0)
    assert batch.dtype.is_floating_point and batch.shape == (4, 3, 64, 64)
    assert 0 <= batch.min() and batch.max() <= 1
    assert datamodule.dataset("train").flip and not datamodule.dataset("val").flip
    val = datamodule.dataset("val")
    assert all(val[0].equal(val[0]) for _ in range(5))


def test_a_batch_size_of_zero_is_refused(workdir):
    with pytest.raises(UserError, match="batch_size"):
        CelebADataModule("p", batch_size=0, num_workers=0)
