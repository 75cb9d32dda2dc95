"""The files behind the run locks: never written through a folder or a link another user planted, and never holding
a password the command line carried."""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from face_vae import locks
from face_vae.core.errors import UserError


def test_a_planted_fallback_lock_folder_is_refused_and_nothing_is_written_through_it(tmp_path, monkeypatch):
    home_file = tmp_path / "not_a_folder"
    home_file.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home_file))  # ~/.cache cannot be written
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    planted = tmp_path / f"face_vae-locks-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)  # made first by another user, open to all
    victim = tmp_path / "victim.tex"
    victim.write_text("\\documentclass{article}\n", encoding="utf-8")
    model = tmp_path / "models" / "vae.pt"
    name = hashlib.sha1(str(model.resolve()).encode()).hexdigest()[:16]
    (planted / f"{name}.json").symlink_to(victim)
    with pytest.raises(UserError, match="is not a folder of this user's that only this user may write"):
        with locks.holding({"model_file": model}):
            pass
    assert victim.read_text(encoding="utf-8") == "\\documentclass{article}\n"


def test_a_lock_holder_file_does_not_keep_a_password(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("sys.argv", ["commands.py", "train", "tracking.uri=http://user:s3cretPW@host:5000"])
    model = tmp_path / "vae.pt"
    with locks.holding({"model_file": model}):
        holder = json.loads(locks._holder_file(model).read_text())  # pylint: disable=protected-access
    assert "s3cretPW" not in holder["command"] and "http://***@host:5000" in holder["command"]


def test_the_users_own_fallback_folder_is_used(tmp_path, monkeypatch):
    home_file = tmp_path / "not_a_folder"
    home_file.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home_file))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert locks.lock_dir() == Path(tmp_path) / f"face_vae-locks-{os.getuid()}"
    assert (locks.lock_dir().stat().st_mode & 0o777) == 0o700
