"""Result folders: only face_vae's own files are replaced, temporary files stay inside the target; full and
read-only folders are one sentence before any work."""

import shutil

import pytest
import torch

from face_vae import cli
from tests import faults
from tests.conftest import FAST_TRAIN, error_line

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- only face_vae's own files are replaced, temp files inside the target ---------------------------------


def test_a_folder_of_the_users_files_is_written_beside_never_emptied(workdir):
    cli.run("train", NO_TRACKING)
    mine = workdir / "mine"
    mine.mkdir()
    users = {"face_mom.jpg": b"mom", "notes.txt": b"notes", "attribute_grid.jpg": b"grid of mine"}
    for name, content in users.items():
        (mine / name).write_bytes(content)
    cli.run("infer", ["n=3", f"result_dir={mine}", "tracking.enabled=false"])
    cli.run("infer", ["n=1", f"result_dir={mine}", "tracking.enabled=false"])
    assert {name: (mine / name).read_bytes() for name in users} == users
    assert (mine / "face_0001.jpg").is_file() and not (mine / "face_0002.jpg").exists(), "its own old faces go"
    link = workdir / "link"
    link.symlink_to(mine)
    cli.run("infer", ["n=2", f"result_dir={link}", "tracking.enabled=false"])
    assert {name: (mine / name).read_bytes() for name in users} == users


def test_a_name_taken_by_a_users_file_stops_the_command_and_writes_nothing(workdir, capsys):
    cli.run("train", NO_TRACKING)
    out = workdir / "out"
    out.mkdir()
    (out / "grid.jpg").write_bytes(b"my picture")
    before = sorted(path.name for path in out.iterdir())
    line = error_line(capsys, "infer", ["n=2", "result_dir=out", "tracking.enabled=false"])
    assert "grid.jpg is not a file face_vae wrote" in line and "nothing was written" in line
    assert (out / "grid.jpg").read_bytes() == b"my picture"
    assert sorted(path.name for path in out.iterdir() if not path.name.startswith(".face_vae")) == before
    assert "result_dir=. is the current folder" in error_line(capsys, "infer", ["n=2", "result_dir=."])


def test_a_result_dir_writable_inside_a_read_only_parent_is_written(workdir, monkeypatch):
    cli.run("train", NO_TRACKING)
    parent, result = workdir / "ro", workdir / "ro" / "result"
    result.mkdir(parents=True)
    faults.read_only(monkeypatch, parent, writable=result)
    cli.run("infer", ["n=2", f"result_dir={result}", "tracking.enabled=false"])
    assert (result / "face_0002.jpg").is_file()


# ---- full or read-only folders -------------------------------------------------------------------------


def test_too_little_room_for_the_model_is_said_before_training(workdir, capsys, monkeypatch):
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=2**17))
    line = error_line(capsys, "train", NO_TRACKING)
    assert line.startswith("error: model_file: the disk holding models has 0.1 MB free and the run writes about")
    assert not (workdir / "models" / "vae.pt").exists() and not (workdir / "checkpoints" / "last.ckpt").exists()


def test_a_full_disk_is_said_before_training(workdir, capsys, monkeypatch):
    (workdir / "models").mkdir()
    faults.disk_full(monkeypatch, workdir / "models")
    line = error_line(capsys, "train", NO_TRACKING)
    assert line.startswith("error: The disk holding models is full") and "choose another model_file" in line


def test_a_model_write_that_fails_anyway_is_one_sentence_and_leaves_no_temporary_file(workdir, capsys, monkeypatch):
    save = torch.save

    def full_for_the_model_file(obj, path, *args, **kwargs):
        if ".vae.pt.tmp" in str(path):  # the model file's temporary name; checkpoints still save
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_for_the_model_file)
    line = error_line(capsys, "train", NO_TRACKING)
    assert line.startswith("error: Cannot write models/vae.pt ([enforce fail") and "disk may be full" in line
    assert not list((workdir / "models").iterdir()), "no temporary file is left"


@pytest.mark.parametrize("tracking", ["tracking.enabled=false", "tracking.enabled=true"])
def test_a_read_only_checkpoints_dir_is_one_sentence(workdir, capsys, monkeypatch, tracking):
    faults.read_only(monkeypatch, workdir / "checkpoints")
    line = error_line(capsys, "train", [*FAST_TRAIN, tracking])
    assert line == "error: checkpoints is on a read-only file system: choose another checkpoints_dir.", line
