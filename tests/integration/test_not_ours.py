"""Nothing of the user's mixed up: the registry cache serves the version the registry names now, runs record
the model they used, and the smaller faults of the hostile run (each one sentence, or the right result)."""

import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from face_vae import cli
from face_vae.core.models.model_file import save_model
from face_vae.core.models.nets.resnet import VAE
from tests.conftest import FAST_TRAIN, error_line, image_array, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


def _store(folder: Path) -> str:
    return f"sqlite:///{folder}/mlflow.db"


def _infer_params(folder: Path) -> dict[str, str]:
    client = MlflowClient(tracking_uri=_store(folder))
    experiment = client.get_experiment_by_name("infer_VAE")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    return run.data.params


def _command(folder: Path, *words: str) -> None:
    """A command in its own process: MLflow keeps a store's database open in a process, and the store is recreated."""
    env = {**subprocess_env(ROOT), "XDG_CACHE_HOME": str(folder / "cache")}
    done = subprocess.run([sys.executable, str(ROOT / "commands.py"), *words], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_recreated_store_never_gets_the_cached_model_of_the_old_one(workdir):
    _command(workdir, "train", *FAST_TRAIN)
    _command(workdir, "infer", "n=2", "model_file=models:/face_vae/1", "result_dir=first")
    for name in ("mlflow.db", "mlruns", "models", "checkpoints"):
        target = workdir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    _command(workdir, "train", *FAST_TRAIN, "seed=5")  # another model, registered as face_vae/1 of a new store
    _command(workdir, "infer", "n=2", "model_file=models:/face_vae/1", "result_dir=second")
    _command(workdir, "infer", "n=2", "result_dir=local")  # the new model's own file
    faces = {name: (workdir / name / "face_0001.jpg").read_bytes() for name in ("first", "second", "local")}
    assert faces["second"] == faces["local"] != faces["first"]


def test_a_run_records_the_version_an_alias_named_and_not_models_dvc(workdir, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    cli.run("train", FAST_TRAIN)
    cli.run("train", [*FAST_TRAIN, "seed=5"])
    client = MlflowClient(tracking_uri=_store(workdir), registry_uri=_store(workdir))
    client.set_registered_model_alias("face_vae", "champion", "1")
    cli.run("infer", ["n=2", "model_file=models:/face_vae@champion", "result_dir=a"])
    first = _infer_params(workdir)
    client.set_registered_model_alias("face_vae", "champion", "2")
    cli.run("infer", ["n=2", "model_file=models:/face_vae@champion", "result_dir=b"])
    second = _infer_params(workdir)
    assert first["model_version"] == "models:/face_vae/1" and second["model_version"] == "models:/face_vae/2"
    assert first["model_md5"] != second["model_md5"]
    assert "model_dvc_md5" not in first


def test_ctrl_c_while_the_prior_is_fitted_marks_the_run_killed_and_says_one_line(workdir, monkeypatch, capsys):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("face_vae.core.models.priors.GaussianMixture.fit", interrupted)
    with pytest.raises(SystemExit) as stopped:
        cli.run("train", FAST_TRAIN)
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: train stopped by Ctrl-C; nothing")
    client = MlflowClient(tracking_uri=_store(workdir))
    run = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])[0]
    assert run.info.status == "KILLED" and not (workdir / "models" / "vae.pt").exists()


def test_a_finished_run_is_marked_finished_once_its_model_is_logged(workdir):
    cli.run("train", FAST_TRAIN)
    client = MlflowClient(tracking_uri=_store(workdir))
    run = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])[0]
    assert run.info.status == "FINISHED" and run.outputs.model_outputs


class _HealthyButBroken(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name  # http.server's name
        self.send_response(200 if self.path == "/health" else 500)
        self.end_headers()
        self.wfile.write(b"OK" if self.path == "/health" else b'{"error_code": "INTERNAL_ERROR"}')

    do_POST = do_GET

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def broken_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthyButBroken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("command, words", [("train", FAST_TRAIN), ("infer", ["n=2"])])
def test_a_server_whose_api_fails_while_health_answers_is_one_sentence_before_any_work(
    workdir, capsys, broken_server, command, words
):
    if command == "infer":
        save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    line = error_line(capsys, command, [*words, f"tracking.uri={broken_server}"])
    assert "answers /health but its tracking API answered 500" in line
    assert not (workdir / "result").exists() and not (workdir / "checkpoints").exists()


def test_a_plain_infer_works_with_an_unwritable_home_and_cache(workdir, monkeypatch):
    save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    monkeypatch.setenv("HOME", "/proc/no-home")
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-cache")
    cli.run("infer", ["n=2"])
    assert len(list((workdir / "result").glob("face_*.jpg"))) == 2


@pytest.mark.parametrize(
    "command, words, said",
    [
        ("infer", ["seed=99999999999999999999"], "seed must be a whole number from 0 to 4294967295"),
        ("train", ["data=synthetic", "seed=-1"], "seed must be a whole number from 0 to 4294967295"),
        ("infer", ["result_dir="], "result_dir must be a path (not empty)"),
        ("export", ["export_dir= "], "export_dir must be a path (not empty)"),
    ],
)
def test_a_value_out_of_range_is_one_sentence(workdir, capsys, command, words, said):
    assert said in error_line(capsys, command, words)
    assert not any(workdir.iterdir())


def test_a_mistyped_model_file_is_no_model_there_and_not_a_dvc_pull(workdir, capsys):
    (workdir / "models.dvc").write_text("outs:\n- md5: 0123.dir\n  path: models\n")
    line = error_line(capsys, "infer", ["model_file=modles/vae.pt", "tracking.enabled=false"])
    assert line.startswith("error: There is no model at modles/vae.pt: check model_file")


def test_a_16_bit_grey_png_reconstructs_as_its_picture_and_not_white(workdir):
    save_model(VAE(32, [8, 16], 4), workdir / "models" / "vae.pt")
    ramp = np.tile(np.linspace(0, 65535, 64), (64, 1)).astype(np.uint16)
    (workdir / "photos").mkdir()
    Image.fromarray(ramp).save(workdir / "photos" / "grey16.png")
    cli.run("reconstruct", ["input=photos", "tracking.enabled=false"])
    pair = image_array(workdir / "result" / "grey16_reconstruction.jpg")
    original = pair[:, : pair.shape[1] // 2].astype(float)
    assert 100 < original.mean() < 155 and original[:, :4].mean() < 40, "a ramp from black to white, not white"
