"""Reading CelebA's official partition file and finding its image folder."""

import pytest

from face_vae.core.data.celeba import find_images_dir, read_partition
from face_vae.core.errors import UserError


def test_partition_is_read_into_the_official_splits_with_crlf_lines(tmp_path):
    path = tmp_path / "list_eval_partition.txt"
    path.write_text("000001.jpg 0\r\n000002.jpg 1\r\n000003.jpg 2\r\n000004.jpg 0\r\n", newline="")
    assert read_partition(path) == {
        "train": ["000001.jpg", "000004.jpg"],
        "val": ["000002.jpg"],
        "test": ["000003.jpg"],
    }


def test_a_malformed_partition_line_is_named(tmp_path):
    path = tmp_path / "list_eval_partition.txt"
    path.write_text("000001.jpg 0\n000002.jpg 7\n")
    with pytest.raises(UserError, match="Line 2"):
        read_partition(path)


def test_a_missing_partition_file_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="partition file .* is missing"):
        read_partition(tmp_path / "list_eval_partition.txt")


def test_image_folder_is_the_official_name_or_images(tmp_path):
    (tmp_path / "images").mkdir()
    assert find_images_dir(tmp_path, None) == tmp_path / "images"
    (tmp_path / "img_align_celeba").mkdir()
    assert find_images_dir(tmp_path, None) == tmp_path / "img_align_celeba"
    with pytest.raises(UserError, match="No image folder"):
        find_images_dir(tmp_path, "elsewhere")
