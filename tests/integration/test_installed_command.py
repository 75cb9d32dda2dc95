"""`pip install` of the built wheel gives a `face-vae` command that works from any folder, with its configs."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout (pip, the build backend from pyproject), installed without its
    dependencies (they are this environment's) into a folder of its own."""
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    wheel = next(folder.glob("face_vae-*.whl"))
    target = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    return target


def _face_vae(installed: Path, cwd: Path, *words: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(installed), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([str(installed / "bin" / "face-vae"), *words], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def test_the_wheel_holds_the_configs_and_the_entry_point(installed):
    wheel = next(installed.parent.glob("face_vae-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(name for name in names if name.endswith("entry_points.txt"))).decode()
    assert {"face_vae/configs/callbacks/default.yaml", "face_vae/configs/trainer/gpu.yaml"} <= names
    assert "face-vae=face_vae.cli:main" in entry_points.replace(" ", "")


def test_face_vae_answers_help_from_another_folder_with_the_installed_package(installed, tmp_path):
    listing = _face_vae(installed, tmp_path, "--help")
    shown = listing.stdout + listing.stderr  # fire pages its listing to stderr when not in a terminal
    assert listing.returncode == 0 and "face-vae COMMAND" in shown and "train_classifier" in shown, shown
    infer = _face_vae(installed, tmp_path, "infer", "--help")
    assert infer.returncode == 0 and infer.stdout.startswith("Usage: face-vae infer [KEY=VALUE ...]"), infer.stderr
    where = subprocess.run([sys.executable, "-c", "import face_vae; print(face_vae.__file__)"], cwd=tmp_path,
                           env={"PYTHONPATH": str(installed)}, capture_output=True, text=True, check=True)  # fmt: skip
    assert where.stdout.startswith(str(installed)), "the installed package, not the checkout"
    assert not any(tmp_path.iterdir()), "help wrote nothing"


def test_face_vae_runs_a_command_relative_to_the_current_folder(installed, tmp_path):
    done = _face_vae(installed, tmp_path, "infer", "n=2", "tracking.enabled=false", "storage.pull=false")
    assert done.returncode == 1 and "models/vae.pt is missing and storage.pull=false" in done.stderr, done.stderr
