"""With tracking off and nothing for DVC to do, `train` and `infer` never import MLflow or DVC (over a second of
imports each): the extras load only for the runs that use them."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import FAST_TRAIN, subprocess_env

PROJECT = Path(__file__).resolve().parents[2]
REPORT = """
import atexit, sys
atexit.register(lambda: print("loaded:", *sorted(name for name in ("mlflow", "dvc") if name in sys.modules)))
sys.argv = ["commands.py", *sys.argv[1:]]
from face_vae.cli import main
main()
"""


def _loaded(workdir, *words: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", REPORT, *words], cwd=workdir, env=subprocess_env(PROJECT), capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_train_and_infer_without_tracking_import_neither_mlflow_nor_dvc(workdir):
    assert _loaded(workdir, "train", *FAST_TRAIN, "tracking.enabled=false") == "loaded:"
    assert _loaded(workdir, "infer", "n=2", "tracking.enabled=false") == "loaded:"


def test_the_check_sees_mlflow_when_a_run_logs_to_it(workdir):
    """The control: the same report names MLflow when tracking is on."""
    assert "mlflow" in _loaded(workdir, "train", *FAST_TRAIN, f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}")
