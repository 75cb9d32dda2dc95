"""Prepared data is checked before it is trained on: a truncated or changed file is prepared again, each recipe
gets its own folder, two prepares at once end consistent, and a stopped prepare leaves nothing behind."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from face_vae.core.config import compose
from face_vae.core.data.face_crops import FaceCrops, read_meta
from face_vae.core.errors import UserError
from face_vae.core.prepare import prepared_data
from tests.conftest import subprocess_env, write_fake_celeba

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- prepared data checked, caches keyed, one folder per recipe -------------------------------------


def test_a_truncated_prepared_file_is_prepared_again_not_trained_on(workdir, caplog):
    caplog.set_level("WARNING", logger="face_vae")
    folder = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    size = (folder / "train.u8").stat().st_size
    os.truncate(folder / "train.u8", 1000)
    with pytest.raises(UserError, match=r"train.u8 has 1,000 bytes, not the .* prepare force=true"):
        FaceCrops(folder, "train")
    again = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    assert again == folder and (folder / "train.u8").stat().st_size == size
    assert "train.u8 has 1,000 bytes" in caplog.text and "preparing it again" in caplog.text


def test_a_prepared_file_changed_in_place_is_noticed(workdir):
    folder = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    with open(folder / "train.u8", "r+b") as file:
        file.write(b"\xff" * 64)
    with pytest.raises(UserError, match="has changed since prepare wrote it"):
        FaceCrops(folder, "train")


def test_each_recipe_gets_its_own_prepared_folder(workdir):
    one = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32", "data.seed=1"]))
    five = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32", "data.seed=5"]))
    assert one != five and one.parent == five.parent == Path("prepared") / "synthetic_32"
    assert read_meta(one)["recipe"]["seed"] == 1 and read_meta(five)["recipe"]["seed"] == 5
    assert (one / "train.u8").read_bytes() != (five / "train.u8").read_bytes()


@pytest.mark.slow
def test_two_prepares_at_once_into_one_folder_both_end_consistent(workdir):
    def prepare(seed: int) -> subprocess.Popen:
        return subprocess.Popen(  # pylint: disable=consider-using-with  # waited for below
            [sys.executable, str(PROJECT_ROOT / "commands.py"), "prepare", "data=synthetic", "data.image_size=32",
             f"data.seed={seed}", "data.num_images.train=2000"],
            cwd=workdir, env=subprocess_env(PROJECT_ROOT), stderr=subprocess.PIPE,
        )  # fmt: skip

    runs = {1: prepare(1), 5: prepare(5)}
    for seed, run in runs.items():
        err = run.communicate(timeout=300)[1].decode()
        assert run.returncode == 0, err[-2000:]
        # The folder each run says it prepared, or found up to date, still holds that run's data when both are done.
        folder = Path(re.findall(r" in (prepared/[^\s(]+?)(?:\.$| \()", err, re.M)[-1])
        assert read_meta(folder)["recipe"]["seed"] == seed, f"seed {seed}'s folder holds another recipe"
        assert len(FaceCrops(folder, "train")) == 2000, "meta.json and the bytes agree"


# ---- a stopped prepare leaves nothing behind ---------------------------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text("utf-8").split()] if path.is_file() else []


def _gone(pids: list[int], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not [pid for pid in pids if Path(f"/proc/{pid}").is_dir() and "Z" not in _state(pid)]:
            return True
        time.sleep(0.2)
    return False


def _state(pid: int) -> str:
    try:
        return next(
            line for line in Path(f"/proc/{pid}/status").read_text("utf-8").splitlines() if line.startswith("State")
        )
    except (OSError, StopIteration):
        return "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker processes from /proc (Linux)")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_prepare_leaves_no_temporary_file_nor_worker(workdir, stop):
    write_fake_celeba(workdir / "celeba", {"train": 3000, "val": 10})
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "prepare", "data.source_dir=celeba"]
    with subprocess.Popen([*command, "data.prepare_workers=2"], cwd=workdir, env=subprocess_env(PROJECT_ROOT),
                          stderr=subprocess.DEVNULL) as run:  # fmt: skip
        deadline = time.monotonic() + 120
        while not list(workdir.glob("prepared/**/.train.u8.tmp*")):
            assert run.poll() is None and time.monotonic() < deadline, "prepare never started writing"
            time.sleep(0.05)
        workers = _children(run.pid)
        run.send_signal(stop)
        run.wait(timeout=60)
    assert workers and _gone(workers), "the decoding processes end with their parent"
    left = list(workdir.glob("prepared/**/.train.u8.tmp*"))
    if stop == signal.SIGTERM:
        assert not left, "a stop removes the temporary file"
    else:  # nothing runs after SIGKILL: the next prepare removes what the dead run left
        assert left
        prepared_data(compose("prepare", ["data.source_dir=celeba"]))
        assert not list(workdir.glob("prepared/**/.train.u8.tmp*"))
