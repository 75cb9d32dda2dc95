"""The export is written whole, never over the user's files; its sampler checks what it reads and where it writes."""

import errno
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from face_vae import cli
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from face_vae.core.models.priors import GaussianMixture
from tests.conftest import error_line

HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None
pytestmark = pytest.mark.skipif(not HAS_ONNX, reason="export needs the export extra: poetry install --extras export")
EXPORT = ["tracking.enabled=false", "storage.pull=false"]


@pytest.fixture
def model(workdir: Path) -> Path:
    """A tiny VAE with a fitted 3-component mixture, saved where export reads it by default."""
    torch.manual_seed(0)
    network = VAE(32, [8, 16], 4)
    network.prior = GaussianMixture(components=3, max_codes=20_000).fit(torch.randn(64, 4), seed=0)
    path = workdir / "models" / "vae.pt"
    save_model(network, path)
    return path


def _sampler(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(folder / "sample_faces.py"), *args], cwd=folder.parent, env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_export_refuses_a_folder_holding_the_users_files(model, capsys):
    mine = model.parent.parent / "export"
    mine.mkdir()
    (mine / "sample_faces.py").write_text("# my own script")
    line = error_line(capsys, "export", EXPORT)
    assert "export_dir=export holds files face_vae did not write there (sample_faces.py)" in line
    assert (mine / "sample_faces.py").read_text() == "# my own script"


@pytest.mark.parametrize("where", [".", ".."])
def test_export_refuses_the_current_folder_and_its_parents(model, capsys, where):
    line = error_line(capsys, "export", [*EXPORT, f"export_dir={where}"])
    assert f"export_dir={where} is the current folder or holds it" in line


def test_a_second_export_replaces_the_first_whole_and_a_failed_one_leaves_it_as_it_was(model, capsys, monkeypatch):
    cli.run("export", EXPORT)
    folder = model.parent.parent / "export"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (
        set(manifest["files"]) == {"decoder.onnx", "face_vae_stream.py", "prior.npz", "sample_faces.py"}
        and manifest["latent_dim"] == 4
    )
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    network = VAE(32, [8, 16], 4)  # another model: every file but the script changes
    network.prior = GaussianMixture(components=2, max_codes=20_000).fit(torch.randn(64, 4), seed=1)
    save_model(network, model)

    def full(*_args, **_kwargs):  # the disk fills after the new decoder.onnx is written, at the prior
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr("face_vae.serving.onnx_export.np.savez", full)
        line = error_line(capsys, "export", EXPORT)
    assert "full" in line
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before, "nothing mixed"
    assert [path.name for path in folder.parent.iterdir() if path.name.startswith(".export")] == []
    cli.run("export", EXPORT)
    assert (folder / "prior.npz").read_bytes() != before["prior.npz"]
    assert _sampler(folder, "--n", "2", "--out", "faces").returncode == 0


def test_the_sampler_refuses_a_changed_mismatched_or_non_finite_file_before_drawing(model):
    cli.run("export", EXPORT)
    folder = model.parent.parent / "export"
    prior = dict(np.load(folder / "prior.npz"))
    good = (folder / "prior.npz").read_bytes()

    prior["means"][0, 0] = np.nan
    np.savez(folder / "prior.npz", **prior)
    done = _sampler(folder, "--out", "faces")
    assert done.returncode == 1 and "prior.npz is not the file the export wrote (its checksum differs)" in done.stderr
    assert not (folder.parent / "faces").exists()

    manifest = json.loads((folder / "manifest.json").read_text())  # the checksum made to match: NaN still refused
    from face_vae.serving.sample_faces import sha256

    manifest["files"]["prior.npz"]["sha256"] = sha256(folder / "prior.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = _sampler(folder, "--out", "faces")
    assert done.returncode == 1 and "holds values that are not finite (means" in done.stderr, done.stderr

    prior = dict(np.load(folder / "prior.npz"))
    prior["means"] = np.zeros((3, 5))
    prior["cholesky"] = np.stack([np.eye(5)] * 3)
    prior["latent_dim"] = np.array(5)
    np.savez(folder / "prior.npz", **prior)
    manifest["files"]["prior.npz"]["sha256"] = sha256(folder / "prior.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = _sampler(folder, "--out", "faces")
    assert done.returncode == 1 and "draws codes of [5] numbers but the decoder reads 4" in done.stderr, done.stderr

    (folder / "prior.npz").write_bytes(good)
    manifest["files"]["prior.npz"]["sha256"] = sha256(folder / "prior.npz")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert _sampler(folder, "--out", "faces").returncode == 0


def test_the_sampler_never_replaces_the_users_faces_and_leaves_no_stale_ones(model):
    cli.run("export", EXPORT)
    folder = model.parent.parent / "export"
    out = folder.parent / "faces"
    out.mkdir()
    (out / "face_0002.jpg").write_bytes(b"my photo")
    done = _sampler(folder, "--n", "3", "--out", "faces")
    assert done.returncode == 1 and "face_0002.jpg is not a face this script wrote" in done.stderr
    assert (out / "face_0002.jpg").read_bytes() == b"my photo" and not (out / "face_0001.jpg").exists()
    (out / "face_0002.jpg").unlink()
    assert _sampler(folder, "--n", "5", "--out", "faces").returncode == 0
    assert _sampler(folder, "--n", "2", "--out", "faces").returncode == 0
    assert sorted(path.name for path in out.glob("face_*.jpg")) == ["face_0001.jpg", "face_0002.jpg"]


@pytest.mark.parametrize("args, said", [(["--seed", "-1"], "--seed must be between 0"),
                                        (["--n", "0"], "--n must be between 1")])  # fmt: skip
def test_the_sampler_refuses_bad_arguments_in_one_line(model, args, said):
    cli.run("export", EXPORT)
    done = _sampler(model.parent.parent / "export", *args)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr


def test_the_sampler_says_when_out_cannot_be_written(model):
    cli.run("export", EXPORT)
    (model.parent.parent / "taken").write_text("a file, not a folder")
    done = _sampler(model.parent.parent / "export", "--out", "taken/faces")
    assert done.returncode == 1 and "cannot create the folder taken/faces" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_infer_and_the_exported_sampler_draw_the_same_faces_for_a_seed(model):
    from PIL import Image  # pylint: disable=import-outside-toplevel

    cli.run("export", EXPORT)
    folder = model.parent.parent
    cli.run("infer", [*EXPORT, "n=20", "seed=7", "runtime.precision=32-true", "batch_size=3"])
    assert _sampler(folder / "export", "--n", "20", "--seed", "7", "--out", "faces").returncode == 0
    assert _sampler(folder / "export", "--n", "20", "--seed", "8", "--out", "other").returncode == 0

    def pixels(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path), dtype=np.int16)

    for index in (1, 20):  # infer decodes in batches of 3, the sampler of 16: face i depends on seed and i only
        name = f"face_{index:04d}.jpg"
        assert np.abs(pixels(folder / "result" / name) - pixels(folder / "faces" / name)).max() <= 4
        assert np.abs(pixels(folder / "result" / name) - pixels(folder / "other" / name)).max() > 40


@pytest.mark.skipif(not HAS_ONNX, reason="needs the export extra")
def test_the_export_is_readable_by_others_and_its_prior_is_float32(model):
    cli.run("export", ["tracking.enabled=false"])
    folder = model.parent.parent / "export"
    assert folder.stat().st_mode & 0o777 == 0o777 & ~_umask()  # as mkdir makes a folder: a web server can read it
    with np.load(folder / "prior.npz") as prior:
        assert {str(np.asarray(prior[key]).dtype) for key in ("weights", "means", "cholesky")} == {"float32"}


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
