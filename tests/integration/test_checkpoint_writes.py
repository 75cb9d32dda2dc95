"""Checkpoints are written in their own folder under a temporary name and renamed: a full disk while one is written
keeps the previous one whole, and a full system temporary folder does not matter."""

import errno
import tempfile
from pathlib import Path

import pytest
import torch

from face_vae import cli
from face_vae.callbacks.checkpoints import ReplacingCheckpointIO
from face_vae.core.errors import UserError
from face_vae.stages.run_folder import read_checkpoint
from tests.conftest import FAST_TRAIN
from tests.faults import disk_full

NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


def test_a_checkpoint_cut_short_by_a_full_disk_keeps_the_previous_one(tmp_path, monkeypatch):
    writer, last = ReplacingCheckpointIO(), tmp_path / "last.ckpt"
    writer.save_checkpoint({"state_dict": {"w": torch.ones(4)}, "epoch": 1}, last)
    real_save = torch.save

    def full_halfway(checkpoint, path, *args, **kwargs):
        real_save(checkpoint, path, *args, **kwargs)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # what the disk took before it was full
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_halfway)
    with pytest.raises(UserError, match="the disk may be full; free some space and resume with resume=true"):
        writer.save_checkpoint({"state_dict": {"w": torch.zeros(4)}, "epoch": 2}, last)
    assert read_checkpoint(last)["epoch"] == 1
    assert [path.name for path in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind


def test_a_full_system_temporary_folder_does_not_stop_the_checkpoints(workdir, monkeypatch):
    system_tmp = workdir / "system_tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    disk_full(monkeypatch, system_tmp)
    cli.run("train", [*NO_TRACKING, "model_file=models/smoke.pt"])
    assert read_checkpoint(workdir / "checkpoints" / "last.ckpt")["global_step"] == 4  # the first epoch's 4 steps
    assert not list(system_tmp.iterdir())


def test_a_full_disk_while_training_is_one_line_and_the_last_checkpoint_stays(workdir, monkeypatch, capsys):
    real_save, saves = torch.save, []

    def full_on_the_third(checkpoint, path, *args, **kwargs):
        saves.append(path)
        if len(saves) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(checkpoint, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_on_the_third)
    with pytest.raises(SystemExit):
        cli.run("train", [*NO_TRACKING, "trainer.max_epochs=2", "model_file=models/smoke.pt"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: Cannot write" in err and "No space left on device" in err, err[-2000:]
    assert read_checkpoint(workdir / "checkpoints" / "last.ckpt")["global_step"] == 4  # the first epoch's 4 steps
